"""Issue 14, "money never lost, never paid twice": each of the five ways money moved wrongly, reproduced
first (each test failed before its fix), on SQLite and on MariaDB."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select, update

from app.extensions import db
from app.models import AuditLog, ChannelNotification, ChannelUser, HisCheck, OutboxTask, Patient, PaymentOrder, Refund
from app.models.base import utcnow
from app.payments import commands as payments
from app.registration import commands as registration
from app.services.errors import Conflict
from tests import factories
from tests.factories import wait_for
from tests.helpers.bills import account, load, login, open_and_pay, pay_in_sandbox, post_pay
from tests.money_helpers import CARD, ONE_UNIT, OTHER, at_once, his_post, paid_bill, refunded_total

REFUNDS = "/api/his/v1/refunds"


# -- 1. concurrent HIS item refunds pay out one item once ---------------------------------------------

def test_ten_concurrent_his_refunds_of_one_unit_pay_it_out_once(app, client, his, sandbox, live_server):
    """Ten requests with different numbers, each for the single unit of one 9.80-yuan item, at once."""
    paid = paid_bill(app, client, his, sandbox)
    payload = {"bill_no": paid["bill"].bill_no, "items": [{"item_seq": 1, "quantity": 1}], "reason": "退药"}

    answers = at_once(10, lambda i: his_post(app, live_server, REFUNDS, dict(payload, request_no=f"RACE-{i}")))

    codes = sorted(a.status_code if hasattr(a, "status_code") else repr(a) for a in answers)
    assert codes == [201] + [409] * 9, codes
    assert {a.json()["code"] for a in answers if a.status_code == 409} == {"exceeds_paid"}
    assert refunded_total(app, paid["order_no"]) == ONE_UNIT.amount_fen
    with app.app_context():
        order = db.session.scalar(select(PaymentOrder).where(PaymentOrder.order_no == paid["order_no"]))
        assert order.refunded_fen == ONE_UNIT.amount_fen
        assert len(db.session.scalars(select(Refund).where(Refund.payment_id == order.id)).all()) == 1


# -- 3. a refund success is never lost: WeChat's ABNORMAL is not final ----------------------------------

def _refund_of(app, order_no: str) -> Refund:
    with app.app_context():
        refund = db.session.scalar(select(Refund).join(PaymentOrder).where(PaymentOrder.order_no == order_no)
                                   .order_by(Refund.id.desc()))
        db.session.expunge(refund)
        return refund


def test_an_abnormal_refund_stays_reserved_and_its_late_success_is_applied(app, held, paying):
    sandbox = held
    order_no = paying("wechat", amount_fen=2350)
    sandbox.confirm_payment("wechat", order_no)
    with app.app_context():
        payments.staff_refund(order_no, 2350, "患者要求退款", "finance")
    refund = _refund_of(app, order_no)
    assert refund.status == "processing"

    assert sandbox.refund_abnormal(refund.refund_no)  # REFUND.ABNORMAL delivered: the card was cancelled
    refund, order = _refund_of(app, order_no), load(app, order_no)
    assert refund.status == "abnormal", refund.status          # not final: nothing released
    assert order.refunded_fen == 2350 and order.status == "refunding"
    assert order.flag == "refund_abnormal"                       # finance sees it needs handling

    assert sandbox.refund_abnormal_resolved(refund.refund_no)  # the merchant re-sent it: REFUND.SUCCESS
    refund, order = _refund_of(app, order_no), load(app, order_no)
    assert refund.status == "success" and refund.succeeded_at is not None
    assert order.status == "refunded" and order.refunded_fen == 2350


def test_the_sweep_requeries_an_abnormal_refund_when_its_success_notice_is_lost(app, held, paying):
    sandbox = held
    order_no = paying("wechat", amount_fen=1200)
    sandbox.confirm_payment("wechat", order_no)
    with app.app_context():
        payments.staff_refund(order_no, 1200, "患者要求退款", "finance")
    refund = _refund_of(app, order_no)
    sandbox.refund_abnormal(refund.refund_no)
    assert _refund_of(app, order_no).status == "abnormal"
    sandbox.refund_abnormal_resolved(refund.refund_no, deliver=False)  # the SUCCESS notice never arrives
    with app.app_context():
        payments.sweep_refunds(older_than_s=0)
    assert _refund_of(app, order_no).status == "success"
    assert load(app, order_no).status == "refunded"


def test_his_refund_status_says_processing_while_abnormal(app, client, his, held, live_server):
    sandbox = held
    paid = paid_bill(app, client, his, sandbox)
    response = his_post(app, live_server, REFUNDS, {"request_no": "ABN-1", "bill_no": paid["bill"].bill_no,
                                                      "items": [{"item_seq": 1, "quantity": 1}]})
    assert response.status_code == 201
    sandbox.refund_abnormal(response.json()["data"]["refund_no"])
    status = factories.his_signed_get(app, client, f"{REFUNDS}/ABN-1").get_json()["data"]
    assert status["status"] == "processing"   # never "failed": the window must not refund again
    # and the unit stays taken: a second request for it is refused
    again = his_post(app, live_server, REFUNDS, {"request_no": "ABN-2", "bill_no": paid["bill"].bill_no,
                                                   "items": [{"item_seq": 1, "quantity": 1}]})
    assert again.status_code == 409


def test_a_refund_closed_by_the_channel_gives_its_units_back_and_a_resend_takes_them_again(
        app, client, his, held, live_server):
    sandbox = held
    paid = paid_bill(app, client, his, sandbox)
    unit = {"bill_no": paid["bill"].bill_no, "items": [{"item_seq": 1, "quantity": 1}]}
    first = his_post(app, live_server, REFUNDS, dict(unit, request_no="CLS-1")).json()["data"]
    sandbox.refund_abnormal(first["refund_no"])
    sandbox.refund_abnormal_resolved(first["refund_no"], status="CLOSED")  # the channel's final "no"
    assert _refund_of(app, paid["order_no"]).status == "failed"
    assert load(app, paid["order_no"]).refunded_fen == 0
    with app.app_context():  # trying it again: a closed refund number is final, so a new refund carries it
        again = payments.retry_refund(first["refund_no"], "staff:finance")
        assert again.refund_no != first["refund_no"] and again.status == "processing"
        again_no = again.refund_no
    assert load(app, paid["order_no"]).refunded_fen == ONE_UNIT.amount_fen
    assert his_post(app, live_server, REFUNDS, dict(unit, request_no="CLS-2")).status_code == 409
    sandbox.refund_abnormal(again_no)
    sandbox.refund_abnormal_resolved(again_no, status="CLOSED")  # closed again: the unit is free again
    assert his_post(app, live_server, REFUNDS, dict(unit, request_no="CLS-3")).status_code == 201
    with app.app_context():  # and the failed one can no longer be tried: its unit is taken
        with pytest.raises(Conflict):
            payments.retry_refund(again_no, "staff:finance")
    assert refunded_total(app, paid["order_no"]) == ONE_UNIT.amount_fen


@pytest.mark.parametrize("answer", ["no such trade", "unreachable"])
def test_a_retry_the_channel_refuses_to_look_up_says_what_it_answered(app, sandbox, paying, monkeypatch, answer):
    """重试 on a failed refund asks the channel first. When the channel answered that it has no such trade,
    finance read 支付渠道暂时不可用，请稍后再试 and tried again and again; that is for a channel that did not answer."""
    from app.channels import ChannelError, ChannelUnavailable
    from app.services.errors import DomainError

    order_no = paying("alipay", amount_fen=3000)
    sandbox.confirm_payment("alipay", order_no)
    with app.app_context():
        adapter = payments.channels()["alipay"]
        real = adapter.refund
        monkeypatch.setattr(adapter, "refund", lambda *a, **k: (_ for _ in ()).throw(ChannelError("SYSTEM_ERROR", "x")))
        payments.staff_refund(order_no, 3000, "退号", "finance")
        monkeypatch.setattr(adapter, "refund", real)
        refund = _refund_of(app, order_no)
        assert refund.status == "failed"
        error = (ChannelError("ACQ.TRADE_NOT_EXIST", "交易不存在") if answer == "no such trade"
                 else ChannelUnavailable("timeout", "no answer"))
        monkeypatch.setattr(adapter, "query_refund", lambda *a, **k: (_ for _ in ()).throw(error))
        with pytest.raises(DomainError) as refused:
            payments.retry_refund(refund.refund_no, "staff:finance")
    if answer == "no such trade":
        assert "交易不存在" in refused.value.message and "ACQ.TRADE_NOT_EXIST" in refused.value.message
        assert "暂时不可用" not in refused.value.message and refused.value.status == 409
    else:
        assert "暂时不可用" in refused.value.message and refused.value.status == 503
    assert _refund_of(app, order_no).status == "failed" and load(app, order_no).refunded_fen == 0


def test_a_refund_the_channel_never_received_is_sent_again_under_its_own_number(app, sandbox, paying, monkeypatch):
    from app.channels import ChannelError

    order_no = paying("wechat", amount_fen=3000)
    sandbox.confirm_payment("wechat", order_no)
    with app.app_context():
        adapter = payments.channels()["wechat"]
        real = adapter.refund
        monkeypatch.setattr(adapter, "refund", lambda *a, **k: (_ for _ in ()).throw(ChannelError("SYSTEM_ERROR", "x")))
        payments.staff_refund(order_no, 3000, "退号", "finance")
        refund = _refund_of(app, order_no)
        assert refund.status == "failed" and load(app, order_no).refunded_fen == 0  # never received: released
        monkeypatch.setattr(adapter, "refund", real)
        again = payments.retry_refund(refund.refund_no, "staff:finance")
        assert again.refund_no == refund.refund_no
    assert wait_for(lambda: _refund_of(app, order_no).status == "success", timeout=15)
    assert load(app, order_no).status == "refunded"


# -- 4. a paid notification for a ``created`` order is recorded, and the close sweep asks first ------------

@pytest.fixture()
def opened_unseen(app, paying, sandbox):
    """A factory: an order opened at the channel's cashier while our side still says ``created`` (the
    page's request died between the channel's answer and our commit), then paid there. ``quiet`` loses
    its notice."""

    def make(channel: str = "wechat", amount_fen: int = 1800, quiet: bool = False) -> str:
        order_no = paying(channel, amount_fen, recorded=False, quiet=quiet)
        assert load(app, order_no).status == "created"
        sandbox.confirm_payment(channel, order_no)
        return order_no

    return make


@pytest.mark.parametrize("channel", ["wechat", "alipay"])
def test_a_paid_notification_for_a_created_order_is_recorded_not_dropped(app, opened_unseen, channel):
    order_no = opened_unseen(channel)
    order = load(app, order_no)
    assert order.status == "confirmed" and order.channel_trade_no, order.status
    with app.app_context():
        outcomes = db.session.scalars(select(ChannelNotification.outcome).where(
            ChannelNotification.order_no == order_no, ChannelNotification.kind == "payment")).all()
    assert outcomes[0] == "applied"


def test_the_close_sweep_asks_the_channel_before_closing_a_created_order(app, opened_unseen):
    order_no = opened_unseen("wechat", quiet=True)  # paid at the channel, its notice never arrived
    assert load(app, order_no).status == "created"
    with app.app_context():
        db.session.execute(update(PaymentOrder).where(PaymentOrder.order_no == order_no)
                           .values(expires_at=utcnow() - dt.timedelta(seconds=1)))
        db.session.commit()
        assert payments.close_expired() == 0
    order = load(app, order_no)
    assert order.status == "confirmed" and order.channel_trade_no, order.status  # recorded, not closed


def test_the_close_sweep_closes_a_never_opened_created_order(app, paying, kind):
    with app.app_context():
        order = factories.payment_order(factories.patient(factories.channel_user("wechat")), status="created",
                                        amount_fen=500, business_ref="B1",
                                        expires_at=utcnow() - dt.timedelta(seconds=1))
        db.session.commit()
        assert payments.close_expired() == 1
        assert db.session.get(PaymentOrder, order.id).status == "closed"


# -- 2. the HIS applied the payment, its answer was lost: never refunded on a guess -------------------------

def _retry_until_the_last_attempt(app, order_no: str) -> None:
    """Run the confirmation sweep through every backoff step (as the clock would)."""
    with app.app_context():
        for _ in range(len(payments.CONFIRM_BACKOFF) + 1):
            if db.session.scalar(select(PaymentOrder.status).where(PaymentOrder.order_no == order_no)) != "paid":
                break
            db.session.execute(update(PaymentOrder).where(PaymentOrder.order_no == order_no)
                               .values(next_his_attempt_at=utcnow() - dt.timedelta(seconds=1)))
            db.session.commit()
            payments.sweep_confirmations()


def _checks(app, order_no: str) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(HisCheck.answer).join(PaymentOrder)
                                       .where(PaymentOrder.order_no == order_no).order_by(HisCheck.id)))


def test_a_bill_the_his_settled_whose_answer_was_lost_is_confirmed_not_refunded(app, client, faulty_his, sandbox):
    faulty_his.faults["settle_bill"] = "lost"          # the HIS settles, its answer never arrives
    bill = faulty_his.add_bill(CARD, [ONE_UNIT, OTHER])
    acc = account(app, CARD)
    login(app, client, acc["user"])
    order_no = open_and_pay(app, client, sandbox, acc, [bill])
    assert load(app, order_no).status == "paid"
    _retry_until_the_last_attempt(app, order_no)
    order = load(app, order_no)
    # every settle timed out; the HIS says it holds the trade, settling again is still lost: flagged, kept
    assert order.status == "confirm_unknown" and order.flag == "his_unknown", order.status
    assert refunded_total(app, order_no) == 0
    assert _checks(app, order_no) == ["applied"]
    faulty_his.faults.clear()                          # the HIS answers again
    with app.app_context():
        db.session.execute(update(PaymentOrder).where(PaymentOrder.order_no == order_no)
                           .values(next_his_attempt_at=utcnow()))
        db.session.commit()
        payments.sweep_confirmations()
    order = load(app, order_no)
    assert order.status == "confirmed" and order.his_receipt_no and order.flag is None
    assert refunded_total(app, order_no) == 0 and faulty_his.trade_status(order.channel_trade_no).applied


def test_an_answer_lost_once_is_found_by_asking_the_his_and_confirmed(app, client, faulty_his, sandbox):
    faulty_his.faults["settle_bill"] = "lost"
    bill = faulty_his.add_bill(CARD, [ONE_UNIT])
    acc = account(app, CARD)
    login(app, client, acc["user"])
    order_no = open_and_pay(app, client, sandbox, acc, [bill])
    faulty_his.faults["settle_bill"] = "down"          # then the HIS is down until after the last attempt
    _retry_until_the_last_attempt(app, order_no)
    faulty_his.faults.clear()
    with app.app_context():
        db.session.execute(update(PaymentOrder).where(PaymentOrder.order_no == order_no)
                           .values(next_his_attempt_at=utcnow()))
        db.session.commit()
        payments.sweep_confirmations()
    assert load(app, order_no).status == "confirmed" and refunded_total(app, order_no) == 0


def test_the_his_down_throughout_leaves_the_payment_flagged_never_refunded(app, client, faulty_his, sandbox):
    bill = faulty_his.add_bill(CARD, [ONE_UNIT])
    acc = account(app, CARD)
    login(app, client, acc["user"])
    order_no = post_pay(client, acc, [bill]).headers["Location"].rstrip("/").rsplit("/", 1)[-1]
    faulty_his.faults["*"] = "down"
    pay_in_sandbox(app, sandbox, acc["user"], order_no)
    _retry_until_the_last_attempt(app, order_no)
    order = load(app, order_no)
    assert order.status == "confirm_unknown" and order.flag == "his_unknown"
    assert "could not say" in order.his_error and refunded_total(app, order_no) == 0
    assert set(_checks(app, order_no)) == {"unavailable"}
    faulty_his.faults.clear()  # back, and it never settled the bill: a definite no -> refunded
    with app.app_context():
        db.session.execute(update(PaymentOrder).where(PaymentOrder.order_no == order_no)
                           .values(next_his_attempt_at=utcnow()))
        db.session.commit()
        payments.sweep_confirmations()
    assert _checks(app, order_no)[-1] == "not_applied"
    assert wait_for(lambda: load(app, order_no).status == "refunded", timeout=15)
    assert not faulty_his.trade_status(load(app, order_no).channel_trade_no).applied


def test_a_his_refusal_is_refunded_only_after_the_his_says_it_holds_nothing(app, client, faulty_his, sandbox):
    bill = faulty_his.add_bill(CARD, [ONE_UNIT])
    acc = account(app, CARD)
    login(app, client, acc["user"])
    order_no = post_pay(client, acc, [bill]).headers["Location"].rstrip("/").rsplit("/", 1)[-1]
    faulty_his.settle_bill(bill.bill_no, bill.amount_fen, "CASH-AT-THE-WINDOW", "cash")  # paid at the window meanwhile
    faulty_his.faults["trade_status"] = "down"   # refused, and the HIS cannot be asked: kept, flagged
    pay_in_sandbox(app, sandbox, acc["user"], order_no)
    assert load(app, order_no).status == "confirm_unknown" and refunded_total(app, order_no) == 0
    faulty_his.faults.clear()
    with app.app_context():
        assert payments.recheck_unknown(order_no) == "confirm_failed"
    assert _checks(app, order_no) == ["unavailable", "not_applied"]
    assert wait_for(lambda: load(app, order_no).status == "refunded", timeout=15)


def _paid_while_the_his_was_down(app, client, faulty_his, sandbox) -> tuple[str, PaymentOrder]:
    """A bill paid in the sandbox while the HIS is down throughout its confirmation attempts: 医院结果未知
    (the HIS still down when this returns)."""
    bill = faulty_his.add_bill(CARD, [ONE_UNIT])
    acc = account(app, CARD)
    login(app, client, acc["user"])
    order_no = post_pay(client, acc, [bill]).headers["Location"].rstrip("/").rsplit("/", 1)[-1]
    faulty_his.faults["*"] = "down"
    pay_in_sandbox(app, sandbox, acc["user"], order_no)
    _retry_until_the_last_attempt(app, order_no)
    order = load(app, order_no)
    assert order.status == "confirm_unknown"
    return order_no, order


def test_finance_sees_the_evidence_and_resolves_a_flagged_payment(app, client, faulty_his, sandbox):
    from tests.helpers.deposits import finance_signs_in

    order_no, order = _paid_while_the_his_was_down(app, client, faulty_his, sandbox)
    finance_signs_in(app, client)
    page = client.get(f"/paymentorderview/show/{order.id}").get_data(as_text=True)
    assert 'data-test="his-checks"' in page and "医院未能答复" in page and 'data-test="refund-unknown"' in page
    # still down: asking again changes nothing
    assert client.post(f"/paymentorderview/recheck_his/{order.id}").status_code == 302
    assert load(app, order_no).status == "confirm_unknown" and refunded_total(app, order_no) == 0
    # a refund after a check by telephone needs what was checked
    client.post(f"/paymentorderview/refund_unknown/{order.id}", data={"note": ""})
    assert load(app, order_no).status == "confirm_unknown"
    faulty_his.faults.clear()
    client.post(f"/paymentorderview/refund_unknown/{order.id}",
                data={"note": "收费处王老师电话确认 HIS 无此笔收费"})
    assert wait_for(lambda: load(app, order_no).status == "refunded", timeout=15)
    with app.app_context():
        actions = set(db.session.scalars(select(AuditLog.action).where(AuditLog.target_id == order_no)))
    assert {"payment.recheck_his", "payment.refund_unknown"} <= actions
    assert _checks(app, order_no)[-1] == "not_applied"


def test_finance_asking_the_his_again_is_who_moved_the_payment(app, client, faulty_his, sandbox):
    """立即向医院核实 by finance, the HIS now saying it holds nothing: 状态历史 said 系统（医院答复） moved the
    payment to 确认失败, while a "holds it" answer was credited to the clerk. Both answers are the clerk's move,
    the HIS's word its reason."""
    from app.models import StateTransition
    from tests.helpers.deposits import finance_signs_in

    order_no, order = _paid_while_the_his_was_down(app, client, faulty_his, sandbox)
    faulty_his.faults.clear()
    finance_signs_in(app, client)
    assert client.post(f"/paymentorderview/recheck_his/{order.id}").status_code == 302
    assert load(app, order_no).status in ("confirm_failed", "refunding", "refunded")
    with app.app_context():
        actor, reason = db.session.execute(select(StateTransition.actor, StateTransition.reason).where(
            StateTransition.order_type == "payment", StateTransition.order_id == order.id,
            StateTransition.to_status == "confirm_failed")).one()
    assert actor == "staff:finance" and "not applied" in reason


