"""The back-office home page (today at a glance, the worklist per role, each count equal to the list it
opens) and 订单全链路 (find an order by any number; one timeline of its whole story)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import func, select, update

from app import clock
from app.extensions import db
from app.models import AuditLog, PaymentOrder, Refund
from tests.backoffice_helpers import login, seed_staff_and_orders

#: worklist entries each demo role sees (its lists), all non-empty from the demo data
ROLE_ITEMS = {
    "finance": {"payment_confirm_failed", "payment_confirm_unknown", "refund_failed", "refund_overdue",
                "reconciliation_open", "payment_stuck", "appointment_stuck"},
    "service": {"payment_confirm_failed", "payment_confirm_unknown", "payment_stuck", "appointment_stuck",
                "notice_failed"},
    "ops": {"notice_failed"},
}
NON_EMPTY = {"payment_confirm_failed", "payment_confirm_unknown", "refund_failed", "refund_overdue",
             "reconciliation_open", "payment_stuck", "notice_failed"}
ROW_LINK = {"paymentorderview": "/paymentorderview/show/", "refundview": "/refundview/show/",
            "reconciliationitemview": "/reconciliationitemview/show/", "notificationview": "/notificationview/show/",
            "appointmentorderview": "/appointmentorderview/show/"}


@pytest.fixture()
def demo(app, clean_db):
    clock.freeze(dt.datetime(2026, 11, 18, 15, 30))  # a Wednesday afternoon, Beijing
    seed_staff_and_orders(app, days=8, per_day=6)
    with app.app_context():
        from doubles.demo.backoffice import seed_worklist_demo

        assert "9 orders" in seed_worklist_demo()[0]
        db.session.remove()
    yield
    clock.reset()


def _worklist(page: str) -> dict[str, tuple[int, str | None]]:
    found = {}
    for key, body in re.findall(r'data-test="work-([a-z_]+)"(.*?)</tr>', page, re.S):
        link = re.search(r'href="([^"]+)"', body)
        count = re.search(r'data-test="count">\s*([\d,]+)', body)
        found[key] = (int(count.group(1).replace(",", "")), link.group(1).replace("&amp;", "&") if link else None)
    return found


@pytest.mark.parametrize("username", ["finance", "service", "ops", "admin"])
def test_each_roles_home_page_has_a_worklist_whose_counts_open_the_same_rows(app, client, demo, username):
    login(client, username)
    page = client.get("/").get_data(as_text=True)
    items = _worklist(page)
    expected = ROLE_ITEMS.get(username)
    if expected is not None:
        assert expected <= set(items), (username, set(items))
        assert set(items) <= expected | {"refund_abnormal"}, (username, set(items))
    for key, (count, url) in items.items():
        if key in NON_EMPTY:
            assert count >= 1, (username, key)
        if not count:
            continue
        listing = client.get(url)
        assert listing.status_code == 200, (url, listing.status_code)
        view = url.strip("/").split("/")[0]
        shown = set(re.findall(re.escape(ROW_LINK[view]) + r"(\d+)", listing.get_data(as_text=True)))
        assert len(shown) == count, (key, url, len(shown), count)


def test_today_at_a_glance_agrees_with_the_database_against_the_same_weekday_last_week(app, client, demo):
    login(client, "finance")
    page = client.get("/").get_data(as_text=True)
    with app.app_context():
        day = clock.today()
        start, end = clock.beijing_day_bounds_utc(day)
        paid = db.session.scalar(select(func.sum(PaymentOrder.amount_fen)).where(
            PaymentOrder.paid_at >= start, PaymentOrder.paid_at < end))
        before_start, before_end = clock.beijing_day_bounds_utc(day - dt.timedelta(days=7))
        paid_before = db.session.scalar(select(func.coalesce(func.sum(PaymentOrder.amount_fen), 0)).where(
            PaymentOrder.paid_at >= before_start, PaymentOrder.paid_at < before_end,
            PaymentOrder.status != "closed"))
        refund_before = db.session.scalar(select(func.coalesce(func.sum(Refund.amount_fen), 0)).where(
            Refund.succeeded_at >= before_start, Refund.succeeded_at < before_end, Refund.status == "success"))
    assert paid and paid_before
    shown = re.search(r'data-test="today-paid">([\d,.]+)<', page).group(1)
    assert shown == f"{paid / 100:,.2f}"
    assert f"上周同日 {paid_before / 100:,.2f}" in page
    assert f"上周同日 {refund_before / 100:,.2f}" in page
    assert "2026-11-18" in page and "2026-11-11" in page


def test_the_home_page_asks_a_visitor_to_sign_in(client, demo):
    response = client.get("/")
    assert response.status_code == 302 and "/login/" in response.headers["Location"]


@pytest.mark.parametrize("number", ["order_no", "channel_trade_no", "business_ref", "phone", "refund_no"])
def test_any_number_finds_the_failed_payment_and_its_whole_story(app, client, demo, number):
    with app.app_context():
        from doubles.demo.backoffice import WORKLIST_PREFIX

        # the worklist demo's failed payment (the demo holds other orders in every state too)
        refused = db.session.scalar(select(PaymentOrder).where(PaymentOrder.status == "confirm_failed",
                                                               PaymentOrder.order_no.startswith(WORKLIST_PREFIX)))
        values = {"order_no": refused.order_no, "channel_trade_no": refused.channel_trade_no,
                  "business_ref": refused.business_ref, "phone": refused.patient.phone}
        refund = db.session.scalar(select(Refund).where(Refund.status == "failed",
                                                        Refund.refund_no.startswith(WORKLIST_PREFIX)))
        values["refund_no"] = refund.refund_no
        target = refund.payment.order_no if number == "refund_no" else refused.order_no
    login(client, "service")
    page = client.get("/trace/", query_string={"q": values[number]}).get_data(as_text=True)
    if number == "phone":  # the patient's orders: choose one
        assert 'data-test="matches"' in page and target in page
        link = re.search(r'href="(/trace/payment/\d+)">' + re.escape(target), page).group(1)
        page = client.get(link).get_data(as_text=True)
    assert 'data-test="timeline"' in page and target in page
    if number != "refund_no":
        # the diagnosis: paid at the channel, the HIS refused (why), the notice could not be pushed (why)
        for text in ("已支付 → 确认失败", "医院拒绝：处方已失效，不能收费", "收到", "通知患者：缴费失败",
                     "发送失败", "推送到", "43004"):
            assert text in page, text
        times = re.findall(r"<code>(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)</code>", page)
        assert times == sorted(times) and len(times) >= 6
    else:
        assert "退款失败" in page and "渠道通知：退款已关闭" in page and "channel notification" not in page
    assert "13800000" not in page  # the phone is masked on the page


def test_an_unknown_number_says_so_and_the_search_is_audited(app, client, demo):
    login(client, "ops")
    page = client.get("/trace/?q=NOPE123").get_data(as_text=True)
    assert 'data-test="no-match"' in page
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(AuditLog)
                                 .where(AuditLog.action == "staff.trace_search")) == 1


def test_finance_retries_a_failed_refund_and_it_is_audited(app, client, demo, monkeypatch):
    """The 重试 button calls the payment service's retry (proven on the money paths in test_money_cases)
    as the signed-in clerk and leaves an audit row; a refusal is shown, not audited."""
    from types import SimpleNamespace

    from app.payments import commands as payments
    from app.services.errors import Conflict

    with app.app_context():
        refund = db.session.scalar(select(Refund).where(Refund.status == "failed"))
        pk, refund_no = refund.id, refund.refund_no
    calls = []

    def retry(number, actor):
        calls.append((number, actor))
        if len(calls) > 1:
            raise Conflict("只有退款失败的记录可以重试")
        return SimpleNamespace(refund_no=number + "R", status="processing")

    monkeypatch.setattr(payments, "retry_refund", retry)
    login(client, "service")
    assert client.post(f"/refundview/retry/{pk}").status_code in (302, 403) and not calls
    login(client, "finance")
    listing = client.get("/refundview/list/?_flt_0_status=failed").get_data(as_text=True)
    assert refund_no in listing and "重试" in listing
    client.post(f"/refundview/retry/{pk}")
    page = client.get(client.post(f"/refundview/retry/{pk}").headers["Location"]).get_data(as_text=True)
    assert "只有退款失败的记录可以重试" in page
    assert calls == [(refund_no, "staff:finance")] * 2
    with app.app_context():
        rows = db.session.scalars(select(AuditLog).where(AuditLog.action == "refund.retry")).all()
        assert [r.target_id for r in rows] == [refund_no] and rows[0].actor_name == "finance"


def test_a_failed_refunds_detail_offers_retry_and_a_finished_ones_does_not(app, client, demo):
    """退款失败 on the worklist leads to the refund's detail: 重试 is there (it posts to the retry route), not on a
    refund that succeeded, nor for a role without the right."""
    with app.app_context():
        failed = db.session.scalar(select(Refund.id).where(Refund.status == "failed"))
        done = db.session.scalar(select(Refund.id).where(Refund.status == "success"))
    login(client, "finance")
    page = client.get(f"/refundview/show/{failed}").get_data(as_text=True)
    assert f'action="/refundview/retry/{failed}"' in page and 'data-test="retry-refund"' in page
    page = client.get(f"/refundview/show/{done}").get_data(as_text=True)
    assert "/refundview/retry/" not in page and 'data-test="retry-refund"' not in page
    login(client, "admin")
    assert 'data-test="retry-refund"' in client.get(f"/refundview/show/{failed}").get_data(as_text=True)


def test_the_story_shows_each_his_call_and_its_answer(app, client, his, sandbox, live_server):
    """The HIS call journal: settling a paid bill is in the timeline with the HIS's answer."""
    from app.models import HisCall
    from tests.backoffice_helpers import restore_demo_staff
    from tests.money_helpers import CARD, paid_bill

    with app.app_context():
        from doubles.demo.hospital import seed_demo

        seed_demo()
    restore_demo_staff(app)
    paid = paid_bill(app, client, his, sandbox)
    with app.app_context():
        calls = db.session.scalars(select(HisCall).where(HisCall.method == "settle_bill")).all()
        assert len(calls) == 1 and calls[0].outcome == "ok" and paid["bill"].bill_no in calls[0].request
        assert CARD not in (calls[0].request or "")  # no card or personal data among the arguments
    login(client, "service")
    page = client.get("/trace/", query_string={"q": paid["order_no"]}).get_data(as_text=True)
    assert "调用医院接口 缴费入账：成功" in page and paid["bill"].bill_no in page


