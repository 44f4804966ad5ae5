"""Attendance (就诊情况): an open slice chosen by half day or day, and a booked order of a zero-fee session
(confirmed at the HIS at once, no payment)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update

from app.extensions import db
from app.models import AppointmentOrder, Department, Schedule, ScheduleSlice
from app.registration import commands as registration
from app.registration import rules as registration_rules
from doubles.his.simulator.models import ScheduleRow


def open_slice(*, half: str | None = None, day: dt.date | None = None, dept_codes=None, restricted=False,
               not_schedules=()) -> ScheduleSlice | None:
    """An open slice with a place left, from tomorrow to the end of the booking window."""
    today = registration_rules.hospital_now().date()
    q = (select(ScheduleSlice).join(Schedule).join(Department, Department.id == Schedule.department_id)
         .where(Schedule.status == "open", Schedule.fee_fen > 0, Schedule.clinic_date > today,
                Schedule.clinic_date <= registration_rules.open_dates()[-1],
                ScheduleSlice.booked < ScheduleSlice.capacity)
         .order_by(Schedule.clinic_date, ScheduleSlice.start_time, ScheduleSlice.id))
    if half:
        q = q.where(Schedule.half_day == half)
    if day:
        q = q.where(Schedule.clinic_date == day)
    if dept_codes:
        q = q.where(Department.code.in_(dept_codes))
    elif not restricted:
        q = q.where(Department.max_age.is_(None), Department.min_age.is_(None))
    if not_schedules:
        q = q.where(Schedule.id.not_in(list(not_schedules)))
    return db.session.scalars(q).first()


def make_free(his, slc: ScheduleSlice) -> None:
    """A zero-fee session: booking confirms at the HIS at once (a real registration, no payment)."""
    db.session.execute(update(Schedule).where(Schedule.id == slc.schedule_id).values(fee_fen=0))
    db.session.commit()
    with his.unit() as s:
        s.execute(update(ScheduleRow).where(ScheduleRow.schedule_id == slc.schedule.his_schedule_id)
                  .values(fee_fen=0))


def booked(his, owner_id: int, patient_id: int, slc: ScheduleSlice) -> AppointmentOrder:
    make_free(his, slc)
    order = registration.book(owner_id, patient_id, slc.id).order
    assert order.status == "booked" and order.his_lock_id and order.his_visit_no
    return order