# -- 5. a HIS timeout during the slot lock: what may have been taken is released, refusals in Chinese -------

def test_a_lock_whose_answer_was_lost_is_released_and_the_patients_retry_succeeds(app, world, faulty_his):
    from app.services.errors import Unavailable
    from tests.helpers.booking import find_slice, his_slice

    with app.app_context():
        slc = find_slice()
        slice_id, his_slice_id = slc.id, slc.his_slice_id
    capacity, before = his_slice(world["his"], his_slice_id)
    faulty_his.faults["lock_slot"] = "lost"   # the HIS locks; its answer times out
    with app.app_context():
        with pytest.raises(Unavailable):
            registration.book(world["owner"], world["mother"], slice_id)
    faulty_his.faults.clear()
    assert his_slice(world["his"], his_slice_id) == (capacity, before)  # released at the HIS by order number
    with app.app_context():
        retry = registration.book(world["owner"], world["mother"], slice_id)  # the patient tries again at once
        assert retry.order.status == "pending_payment" and retry.payment_order_no
        assert db.session.scalar(select(OutboxTask.status).where(OutboxTask.kind == "his.release_lock")) == "done"


def test_a_release_the_his_cannot_take_yet_is_retried_by_the_sweep(app, world, faulty_his):
    from app import outbox
    from app.services.errors import Unavailable
    from tests.helpers.booking import find_slice, his_slice

    with app.app_context():
        slc = find_slice()
        slice_id, his_slice_id = slc.id, slc.his_slice_id
    capacity, before = his_slice(world["his"], his_slice_id)
    faulty_his.faults.update({"lock_slot": "lost", "release_lock": "down"})
    with app.app_context():
        with pytest.raises(Unavailable):
            registration.book(world["owner"], world["mother"], slice_id)
    assert his_slice(world["his"], his_slice_id) == (capacity, before - 1)  # still held at the HIS
    faulty_his.faults.clear()
    with app.app_context():
        db.session.execute(update(OutboxTask).values(next_attempt_at=utcnow()))
        db.session.commit()
        assert outbox.run_due() == 1
    assert his_slice(world["his"], his_slice_id) == (capacity, before)


