"""The payment core end to end against the sandbox channels over real HTTP (both channels).

A fake business kind stands in for registration/outpatient/deposit so the core is tested alone.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
import requests
from sqlalchemy import select, update

from app import clock
from app.extensions import db
from app.his.errors import HisUnavailable, SlotFull
from app.models import ChannelNotification, PaymentOrder, Refund, StateTransition
from app.models.base import utcnow
from app.payments import commands as payments
from app.services.errors import Conflict
from tests import factories
from tests.factories import wait_for
from tests.helpers.payments import wipe_sandbox


def _order(app, order_no: str) -> PaymentOrder:
    with app.app_context():
        order = db.session.scalar(select(PaymentOrder).where(PaymentOrder.order_no == order_no))
        db.session.expunge(order)
        return order


def _transitions(app, order_id: int, order_type: str = "payment") -> list[tuple[str, str]]:
    with app.app_context():
        rows = db.session.scalars(select(StateTransition).where(StateTransition.order_type == order_type,
                                                                StateTransition.order_id == order_id)
                                  .order_by(StateTransition.id))
        return [(r.from_status, r.to_status) for r in rows]


@pytest.mark.parametrize("channel", ["wechat", "alipay"])
def test_pay_in_the_sandbox_cashier_confirms_to_the_his(app, sandbox, paying, kind, channel):
    order_no = paying(channel)
    result = sandbox.confirm_payment(channel, order_no)
    assert result.delivered
    order = _order(app, order_no)
    assert order.status == "confirmed" and order.channel_trade_no and order.his_receipt_no
    assert order.guidance == "请到二楼西药房取药"
    assert _transitions(app, order.id) == [("-", "created"), ("created", "paying"), ("paying", "paid"),
                                           ("paid", "confirmed")]
    assert ("confirmed", order_no) in kind.calls


@pytest.mark.parametrize("channel", ["wechat", "alipay"])
def test_duplicate_and_replayed_notifications_change_state_once(app, sandbox, paying, channel):
    order_no = paying(channel)
    first = sandbox.confirm_payment(channel, order_no)
    before = _transitions(app, _order(app, order_no).id)
    for _ in range(2):
        assert sandbox.redeliver(first.notification_id).delivered  # answered OK: no endless retries
    assert _transitions(app, _order(app, order_no).id) == before
    with app.app_context():
        outcomes = db.session.scalars(select(ChannelNotification.outcome).where(
            ChannelNotification.order_no == order_no, ChannelNotification.kind == "payment")).all()
    assert outcomes == ["applied"]


def _tampered_delivery(app, sandbox, channel, order_no, mutate_body=None, mutate_headers=None):
    (note,) = [n for n in sandbox.notifications(order_no) if n.get("kind", "payment") == "payment"][:1]
    url, headers, body = sandbox.signed_request(note["id"])
    url = app.config["SANDBOX_BASE_URL"].rsplit("/sandbox", 1)[0] + "/notify/" + url.rsplit("/notify/", 1)[1]
    if mutate_body:
        body = mutate_body(body)
    if mutate_headers:
        headers = mutate_headers(dict(headers))
    return requests.post(url, data=body, headers=headers, timeout=10)


def _stop_notifications(app, monkeypatch):
    """Make the sandbox's own deliveries fail (notify URL unreachable) so the test controls delivery."""
    monkeypatch.setitem(app.config, "PUBLIC_BASE_URL", "http://127.0.0.1:9")


@pytest.mark.parametrize("channel", ["wechat", "alipay"])
def test_forged_signature_is_rejected_and_changes_nothing(app, sandbox, paying, monkeypatch, channel):
    _stop_notifications(app, monkeypatch)
    order_no = paying(channel)
    sandbox.confirm_payment(channel, order_no)
    monkeypatch.setitem(app.config, "PUBLIC_BASE_URL", app.config["SANDBOX_BASE_URL"].rsplit("/sandbox", 1)[0])

    if channel == "wechat":
        response = _tampered_delivery(app, sandbox, channel, order_no,
                                      mutate_headers=lambda h: dict(h, **{"Wechatpay-Signature": "Zm9yZ2Vk" * 43}))
    else:
        response = _tampered_delivery(app, sandbox, channel, order_no,
                                      mutate_body=lambda b: b.replace(b"total_amount=23.50", b"total_amount=0.01"))
    assert 400 <= response.status_code < 500
    assert _order(app, order_no).status == "paying"
    with app.app_context():
        assert db.session.scalar(select(ChannelNotification.outcome).where(
            ChannelNotification.channel == channel).order_by(ChannelNotification.id.desc())).startswith("rejected")


