"""Evening sessions (晚上, the 儿科夜诊 18:00-21:00): the department page, the doctor page, booking, the
cancel cut-off and 改约 treat them as the day's last session, never alphabetically ("evening" < "pm")."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from app.extensions import db
from app.models import ChannelUser, Department, Schedule, ScheduleSlice
from app.services import settings
from app.registration import schedules
from app.registration.rules import can_cancel, hospital_now, open_dates, registration_kind, slot_start
from app.registration.queries import next_open_slots, owned_order
from tests import factories
from tests.helpers.attendance import booked


def an_evening() -> ScheduleSlice:
    """The first open 夜诊 slice with a place left, tomorrow or later in the booking window."""
    found = db.session.scalars(select(ScheduleSlice).join(Schedule).where(
        Schedule.half_day == "evening", Schedule.status == "open",
        Schedule.clinic_date > hospital_now().date(), Schedule.clinic_date <= open_dates()[-1],
        ScheduleSlice.booked < ScheduleSlice.capacity).order_by(Schedule.clinic_date, ScheduleSlice.start_time)).first()
    assert found is not None, "the seeded HIS has 儿科夜诊 slots in the window"
    return found


def give_day_sessions(evening: Schedule) -> None:
    """Make sure the 夜诊 doctor also has open 上午 and 下午 sessions with a place left that day (added
    here when the timetable has none), so the order of the three can be seen."""
    for half, start, end in (("am", "11:50", "12:00"), ("pm", "17:20", "17:30")):
        sched = db.session.scalar(select(Schedule).where(
            Schedule.doctor_id == evening.doctor_id, Schedule.clinic_date == evening.clinic_date,
            Schedule.half_day == half))
        if sched is None:
            sched = factories.schedule(doc=evening.doctor, department_id=evening.department_id,
                                       clinic_date=evening.clinic_date, half_day=half, fee_fen=evening.fee_fen,
                                       slices=0)
        sched.status = "open"
        db.session.flush()
        factories.schedule_slice(sched, start_time=start, end_time=end, capacity=2)
    db.session.commit()


def test_pages_list_the_evening_clinic_after_the_afternoon(app, client, world):
    with app.app_context():
        slc = an_evening()
        evening = slc.schedule
        give_day_sessions(evening)
        day, doctor_id, doctor_code = evening.clinic_date, evening.doctor_id, evening.doctor.code
        dept_id, slice_id = evening.department_id, slc.id
        parent_id = evening.department.parent_id
        assert [d.schedule.half_day for d in schedules.doctor_day(doctor_id, day, hospital_now())] == [
            "am", "pm", "evening"]
        sessions = schedules.doctor_sessions(dept_id, day)
        ranks = [schedules.half_day_rank(s.schedule.half_day) for s in sessions]
        assert ranks == sorted(ranks) and sessions[-1].schedule.half_day == "evening"
    for dept in (dept_id, parent_id):  # 儿科门诊 and its parent 儿科
        page = client.get(f"/h5/booking/departments/{dept}?date={day.isoformat()}").get_data(as_text=True)
        evening_row = page.index(f'data-doctor="{doctor_code}" data-half="evening"')
        assert page.index(">下午<") < page.index(">晚上<") < evening_row
    page = client.get(f"/h5/booking/doctors/{doctor_id}?date={day.isoformat()}").get_data(as_text=True)
    assert page.index('data-session="am"') < page.index('data-session="pm"') < page.index('data-session="evening"')
    assert f"/h5/booking/slices/{slice_id}/confirm" in page and "晚上 · 挂号费" in page


def test_a_child_books_the_evening_clinic_and_the_cut_off_is_an_hour_before_its_slice(app, client, world):
    with app.app_context():
        slc = an_evening()
        order = booked(world["his"], world["owner"], world["child"], slc)
        assert order.half_day == "evening" and order.start_time >= "18:00"
        assert f"晚上 {order.start_time}-{order.end_time}" in order.guidance  # the HIS's own line
        start = slot_start(order.clinic_date, order.start_time)
        rules = settings.booking_rules()  # cancel until 60 minutes before the slice
        assert can_cancel(order, now=start - dt.timedelta(minutes=61), rules=rules)
        assert not can_cancel(order, now=start - dt.timedelta(minutes=59), rules=rules)
        assert registration_kind(order.clinic_date, order.start_time, order.end_time,
                                         start - dt.timedelta(hours=3), rules) == "same_day"
        factories.login(client, db.session.get(ChannelUser, world["owner"]))
        order_id = order.id
    detail = client.get(f"/h5/booking/orders/{order_id}").get_data(as_text=True)
    assert "data-cancel" in detail and "晚上" in detail
    assert client.post(f"/h5/booking/orders/{order_id}/cancel").status_code == 303
    with app.app_context():
        assert owned_order(world["owner"], order_id).status == "cancelled"


def test_rebooking_offers_the_evening_after_the_afternoon(app, world):
    with app.app_context():
        evening = an_evening().schedule
        give_day_sessions(evening)
        slots = next_open_slots(evening.doctor_id, limit=1000)
        keys = [(s.schedule.clinic_date, s.start_time) for s in slots]
        assert keys == sorted(keys)
        halves = [s.schedule.half_day for s in slots if s.schedule.clinic_date == evening.clinic_date]
        assert halves == sorted(halves, key=schedules.half_day_rank) and {"am", "pm", "evening"} <= set(halves)
        assert db.session.scalar(select(Department.code).where(Department.id == evening.department_id)) == "PD01"
