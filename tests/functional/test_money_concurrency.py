"""Money under real concurrency on MariaDB: threads, each with its own connection, race for one item,
one payment, one deposit; payment notifications race the close sweep; a 停诊 races the payment.

Each race ends the same way: money moves once, what the channel holds is what the platform records,
and the HIS agrees. SQLite serialises every writer, so these races only happen on MariaDB (CI runs
them there); the single-unit race of issue 14 also runs on SQLite in test_money_cases.
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select, update

from app.extensions import db
from app.models import AppointmentOrder, PaymentOrder, Refund, ScheduleSlice
from app.models.base import utcnow
from app.payments import commands as payments
from app.registration.states import LIVE
from app.billing.bills import HisRefundRefused
from app.services.errors import DomainError
from tests.factories import wait_for
from tests.helpers.bills import load
from tests.money_helpers import ONE_UNIT, OTHER, at_once, his_post, needs_mariadb, paid_bill, refunded_total

pytestmark = needs_mariadb

REFUNDS = "/api/his/v1/refunds"


def _channel_refunded(app, order_no: str) -> int:
    """What the channel itself says went back for an order (its own refund records)."""
    with app.app_context():
        order = db.session.scalar(select(PaymentOrder).where(PaymentOrder.order_no == order_no))
        total = 0
        for refund in db.session.scalars(select(Refund).where(Refund.payment_id == order.id)):
            if payments.channels()[order.channel].query_refund(order_no, refund.refund_no).state == "succeeded":
                total += refund.amount_fen
        return total


def test_refunds_racing_on_one_item_take_each_unit_once(app, client, his, sandbox, live_server):
    """Twelve requests for one unit each of a three-unit item (and the one-unit item) at once."""
    three = ONE_UNIT.__class__("叶酸片", "西药", "0.4mg×31片", 3, 1500, 4500)
    paid = paid_bill(app, client, his, sandbox, items=(three, ONE_UNIT))
    bill_no = paid["bill"].bill_no

    def ask(i: int):
        seq = 1 if i < 8 else 2
        return his_post(app, live_server, REFUNDS, {"request_no": f"ITEM-{i}", "bill_no": bill_no,
                                                    "items": [{"item_seq": seq, "quantity": 1}]})

    answers = at_once(12, ask)
    codes = [getattr(a, "status_code", repr(a)) for a in answers]
    assert codes[:8].count(201) == 3 and codes[8:].count(201) == 1, codes
    assert set(codes) <= {201, 409}, codes
    assert refunded_total(app, paid["order_no"]) == 3 * 1500 + 980
    assert wait_for(lambda: _channel_refunded(app, paid["order_no"]) == 3 * 1500 + 980, timeout=30)


def test_refunds_racing_on_one_payment_never_exceed_it(app, client, his, sandbox, live_server):
    """The HIS's whole-bill refund, finance's refund and the patient-side refunds all at once."""
    paid = paid_bill(app, client, his, sandbox)
    order_no, bill_no = paid["order_no"], paid["bill"].bill_no
    total = ONE_UNIT.amount_fen + OTHER.amount_fen

    def race(i: int):
        if i % 2:
            return his_post(app, live_server, REFUNDS, {"request_no": f"PAY-{i}", "bill_no": bill_no}).status_code
        with app.app_context():
            try:
                payments.staff_refund(order_no, total, "财务全额退款", f"finance{i}")
                return "staff-ok"
            except DomainError:
                return "staff-refused"
            finally:
                db.session.remove()

    answers = at_once(10, race)
    assert sum(a in (201, "staff-ok") for a in answers) == 1, answers
    assert refunded_total(app, order_no) == total
    assert load(app, order_no).refunded_fen == total
    assert wait_for(lambda: load(app, order_no).status == "refunded", timeout=30)
    assert _channel_refunded(app, order_no) == total


def test_refunds_racing_on_one_deposit_never_exceed_it(app, client, his, sandbox):
    """Discharge requests for the whole stay and finance refunds of one deposit, all at once."""
    from tests.helpers.deposits import CARD, pay_deposit
    from tests.helpers.bills import account

    acc = account(app, CARD)
    deposit = pay_deposit(app, client, his, sandbox, acc, "800")
    inpatient_no = his.inpatient_stay(CARD).inpatient_no

    def race(i: int):
        with app.app_context():
            try:
                if i % 2:
                    from app.inpatient import deposit_refunds

                    deposit_refunds.his_deposit_refund({"request_no": f"DIS-{i}", "inpatient_no": inpatient_no,
                                                        "amount_fen": 60000, "reason": "出院结算退押金"})
                else:
                    payments.staff_refund(deposit, 60000, "押金退款", f"finance{i}")
                return "ok"
            except (HisRefundRefused, DomainError):
                return "refused"
            finally:
                db.session.remove()

    answers = at_once(8, race)
    assert answers.count("ok") == 1, answers
    assert refunded_total(app, deposit) == 60000 and load(app, deposit).refunded_fen == 60000
    assert wait_for(lambda: _channel_refunded(app, deposit) == 60000, timeout=30)


def _paid_quietly(app, paying, sandbox, channel: str, amount_fen: int) -> tuple[str, int]:
    """An order opened at the cashier and paid at the channel, whose notification has not got through yet;
    returns (order number, the sandbox's notification id) so a test can deliver it as it likes."""
    order_no = paying(channel, amount_fen, quiet=True)
    sandbox.confirm_payment(channel, order_no)
    assert load(app, order_no).status == "paying"
    return order_no, sandbox.notifications(order_no)[-1]["id"]


def _deliver(sandbox, live_server, channel: str, note_id: int):
    import requests

    _, headers, body = sandbox.signed_request(note_id)
    path = {"wechat": "/notify/wechatpay", "alipay": "/notify/alipay"}[channel]
    return requests.post(f"{live_server}{path}", data=body, headers=headers, timeout=30)


def test_notifications_racing_the_close_sweep_record_the_money_once(app, live_server, sandbox, paying):
    """An order paid at the last second: its notification (delivered four times) and two close sweeps,
    at once. It ends confirmed and kept, or closed-then-paid and refunded in full: never closed with
    the money kept, never refunded twice."""
    order_no, note_id = _paid_quietly(app, paying, sandbox, "wechat", 4200)
    with app.app_context():
        db.session.execute(update(PaymentOrder).where(PaymentOrder.order_no == order_no)
                           .values(expires_at=utcnow() - dt.timedelta(seconds=1)))
        db.session.commit()

    def race(i: int):
        if i < 4:
            return _deliver(sandbox, live_server, "wechat", note_id).status_code
        with app.app_context():
            try:
                return payments.close_expired()
            finally:
                db.session.remove()

    answers = at_once(6, race)
    assert all(a in (200, 204) for a in answers[:4]), answers
    order = load(app, order_no)
    assert order.status in ("confirmed", "refunding", "refunded"), order.status
    with app.app_context():
        refunds = db.session.scalars(select(Refund).join(PaymentOrder).where(PaymentOrder.order_no == order_no)).all()
        at_channel = payments.channels()["wechat"].query_payment(order_no).state
    if order.status == "confirmed":
        assert refunds == [] and at_channel == "paid"
    else:  # closed first, then the money was recorded as paid after close: one full refund
        assert [r.amount_fen for r in refunds] == [4200] and order.flag == "paid_after_close"


def test_a_stop_racing_the_payment_refunds_once_and_frees_the_place(app, world, live_server, sandbox):
    """The patient pays while the HIS announces 停诊 (three deliveries): one refund, the place back, the
    HIS holds no registration for the trade."""
    from tests.helpers.booking import book, find_slice, order_row

    with app.app_context():
        slc = find_slice()
        schedule_id, slice_id, booked_before = slc.schedule.his_schedule_id, slc.id, slc.booked
        order = book(world["owner"], world["mother"], slc.id)
        user = db.session.get(__import__("app.models", fromlist=["ChannelUser"]).ChannelUser, world["owner"])
        payments.start_payment(order.pay, user.id, user.channel_uid, f"{live_server}/h5/")
    world["his"].stop_schedule(schedule_id, "医生临时停诊")
    event = {"event_id": "E-RACE", "type": "schedule_stopped", "schedule_id": schedule_id, "reason": "医生临时停诊"}

    def race(i: int):
        if i == 0:
            result = sandbox.confirm_payment("wechat", order.pay)
            return "paid" if result is not None and result.delivered else "not-paid"
        return his_post(app, live_server, "/api/his/v1/events", event).status_code

    answers = at_once(4, race)
    assert answers[1:] == [200, 200, 200], answers
    payment = load(app, order.pay)
    if answers[0] == "paid" or payment.status != "closed":
        assert wait_for(lambda: load(app, order.pay).status == "refunded", timeout=30), load(app, order.pay).status
        assert refunded_total(app, order.pay) == payment.amount_fen
        assert not world["his"].trade_status(load(app, order.pay).channel_trade_no).applied
    assert order_row(app, order.id).status in ("stopped", "refunded", "failed")
    with app.app_context():
        assert db.session.get(ScheduleSlice, slice_id).booked == booked_before  # the place is back
        live = db.session.scalar(select(func.count()).select_from(AppointmentOrder).where(
            AppointmentOrder.slice_id == slice_id, AppointmentOrder.status.in_(LIVE)))
        assert live == 0


@pytest.mark.parametrize("channel", ["wechat", "alipay"])
def test_ten_first_deliveries_of_one_payment_at_once_make_one_transition(app, live_server, sandbox, paying,
                                                                           channel):
    """Ten deliveries of a notification nobody has seen yet, at once: ten acknowledgements, one move."""
    from app.models import StateTransition

    order_no, note_id = _paid_quietly(app, paying, sandbox, channel, 990)
    answers = at_once(10, lambda i: _deliver(sandbox, live_server, channel, note_id).status_code)
    assert answers == [200 if channel == "alipay" else 204] * 10, answers
    with app.app_context():
        order = db.session.scalar(select(PaymentOrder).where(PaymentOrder.order_no == order_no))
        moves = db.session.scalars(select(StateTransition.to_status).where(
            StateTransition.order_type == "payment", StateTransition.order_id == order.id,
            StateTransition.to_status == "paid")).all()
    assert moves == ["paid"] and load(app, order_no).status == "confirmed"