@pytest.mark.parametrize("channel", ["wechat", "alipay"])
def test_wrong_amount_is_rejected(app, sandbox, paying, monkeypatch, channel):
    _stop_notifications(app, monkeypatch)
    order_no = paying(channel)
    sandbox.confirm_payment(channel, order_no)
    monkeypatch.setitem(app.config, "PUBLIC_BASE_URL", app.config["SANDBOX_BASE_URL"].rsplit("/sandbox", 1)[0])
    with app.app_context():  # our order says 1 fen more than the channel took
        db.session.execute(update(PaymentOrder).where(PaymentOrder.order_no == order_no).values(amount_fen=2351))
        db.session.commit()
    response = _tampered_delivery(app, sandbox, channel, order_no)
    assert 400 <= response.status_code < 500
    assert _order(app, order_no).status == "paying"


def test_unknown_order_is_rejected(app, sandbox, paying, monkeypatch):
    _stop_notifications(app, monkeypatch)
    order_no = paying("wechat")
    sandbox.confirm_payment("wechat", order_no)
    monkeypatch.setitem(app.config, "PUBLIC_BASE_URL", app.config["SANDBOX_BASE_URL"].rsplit("/sandbox", 1)[0])
    with app.app_context():
        db.session.execute(update(PaymentOrder).where(PaymentOrder.order_no == order_no)
                           .values(order_no="GH00000000000000000000"))
        db.session.commit()
    response = _tampered_delivery(app, sandbox, "wechat", order_no)
    assert response.status_code == 400
    assert _order(app, "GH00000000000000000000").status == "paying"


@pytest.mark.parametrize("body,ctype", [(b"{not json", "application/json"), (b"{}", "text/plain"),
                                        (b"x" * (65 * 1024), "application/json"), (b"", "application/json")])
def test_malformed_envelopes_get_a_wechat_style_4xx(client, live_server, body, ctype):
    response = client.post("/notify/wechatpay", data=body, headers={"Content-Type": ctype})
    assert 400 <= response.status_code < 500
    assert response.get_json()["code"] == "FAIL"


