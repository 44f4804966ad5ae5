"""Registration extras (签到, 电子票据, 叫号): a booked and paid order made in-process, and today's afternoon
slice with a place left."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app import clock
from app.extensions import db
from app.models import AppointmentOrder, Department, PaymentOrder, Schedule, ScheduleSlice
from app.registration import commands as registration
from app.payments import commands as payments
from app.services import states as order_states


def book_and_pay(owner_id: int, patient_id: int, slice_id: int, trade_no: str) -> int:
    """A booked, paid order (the channel's notification applied and the HIS confirmation done in-process)."""
    order = registration.book(owner_id, patient_id, slice_id).order
    payment = db.session.scalar(select(PaymentOrder).where(PaymentOrder.appointment_id == order.id))
    order_states.move("payment", payment.id, "created", "paying", actor="test")
    db.session.refresh(payment)
    payments.apply_payment(payment, trade_no=trade_no, amount_fen=payment.amount_fen, paid_at=None, raw={},
                           actor="test")
    db.session.commit()
    payments.confirm_payment(payment.order_no)
    assert db.session.get(AppointmentOrder, order.id).status == "booked"
    return order.id


def todays_afternoon_slice() -> ScheduleSlice:
    found = db.session.scalars(
        select(ScheduleSlice).join(Schedule).join(Department, Department.id == Schedule.department_id)
        .where(Schedule.clinic_date == clock.today(), Schedule.status == "open", Schedule.fee_fen > 0,
               Schedule.half_day == "pm", Department.max_age.is_(None), Department.min_age.is_(None),
               ScheduleSlice.booked < ScheduleSlice.capacity).order_by(ScheduleSlice.start_time)).first()
    if found is None:
        pytest.skip("no afternoon session today in the seeded timetable")
    return found