def test_every_his_refusal_reaches_the_patient_in_chinese(app, client, world, faulty_his):
    import re

    from app.his import errors
    from app.services.his_access import his_refusal
    from tests.helpers.booking import find_slice

    for cls in errors.BUSINESS_ERRORS.values():
        with app.test_request_context():
            text = his_refusal(cls("this card already holds a number in this clinic session"))
        assert text and not re.search(r"[A-Za-z]{4,}", text), (cls.code, text)
    with app.app_context():
        slc = find_slice()
        slice_id, his_slice_id = slc.id, slc.his_slice_id
        card = db.session.get(Patient, world["mother"]).card_no
        factories.login(client, db.session.get(ChannelUser, world["owner"]))
    world["his"].lock_slot(his_slice_id, card, "WINDOW-0001")  # the mother booked this session at the window
    page = client.post(f"/h5/booking/slices/{slice_id}/confirm", data={"patient_id": world["mother"]},
                       follow_redirects=True).get_data(as_text=True)
    assert "已有医院的预约" in page and "already holds" not in page


# -- also: the same 停诊 event delivered five times at once ---------------------------------------------------

def test_the_same_stop_delivered_five_times_at_once_answers_each_and_acts_once(app, world, live_server, sandbox):
    from tests.helpers.booking import book, find_slice, order_row, pay

    with app.app_context():
        slc = find_slice(min_left=2)
        schedule_id = slc.schedule.his_schedule_id
        paid = book(world["owner"], world["mother"], slc.id)
        unpaid = book(world["stranger"], world["other"], slc.id)
    pay(app, live_server, sandbox, world["owner"], paid.pay)
    world["his"].stop_schedule(schedule_id, "医生外出会诊")
    event = {"event_id": "E-STOP-1", "type": "schedule_stopped", "schedule_id": schedule_id, "reason": "医生外出会诊"}

    answers = at_once(5, lambda i: his_post(app, live_server, "/api/his/v1/events", event))

    assert [getattr(a, "status_code", repr(a)) for a in answers] == [200] * 5, [
        getattr(a, "text", repr(a))[:300] for a in answers]
    assert sum(a.json()["cancelled"] for a in answers) == 2
    assert wait_for(lambda: order_row(app, paid.id).status == "refunded", timeout=15)
    assert order_row(app, unpaid.id).status == "stopped"
    with app.app_context():
        refunds = db.session.scalars(select(Refund)).all()
        assert len(refunds) == 1 and refunds[0].status == "success"