def test_the_timeline_puts_a_refunds_request_before_its_processing_within_the_second(app):
    """The refund row is stamped when it is flushed, its first move a moment before: sorted by the stamp
    alone 退款处理中 came before 申请退款. Within the second shown, an order's life goes in its machine's
    order; other events keep their places."""
    from app.backoffice.order_trace import Event, _machine_step, in_order

    second = dt.datetime(2026, 11, 30, 2, 0, 5)
    moved = Event(second.replace(microsecond=200), "state", "已申请 → 退款处理中",
                  step=_machine_step("refund", "processing"))
    asked = Event(second.replace(microsecond=700), "refund", "申请退款", step=0)
    notified = Event(second.replace(microsecond=100), "channel", "收到退款通知")
    paid = Event(second - dt.timedelta(seconds=1), "state", "待支付 → 已支付", step=_machine_step("payment", "paid"))
    assert [e.title for e in in_order([moved, asked, notified, paid])] == [
        "待支付 → 已支付", "收到退款通知", "申请退款", "已申请 → 退款处理中"]
    later = Event(second + dt.timedelta(seconds=3), "state", "退款处理中 → 退款成功",
                  step=_machine_step("refund", "success"))
    assert in_order([later, moved])[0] is moved  # across seconds, time decides


def test_the_his_answer_is_shown_when_the_his_gave_it_not_when_the_payment_last_changed(app, clean_db):
    """医院已入账 / 医院最近一次答复 were dated by the payment's updated_at: a refund hours later moved them there,
    and IT read the HIS's answer at the refund's time. They are dated by the move the answer caused."""
    from app.backoffice.order_trace import story
    from tests import factories

    clock.freeze(dt.datetime(2026, 11, 30, 10, 0))  # Beijing
    confirmed_at = clock.utcnow()
    try:
        with app.app_context():
            owner = factories.patient(factories.channel_user())
            paid = factories.payment_order(owner, "outpatient", "confirmed", 5000, his_receipt_no="SJ1130001")
            refused = factories.payment_order(owner, "outpatient", "confirm_failed", 3000, his_error="处方已失效")
            db.session.commit()
            clock.freeze(dt.datetime(2026, 11, 30, 13, 0))  # the refunds, hours later
            factories.refund(paid, "success")
            factories.refund(refused, "failed")
            # the refund commands' UPDATEs of refunded_fen and flag stamp the payment then
            db.session.execute(update(PaymentOrder).where(PaymentOrder.id.in_([paid.id, refused.id]))
                               .values(updated_at=clock.utcnow()))
            db.session.commit()
            for payment, title in ((paid, "医院已入账"), (refused, "医院最近一次答复")):
                assert db.session.get(PaymentOrder, payment.id).updated_at > confirmed_at
                events = [e for e in story("payment", payment.id).events if str(e.title).startswith(title)]
                assert [e.at for e in events] == [confirmed_at], (title, [e.at for e in events])
    finally:
        clock.reset()
