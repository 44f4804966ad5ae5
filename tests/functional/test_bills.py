"""门诊缴费 end to end: pending bills by visit, refusals before money moves, paying in the sandbox
cashier, settlement with 导诊, partial refusal at the HIS, reminders. Cards come from the simulator seed."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from sqlalchemy import func, select

from app import clock
from app.extensions import db
from app.his.interface import BillItem
from app.models import BillPayment, ChannelUser, GuidanceRule, Notification, Patient, PaymentOrder, Refund
from app.billing import bills as billing
from app.payments import commands as payments
from tests import factories
from tests.factories import wait_for
from tests.helpers.bills import ONE_BILL_CARD, TWO_BILL_CARD, account, load, login, open_and_pay, post_pay

TWO_VISIT_CARD = "8800000007"  # bills of two different visits
DAYTIME = dt.datetime(2026, 11, 26, 3, 0)  # 11:00 in Beijing
NIGHT = dt.datetime(2026, 11, 26, 15, 0)   # 23:00 in Beijing


def bills_of(his, card_no: str):
    return his.pending_bills(card_no)


def order_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(PaymentOrder))


# -- reading ---------------------------------------------------------------------------------------

def test_pending_bills_are_grouped_by_visit_with_totals(app, client, his):
    acc = account(app, TWO_BILL_CARD)
    login(app, client, acc["user"])
    bills = bills_of(his, TWO_BILL_CARD)
    assert len(bills) == 2 and len({billing.visit_key(b) for b in bills}) == 1
    page = client.get("/h5/bills").get_data(as_text=True)
    assert page.count('data-visit="') == 1
    for bill in bills:
        assert f'data-bill="{bill.bill_no}"' in page
    assert f"¥{sum(b.amount_fen for b in bills) // 100}.{sum(b.amount_fen for b in bills) % 100:02d}" in page
    assert "张*梅" in page and "张晓梅" not in page  # masked name, never the full one


def test_two_visits_show_as_two_groups_and_cannot_be_paid_together(app, client, his):
    acc = account(app, TWO_VISIT_CARD)
    login(app, client, acc["user"])
    page = client.get("/h5/bills").get_data(as_text=True)
    assert page.count('data-visit="') == 2
    response = post_pay(client, acc, bills_of(his, TWO_VISIT_CARD))
    assert response.status_code == 400 and "同一次就诊" in response.get_data(as_text=True)
    assert order_count(app) == 0


def test_bill_detail_lists_every_item_and_hides_other_cards(app, client, his):
    acc = account(app, TWO_BILL_CARD)
    other = account(app, ONE_BILL_CARD)
    login(app, client, acc["user"])
    bill = bills_of(his, TWO_BILL_CARD)[0]
    page = client.get(f"/h5/bills/{bill.bill_no}?patient_id={acc['patient']}").get_data(as_text=True)
    for item in bill.items:
        assert item.name in page and item.spec in page
    assert bill.department_name in page and bill.doctor_name in page
    # a bill of a card not bound to this account, and another account's patient: 404
    foreign = bills_of(his, ONE_BILL_CARD)[0]
    assert client.get(f"/h5/bills/{foreign.bill_no}?patient_id={acc['patient']}").status_code == 404
    assert client.get(f"/h5/bills/{foreign.bill_no}?patient_id={other['patient']}").status_code == 404
    assert client.get(f"/h5/bills?patient_id={other['patient']}").status_code == 404


# -- refused before any money moves ----------------------------------------------------------------------

def test_paying_another_accounts_card_is_404_and_creates_nothing(app, client, his):
    acc = account(app, TWO_BILL_CARD)
    other = account(app, ONE_BILL_CARD)
    login(app, client, acc["user"])
    response = post_pay(client, other, bills_of(his, ONE_BILL_CARD))
    assert response.status_code == 404 and order_count(app) == 0


def test_bill_paid_at_the_window_is_refused_before_money_moves(app, client, his):
    acc = account(app, TWO_BILL_CARD)
    login(app, client, acc["user"])
    bills = bills_of(his, TWO_BILL_CARD)
    his.settle_bill(bills[0].bill_no, bills[0].amount_fen, "WINDOW-0001", "window")
    response = post_pay(client, acc, bills)
    assert response.status_code == 409 and "已缴费或已变更" in response.get_data(as_text=True)
    assert order_count(app) == 0


def test_stale_amount_is_refused_with_the_current_amount(app, client, his):
    acc = account(app, TWO_BILL_CARD)
    login(app, client, acc["user"])
    bills = bills_of(his, TWO_BILL_CARD)
    response = post_pay(client, acc, bills, amounts={bills[0].bill_no: bills[0].amount_fen - 100})
    body = response.get_data(as_text=True)
    assert response.status_code == 409 and "费用已变化" in body
    total = sum(b.amount_fen for b in bills)
    assert f"{total // 100}.{total % 100:02d}" in body
    assert order_count(app) == 0


def test_nothing_chosen_is_refused(app, client, his):
    acc = account(app, TWO_BILL_CARD)
    login(app, client, acc["user"])
    response = client.post("/h5/bills/pay", data={"patient_id": acc["patient"]})
    assert response.status_code == 400 and "请选择" in response.get_data(as_text=True)


def test_a_bill_being_paid_is_not_paid_twice_but_the_same_selection_resumes(app, client, his):
    acc = account(app, TWO_BILL_CARD)
    login(app, client, acc["user"])
    bills = bills_of(his, TWO_BILL_CARD)
    first = post_pay(client, acc, bills)
    again = post_pay(client, acc, bills)
    assert first.status_code == again.status_code == 303
    assert first.headers["Location"] == again.headers["Location"]  # the open order, not a second one
    partial = post_pay(client, acc, bills[:1])
    assert partial.status_code == 409 and "正在支付" in partial.get_data(as_text=True)
    assert order_count(app) == 1
    page = client.get("/h5/bills").get_data(as_text=True)
    assert "支付中" in page


# -- paying through the sandbox cashier ------------------------------------------------------------------

@pytest.mark.parametrize("channel", ["wechat", "alipay"])
def test_paid_bills_are_settled_with_guidance_receipts_and_a_notice(app, client, his, sandbox, channel):
    acc = account(app, TWO_BILL_CARD, channel)
    with app.app_context():
        db.session.add(GuidanceRule(sort=1, match_category="西药", guidance="取药后请在药房窗口核对用药说明"))
        db.session.add(GuidanceRule(sort=2, match_keyword="不存在的项目", guidance="不应出现"))
        db.session.commit()
    login(app, client, acc["user"])
    bills = bills_of(his, TWO_BILL_CARD)
    order_no = open_and_pay(app, client, sandbox, acc, bills, channel)
    order = load(app, order_no)
    assert order.status == "confirmed" and order.amount_fen == sum(b.amount_fen for b in bills)
    assert bills_of(his, TWO_BILL_CARD) == ()  # settled at the HIS
    lines = order.guidance.split("\n")
    assert any("排队号" in line for line in lines)  # the HIS's own guidance
    has_drug = any(i.category == "西药" for b in bills for i in b.items)
    assert ("取药后请在药房窗口核对用药说明" in lines) == has_drug and "不应出现" not in lines
    with app.app_context():
        rows = db.session.scalars(select(BillPayment).where(BillPayment.payment_id == order.id)).all()
        assert {r.status for r in rows} == {"settled"} and all(r.receipt_no for r in rows)
        notice = db.session.scalar(select(Notification).where(Notification.dedupe_key == f"bill_paid:{order_no}"))
        assert notice.owner_id == acc["user"] and lines[0] in notice.body
        assert json.loads(notice.payload_json)["guidance"] == lines
        receipts = [r.receipt_no for r in rows]
    result = client.get(f"/h5/pay/{order_no}/result").get_data(as_text=True)
    assert "支付成功" in result and lines[0] in result and f"/h5/bills/orders/{order_no}" in result
    detail = client.get(f"/h5/bills/orders/{order_no}").get_data(as_text=True)
    assert all(r in detail for r in receipts) and "医院收费单号" in detail and "电子票据号" not in detail
    # each bill's last row is its total, named 合计; the receipt number is a note under it, not its label
    totals = re.findall(r'data-bill-total>\s*<div class="weui-cell__bd">([^<]+)<', detail)
    assert [t.strip() for t in totals] == ["合计"] * len(bills), totals
    listing = client.get("/h5/bills/orders").get_data(as_text=True)
    assert order_no in listing and "张晓梅" not in listing


def test_a_bill_paid_at_the_window_meanwhile_is_refunded_and_the_rest_settled(app, client, his, sandbox):
    acc = account(app, TWO_BILL_CARD)
    login(app, client, acc["user"])
    bills = bills_of(his, TWO_BILL_CARD)
    response = post_pay(client, acc, bills)
    order_no = response.headers["Location"].rsplit("/", 1)[-1]
    # between opening the order and the money arriving, the window takes payment for one bill
    his.settle_bill(bills[1].bill_no, bills[1].amount_fen, "WINDOW-0002", "window")
    with app.app_context():
        user = db.session.get(ChannelUser, acc["user"])
        payments.start_payment(order_no, user.id, user.channel_uid, "http://127.0.0.1/h5/")
    sandbox.confirm_payment("wechat", order_no)
    assert wait_for(lambda: load(app, order_no).status == "partially_refunded")
    order = load(app, order_no)
    assert order.refunded_fen == bills[1].amount_fen
    with app.app_context():
        rows = {r.bill_no: r for r in db.session.scalars(select(BillPayment).where(BillPayment.payment_id == order.id))}
        assert rows[bills[0].bill_no].status == "settled" and rows[bills[1].bill_no].status == "refused"
        kinds = set(db.session.scalars(select(Notification.kind).where(Notification.owner_id == acc["user"])))
    assert {"bill_paid", "refund_success"} <= kinds


def test_every_bill_refused_refunds_the_whole_payment(app, client, his, sandbox):
    acc = account(app, ONE_BILL_CARD)
    login(app, client, acc["user"])
    (bill,) = bills_of(his, ONE_BILL_CARD)
    response = post_pay(client, acc, [bill])
    order_no = response.headers["Location"].rsplit("/", 1)[-1]
    his.settle_bill(bill.bill_no, bill.amount_fen, "WINDOW-0003", "window")
    with app.app_context():
        user = db.session.get(ChannelUser, acc["user"])
        payments.start_payment(order_no, user.id, user.channel_uid, "http://127.0.0.1/h5/")
    sandbox.confirm_payment("wechat", order_no)
    assert wait_for(lambda: load(app, order_no).status == "refunded")
    with app.app_context():
        kinds = set(db.session.scalars(select(Notification.kind).where(Notification.owner_id == acc["user"])))
    assert {"bill_failed", "refund_success"} <= kinds


# -- reminders --------------------------------------------------------------------------------------------

def test_reminder_task_sends_exactly_one_reminder_per_new_bill(app, ctx, his):
    from app.tasks.billing import remind_pending_bills_task

    a = factories.channel_user()
    factories.patient(a, card_no=TWO_BILL_CARD)
    b = factories.channel_user()
    factories.patient(b, card_no=ONE_BILL_CARD)
    db.session.commit()
    assert billing.remind_pending_bills(now=DAYTIME) == 3
    assert billing.remind_pending_bills(now=DAYTIME) == 0  # no repeats
    remind_pending_bills_task()  # the periodic task itself (inline in tests): still nothing new
    assert db.session.scalar(select(func.count()).select_from(Notification)) == 3
    new = his.add_bill(ONE_BILL_CARD, [BillItem("血常规", "化验", "五分类", 1, 2000, 2000)], doctor_code="D001")
    assert billing.remind_pending_bills(now=NIGHT) == 0  # quiet hours 22:00-08:00
    assert billing.remind_pending_bills(now=DAYTIME) == 1
    key = f"bill_reminder:{b.id}:{new.bill_no}"
    notice = db.session.scalar(select(Notification).where(Notification.dedupe_key == key))
    assert notice.kind == "bill_reminder" and "20.00" in notice.body and "张*梅" in notice.body


def test_quiet_hours_come_from_the_setting(app, ctx, his):
    from app.models import SystemSetting

    user = factories.channel_user()
    factories.patient(user, card_no=ONE_BILL_CARD)
    db.session.add(SystemSetting(key="reminder.quiet_hours", value="10:00-12:00"))
    db.session.commit()
    assert billing.remind_pending_bills(now=DAYTIME) == 0  # 11:00 is now quiet
    assert billing.remind_pending_bills(now=NIGHT) == 1


def test_a_bill_being_paid_is_not_reminded(app, ctx, his):
    user = factories.channel_user()
    patient = factories.patient(user, card_no=ONE_BILL_CARD)
    db.session.commit()
    (bill,) = his.pending_bills(ONE_BILL_CARD)
    billing.create_bill_payment(user.id, patient.id, [bill.bill_no], bill.amount_fen, "wechat")
    assert billing.remind_pending_bills(now=DAYTIME) == 0


def test_unbound_patients_get_no_reminders(app, ctx, his):
    user = factories.channel_user()
    factories.patient(user, card_no=ONE_BILL_CARD, status="unbound")
    db.session.commit()
    assert billing.remind_pending_bills(now=DAYTIME) == 0
    assert db.session.scalar(select(func.count()).select_from(Patient)) == 1
    assert db.session.scalar(select(func.count()).select_from(Refund)) == 0


def test_every_bound_card_is_asked_in_turn_and_todays_visitors_every_run(app, ctx, his, monkeypatch):
    """Many more bound cards than one run may ask about: each run asks one slice, the slices cover
    every card within a few runs, and cards with a visit today are asked every time."""
    owners = [factories.channel_user() for _ in range(7)]
    patients = [factories.patient(owner, card_no=f"ROT{i:05d}") for i, owner in enumerate(owners)]
    db.session.commit()
    asked: list[str] = []
    monkeypatch.setattr(his, "pending_bills", lambda card_no: asked.append(card_no) or ())
    runs = [DAYTIME + billing.REMINDER_PERIOD * i for i in range(4)]  # 7 cards, 2 a run: 4 slices
    for when in runs:
        billing.remind_pending_bills(now=when, max_cards=2)
    assert sorted(set(asked)) == sorted(p.card_no for p in patients) and len(asked) == 7
    # a card with a booking today is asked on top of the run's slice, every run
    visitor = patients[0]
    today = factories.schedule(clinic_date=clock.beijing_date(DAYTIME), fee_fen=0)
    factories.appointment_order(visitor, "booked", slc=today.slices[0])
    db.session.commit()
    for when in runs:
        asked.clear()
        billing.remind_pending_bills(now=when, max_cards=2)
        assert asked[0] == visitor.card_no and len(asked) <= 3