def test_malformed_alipay_body_gets_fail(client, live_server):
    response = client.post("/notify/alipay", data="sign=abc&out_trade_no=1",
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code >= 400 and response.get_data(as_text=True) == "fail"


def test_patient_returning_before_the_notification_sees_the_channels_truth(app, sandbox, paying, monkeypatch):
    _stop_notifications(app, monkeypatch)
    order_no = paying("wechat")
    sandbox.confirm_payment("wechat", order_no)  # paid at the channel, notification lost
    assert _order(app, order_no).status == "paying"
    order = _order(app, order_no)
    with app.app_context():
        refreshed = payments.refresh_from_channel(order_no, order.owner_id)
        assert refreshed.status == "confirmed"


def test_unpaid_orders_close_at_the_deadline_here_and_at_the_channel(app, paying, kind):
    order_no = paying("wechat")
    with app.app_context():
        db.session.execute(update(PaymentOrder).where(PaymentOrder.order_no == order_no)
                           .values(expires_at=utcnow() - dt.timedelta(seconds=1)))
        db.session.commit()
        assert payments.close_expired() == 1
        assert payments.channels()["wechat"].query_payment(order_no).state == "closed"
    assert _order(app, order_no).status == "closed"
    assert ("closed", order_no) in kind.calls


def test_money_after_close_is_recorded_flagged_and_refunded(app, sandbox, paying, kind):
    order_no = paying("alipay")
    order = _order(app, order_no)
    with app.app_context():  # closed on our side only (e.g. the channel close call was lost)
        from app.services import states

        states.move("payment", order.id, "paying", "closed", actor="test", reason="deadline")
        db.session.commit()
    sandbox.confirm_payment("alipay", order_no)
    order = _order(app, order_no)
    assert order.flag == "paid_after_close"
    assert ("closed", "paid") in _transitions(app, order.id)
    refunded = wait_for(lambda: _order(app, order_no).status == "refunded", timeout=15)
    assert refunded, _order(app, order_no).status


def test_his_unavailable_retries_with_backoff_then_refunds(app, sandbox, paying, kind):
    kind.confirm_error = HisUnavailable("timeout")
    order_no = paying("wechat")
    sandbox.confirm_payment("wechat", order_no)
    order = _order(app, order_no)
    assert order.status == "paid" and order.his_attempts == 1 and order.next_his_attempt_at > utcnow()
    with app.app_context():
        for _ in range(len(payments.CONFIRM_BACKOFF)):
            db.session.execute(update(PaymentOrder).where(PaymentOrder.order_no == order_no)
                               .values(next_his_attempt_at=utcnow()))
            db.session.commit()
            payments.sweep_confirmations()
    order = _order(app, order_no)
    assert order.status in ("refunding", "refunded")
    assert ("confirm_failed", order_no) in kind.calls
    assert wait_for(lambda: _order(app, order_no).status == "refunded", timeout=15)


def test_his_refusal_refunds_at_once(app, sandbox, paying, kind):
    kind.confirm_error = SlotFull("号源已满")
    order_no = paying("wechat")
    sandbox.confirm_payment("wechat", order_no)
    assert wait_for(lambda: _order(app, order_no).status == "refunded", timeout=15)
    with app.app_context():
        (refund,) = db.session.scalars(select(Refund).join(PaymentOrder).where(PaymentOrder.order_no == order_no))
        assert refund.status == "success" and refund.amount_fen == 2350
    assert ("refunded", order_no) in kind.calls


@pytest.mark.parametrize("channel", ["wechat", "alipay"])
def test_partial_refunds_add_up_and_never_exceed_what_was_paid(app, sandbox, paying, channel):
    order_no = paying(channel, amount_fen=10000)
    sandbox.confirm_payment(channel, order_no)
    with app.app_context():
        payments.staff_refund(order_no, 3000, "部分退药", "finance")
        payments.staff_refund(order_no, 5000, "部分退检查", "finance")
        with pytest.raises(Conflict):
            payments.staff_refund(order_no, 2001, "超额", "finance")
    assert wait_for(lambda: _order(app, order_no).status == "partially_refunded", timeout=15)
    order = _order(app, order_no)
    assert order.refunded_fen == 8000
    with app.app_context():
        assert payments.channels()[channel].query_payment(order_no).state in ("paid", "refunded")
        payments.staff_refund(order_no, 2000, "余额", "finance")
    assert wait_for(lambda: _order(app, order_no).status == "refunded", timeout=15)


def test_refund_request_is_idempotent_on_its_key(app, sandbox, paying):
    order_no = paying("wechat", amount_fen=5000)
    sandbox.confirm_payment("wechat", order_no)
    with app.app_context():
        order = db.session.scalar(select(PaymentOrder).where(PaymentOrder.order_no == order_no))
        first = payments.request_refund(order, 1000, "HIS", requested_by="his", request_key="HIS-R-1")
        again = payments.request_refund(order, 1000, "HIS", requested_by="his", request_key="HIS-R-1")
        db.session.commit()
        assert first.id == again.id
        assert db.session.get(PaymentOrder, order.id).refunded_fen == 1000


def test_reconciliation_reports_exactly_the_seeded_discrepancies(app, sandbox, paying):
    wipe_sandbox(sandbox)
    orders = [paying("wechat", amount_fen=1000 + i) for i in range(4)]
    for order_no in orders:
        sandbox.confirm_payment("wechat", order_no)
    today = clock.today()
    with app.app_context():
        # seed discrepancies: one local amount changed, one local order lost, one local-only payment
        db.session.execute(update(PaymentOrder).where(PaymentOrder.order_no == orders[0]).values(amount_fen=999))
        db.session.execute(update(PaymentOrder).where(PaymentOrder.order_no == orders[1])
                           .values(order_no="MZ-LOST-LOCALLY", channel_trade_no=None))
        db.session.execute(update(PaymentOrder).where(PaymentOrder.order_no == "MZ-LOST-LOCALLY")
                           .values(channel="alipay"))
        ghost = db.session.scalar(select(PaymentOrder).where(PaymentOrder.order_no == orders[2]))
        factories.payment_order(ghost.patient, status="confirmed", amount_fen=777, order_no="MZ-ONLY-LOCAL-0001",
                                channel="wechat", channel_trade_no="T-LOCAL-ONLY")
        db.session.commit()
        from app.reconciliation.runs import reconcile

        run = reconcile("wechat", today)
        # the channel's side; the HIS's (it never heard of these fake confirmations) is tested in test_money_cases
        found = sorted((i.kind, i.order_no) for i in run_items(run) if i.source == "channel")
    assert found == sorted([("amount_mismatch", orders[0]), ("channel_only", orders[1]),
                            ("local_only", "MZ-ONLY-LOCAL-0001")])
    assert run.status == "done"


def run_items(run):
    from app.models import ReconciliationItem

    return db.session.scalars(select(ReconciliationItem).where(ReconciliationItem.run_id == run.id)).all()


def test_raw_channel_data_is_kept_beside_the_payment(app, sandbox, paying):
    order_no = paying("wechat")
    sandbox.confirm_payment("wechat", order_no)
    raw = json.loads(_order(app, order_no).raw_notification)
    assert raw["resource"]["out_trade_no"] == order_no and raw["resource"]["amount"]["total"] == 2350


def test_a_confirmed_payment_offers_the_active_survey_once(app, sandbox, paying, monkeypatch):
    from app.models import Notification, Survey

    with app.app_context():
        db.session.add(Survey(title="门诊就诊满意度调查", trigger="visit", is_active=True))
        db.session.commit()
    order_no = paying("wechat")
    sandbox.confirm_payment("wechat", order_no)
    with app.app_context():
        offered = db.session.scalars(select(Notification).where(Notification.kind == "survey")).all()
        assert len(offered) == 1 and order_no in offered[0].link
        payments.confirm_payment(order_no)  # a second confirmation attempt offers nothing more
        assert db.session.query(Notification).filter_by(kind="survey").count() == 1