# -- three-way reconciliation: what the HIS reports is a difference with its evidence ----------------------

def test_reconciliation_lists_what_the_his_disagrees_with_and_its_evidence(app, client, faulty_his, sandbox):
    import json as _json

    from app import clock
    from doubles.his.simulator.models import BillRow
    from app.models import ReconciliationItem
    from app.reconciliation.runs import reconcile
    from tests.helpers.deposits import finance_signs_in
    from tests.helpers.payments import wipe_sandbox

    wipe_sandbox(sandbox)
    acc = account(app, CARD)
    login(app, client, acc["user"])
    # 1. confirmed here, but the HIS lost its settlement (a window clerk reversed it by hand)
    one = faulty_his.add_bill(CARD, [ONE_UNIT])
    missing = open_and_pay(app, client, sandbox, acc, [one])
    with faulty_his.inner.unit() as s:
        s.get(BillRow, one.bill_no).status, s.get(BillRow, one.bill_no).trade_no = "pending", None
    # 2. refunded here as never confirmed, but the HIS settled it after all (finance's telephone check was wrong)
    two = faulty_his.add_bill(CARD, [OTHER])
    login(app, client, acc["user"])
    kept = post_pay(client, acc, [two]).headers["Location"].rstrip("/").rsplit("/", 1)[-1]
    faulty_his.faults["*"] = "down"
    pay_in_sandbox(app, sandbox, acc["user"], kept)
    _retry_until_the_last_attempt(app, kept)
    with app.app_context():
        payments.refund_unknown_checked_by_staff(kept, "电话核实（有误）", "finance")
    faulty_his.faults.clear()
    faulty_his.settle_bill(two.bill_no, two.amount_fen, load(app, kept).channel_trade_no, "wechat")
    # 3. still unknown: the HIS cannot answer for this one
    three = faulty_his.add_bill(CARD, [ONE_UNIT])
    login(app, client, acc["user"])
    unknown = post_pay(client, acc, [three]).headers["Location"].rstrip("/").rsplit("/", 1)[-1]
    faulty_his.faults["*"] = "down"
    pay_in_sandbox(app, sandbox, acc["user"], unknown)
    _retry_until_the_last_attempt(app, unknown)
    faulty_his.faults.clear()
    wait_for(lambda: load(app, kept).status == "refunded", timeout=15)

    with app.app_context():
        run = reconcile("wechat", clock.today())
        assert run.status == "done", (run.status, run.error)
        found = {i.order_no: i for i in db.session.scalars(select(ReconciliationItem).where(
            ReconciliationItem.run_id == run.id, ReconciliationItem.source == "his"))}
        assert {no: i.kind for no, i in found.items()} == {missing: "his_missing", kept: "his_kept",
                                                           unknown: "his_unknown"}
        # the channel and the platform agree that the unknown one's money came in: no channel-side difference
        # (it was 状态不符 "渠道已收款，本地订单状态为 医院结果未知" beside the HIS's own his_unknown)
        channel_side = {i.order_no: i.kind for i in db.session.scalars(select(ReconciliationItem).where(
            ReconciliationItem.run_id == run.id)) if i.source != "his"}
        assert unknown not in channel_side, channel_side
        evidence = _json.loads(found[kept].evidence)
        assert evidence["platform"]["status"] == "refunded" and evidence["his"]["applied"] is True
        assert evidence["his"]["records"][0]["ref"] == two.bill_no
        item_id = found[kept].id
    finance_signs_in(app, client)
    listing = client.get("/reconciliationitemview/list/").get_data(as_text=True)
    assert "已退款但医院已入账" in listing and "医院无此笔" in listing and "医院 HIS" in listing
    assert item_id  # its detail page (with the evidence) is the i13/i16 worklist's; it 500s on main today
