"""The factories themselves (tests/factories.py): each row is one its state machine could have left behind,
with the state_transition walk that brought it there, and the columns that state implies."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from sqlalchemy import func, select

from app import clock
from app.extensions import db
from app.models import PaymentOrder, Refund, ScheduleSlice, StateTransition
from app.payments.states import PAYMENT, REFUND, REFUND_IN_FLIGHT, PaymentStatus, RefundStatus
from app.registration.states import APPOINTMENT, ATTENDANCE, LIVE, AppointmentStatus
from tests import factories

TABLES = {"payment": PAYMENT, "refund": REFUND, "appointment": APPOINTMENT}
P, R, A = PaymentStatus, RefundStatus, AppointmentStatus


def _walk(machine: str, row_id: int) -> list[str]:
    rows = db.session.scalars(select(StateTransition).where(StateTransition.order_type == machine,
                                                            StateTransition.order_id == row_id)
                              .order_by(StateTransition.id)).all()
    return [rows[0].from_status] + [r.to_status for r in rows] if rows else []


def assert_walked(machine: str, row) -> None:
    """The row's transitions start at "-", each step is an edge of the machine's table, and end in its status."""
    walk = _walk(machine, row.id)
    assert walk[0] == "-" and walk[-1] == row.status, walk
    for src, dst in itertools.pairwise(walk[1:]):
        assert dst in TABLES[machine][src], (machine, walk, src, dst)


@pytest.mark.parametrize("path", [(m, s, p) for m, paths in (("payment", factories.PAYMENT_PATHS),
                                                              ("refund", factories.REFUND_PATHS),
                                                              ("appointment", factories.APPOINTMENT_PATHS),
                                                              ("appointment", factories.FREE_APPOINTMENT_PATHS))
                                  for s, p in paths.items()], ids=lambda x: f"{x[0]}-{x[1]}")
def test_every_path_is_a_walk_of_its_table(path):
    machine, status, steps = path
    assert steps[-1] == status
    for src, dst in itertools.pairwise(steps):
        assert dst in TABLES[machine][src], (machine, steps)


def test_every_state_has_a_path():
    assert set(factories.PAYMENT_PATHS) == set(PaymentStatus)
    assert set(factories.REFUND_PATHS) == set(RefundStatus)
    assert set(factories.APPOINTMENT_PATHS) == set(AppointmentStatus)


@pytest.fixture()
def someone(ctx):
    return factories.patient(factories.channel_user("wechat"))


@pytest.mark.parametrize("status", list(PaymentStatus))
@pytest.mark.parametrize("kind", ["registration", "outpatient", "deposit"])
def test_a_payment_in_each_state_is_consistent(someone, kind, status):
    order = factories.payment_order(someone, kind=kind, status=status, amount_fen=12345)
    db.session.commit()
    order = db.session.get(PaymentOrder, order.id)
    assert order.status == status and order.kind == kind and order.amount_fen == 12345
    assert order.channel == "wechat" and order.owner_id == someone.owner_id
    assert_walked("payment", order)
    money_in = status not in (P.CREATED, P.PAYING, P.CLOSED)
    assert bool(order.paid_at) == money_in and bool(order.channel_trade_no) == money_in
    assert (order.closed_at is not None) == (status == P.CLOSED)
    if status == P.CLOSED:
        assert order.expires_at <= order.closed_at
    if status in (P.CONFIRMED, P.REFUNDING, P.PARTIALLY_REFUNDED, P.REFUNDED):
        assert order.his_receipt_no
    if status == P.CONFIRM_UNKNOWN:
        assert order.flag == "his_unknown" and order.his_error
    refunds = db.session.scalars(select(Refund).where(Refund.payment_id == order.id)).all()
    for refund in refunds:
        assert_walked("refund", refund)
    succeeded = sum(r.amount_fen for r in refunds if r.status == R.SUCCESS)
    reserved = sum(r.amount_fen for r in refunds if r.status in REFUND_IN_FLIGHT or r.status == R.SUCCESS)
    assert order.refunded_fen == reserved <= order.amount_fen
    if status == P.REFUNDED:
        assert succeeded == order.amount_fen and all(r.succeeded_at for r in refunds)
    elif status == P.PARTIALLY_REFUNDED:
        assert 0 < succeeded < order.amount_fen
    elif status == P.REFUNDING:
        assert any(r.status in REFUND_IN_FLIGHT for r in refunds)
    else:
        assert refunds == []


@pytest.mark.parametrize("status", list(RefundStatus))
def test_a_refund_in_each_state_moves_its_payment_as_the_commands_do(someone, status):
    payment = factories.payment_order(someone, status="confirmed", amount_fen=5000)
    refund = factories.refund(payment, status, amount_fen=2000)
    db.session.commit()
    assert refund.status == status and refund.payment_id == payment.id
    assert_walked("refund", refund)
    payment = db.session.get(PaymentOrder, payment.id)
    assert_walked("payment", payment)
    expected = {R.SUCCESS: (P.PARTIALLY_REFUNDED, 2000), R.FAILED: (P.CONFIRMED, 0)}.get(status, (P.REFUNDING, 2000))
    assert (payment.status, payment.refunded_fen) == expected
    assert bool(refund.succeeded_at) == (status == R.SUCCESS)
    if status == R.FAILED:
        assert refund.failure_reason


def test_refunds_add_up_and_never_exceed_the_payment(someone):
    payment = factories.payment_order(someone, status="confirmed", amount_fen=3000)
    factories.refund(payment, "failed", amount_fen=3000)   # released: the whole amount is still refundable
    factories.refund(payment, "success", amount_fen=1000)
    assert payment.status == P.PARTIALLY_REFUNDED
    factories.refund(payment)                              # the rest
    assert (payment.status, payment.refunded_fen) == (P.REFUNDED, 3000)
    with pytest.raises(ValueError):
        factories.refund(payment, amount_fen=1)            # refunded: nothing left, nothing refundable
    unpaid = factories.payment_order(someone, status="paying")
    with pytest.raises(ValueError):
        factories.refund(unpaid)
    assert_walked("payment", payment)


def test_a_schedule_is_on_the_test_clock_and_its_slices_are_never_overbooked(ctx):
    clock.freeze(dt.datetime(2026, 3, 1, 23, 30))  # 23:30 in Beijing: tomorrow is 03-02 there
    sched = factories.schedule(days_ahead=1, half_day="pm", slices=3, capacity=2, booked=1)
    assert sched.clinic_date == dt.date(2026, 3, 2) and sched.status == "open"
    assert [(s.start_time, s.end_time) for s in sched.slices] == [("14:00", "14:30"), ("14:30", "15:00"),
                                                                 ("15:00", "15:30")]
    assert all(s.booked == 1 and s.capacity == 2 for s in sched.slices)
    with pytest.raises(ValueError):
        factories.schedule_slice(sched, capacity=1, booked=2)
    stopped = factories.schedule(status="stopped")
    assert stopped.status == "stopped" and stopped.stopped_at and stopped.stop_reason
    assert _walk("clinic_session", stopped.id) == ["open", "stopped"]


@pytest.mark.parametrize("status", list(AppointmentStatus))
def test_an_appointment_in_each_state_is_consistent_with_its_slice_and_its_payment(someone, status):
    slc = factories.schedule(capacity=3).slices[0]
    order = factories.appointment_order(someone, status, slc=slc)
    db.session.commit()
    assert order.status == status and order.slice_id == slc.id and order.fee_fen == 1000
    assert_walked("appointment", order)
    holds = status in LIVE or status in ATTENDANCE
    assert db.session.get(ScheduleSlice, slc.id).booked == int(holds)
    assert (order.active_key is not None) == (status in LIVE)
    payment = db.session.scalar(select(PaymentOrder).where(PaymentOrder.appointment_id == order.id))
    if status in (A.HOLDING, A.LOCK_FAILED):
        assert payment is None
        return
    assert payment.kind == "registration" and payment.amount_fen == 1000 and payment.business_ref == order.order_no
    assert_walked("payment", payment)
    assert payment.status == {A.PENDING_PAYMENT: P.PAYING, A.EXPIRED: P.CLOSED, A.PAID: P.PAID,
                              A.FAILED: P.REFUNDING, A.CANCELLED: P.REFUNDING, A.STOPPED: P.REFUNDING,
                              A.REFUNDED: P.REFUNDED}.get(status, P.CONFIRMED)
    assert bool(order.paid_at) == (payment.paid_at is not None)
    assert bool(order.confirmed_at) == (status in (A.BOOKED, A.CANCELLED, A.STOPPED, A.REFUNDED, A.VISITED,
                                                   A.NO_SHOW))


def test_a_free_appointment_is_confirmed_at_once_without_a_payment(someone):
    slc = factories.schedule(fee_fen=0).slices[0]
    order = factories.appointment_order(someone, "booked", slc=slc)
    assert _walk("appointment", order.id) == ["-", "holding", "booked"]
    assert db.session.scalar(select(func.count()).select_from(PaymentOrder)) == 0
    with pytest.raises(ValueError):
        factories.appointment_order(someone, "pending_payment", slc=slc)


def test_a_full_slice_refuses_another_booking(someone):
    slc = factories.schedule(capacity=2, booked=1).slices[0]
    factories.appointment_order(someone, "pending_payment", slc=slc)
    factories.appointment_order(someone, "cancelled", slc=slc)  # ended: gives its place back
    with pytest.raises(ValueError, match="full"):
        factories.appointment_order(someone, "booked", slc=slc)
    assert db.session.get(ScheduleSlice, slc.id).booked == 2


def test_bill_payments_and_reconciliation_rows(someone):
    payment = factories.payment_order(someone, status="confirmed", amount_fen=980 + 2 * 500)
    bill = factories.bill_payment(payment, items=((1, 980), (2, 500)))
    assert bill.amount_fen == payment.amount_fen and bill.receipt_no and bill.card_no == someone.card_no
    run = factories.reconciliation_run("alipay", dt.date(2026, 11, 20))
    item = factories.reconciliation_item(run, "local_only", "MZ1", local_amount_fen=1200)
    assert (item.run_id, item.channel_trade_no, run.status) == (run.id, "TMZ1", "done")
