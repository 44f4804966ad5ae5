"""Departments, doctors, clinic sessions (号源) and time slices, synced from the HIS; the pages' queries.

The HIS owns the timetable; the platform keeps a copy so that browsing never waits for the HIS and
so that its own slot counter (``schedule_slice.booked``) can turn a crowd away in the database.
A sync never frees places by force: it adjusts a slice's count only if no booking moved it since
it was read (``WHERE booked = :seen``), so a sync racing a booking changes nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

from sqlalchemy import case, func, or_, select, update
from sqlalchemy.orm import joinedload

from app import clock
from app.extensions import db
from app.models import Department, Doctor, Schedule, ScheduleSlice
from app.models.base import utcnow
from app.models.schedules import HALF_DAYS
from app.services.his_access import his_gateway
from app.services.settings import booking_rules
from app.services.states import SessionStatus
from app.services.uow import transaction

log = logging.getLogger("schedules")

#: restrictions given to a department the first time it is seen (staff may change them later):
#: top-level HIS code -> (allowed gender, min age, max age)
DEFAULT_RESTRICTIONS: dict[str, tuple[str | None, int | None, int | None]] = {
    "OB": ("F", None, None),   # 产科
    "GY": ("F", None, None),   # 妇科
    "PD": (None, None, 17),    # 儿科: under 18
    "CH": (None, None, 17),    # 儿童保健
    "NB": (None, None, 0),     # 新生儿科: first year
    "DN01": (None, None, 17),  # 儿童口腔
    "BR02": ("F", None, None),  # 哺乳期乳腺
}


@dataclass
class SyncReport:
    departments: int = 0
    doctors: int = 0
    schedules: int = 0
    slices: int = 0
    adjusted: int = 0
    stopped: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        return [f"schedules synced: departments +{self.departments}, doctors +{self.doctors}, sessions "
                f"+{self.schedules}, slices +{self.slices}, counts adjusted {self.adjusted}, "
                f"stopped {len(self.stopped)}"]


def _restriction(code: str, parent_code: str | None) -> tuple[str | None, int | None, int | None]:
    return DEFAULT_RESTRICTIONS.get(code) or DEFAULT_RESTRICTIONS.get(parent_code or "") or (None, None, None)


def sync_from_his(days: int | None = None, today: dt.date | None = None) -> SyncReport:
    """Copy the HIS's departments, doctors and the sessions of the booking window; idempotent.

    A session the HIS reports stopped that is still open here goes through ``registration.commands.stop_clinic``,
    so a 停诊 event that never arrived is still acted on. The copy is one unit of work; each stop is its own.
    """
    from app.registration.commands import stop_clinic
    from app.registration.rules import hospital_now

    today = today or hospital_now().date()
    days = booking_rules().days_ahead if days is None else days
    report, sessions = _copy_timetable(his_gateway(), today, days)
    for schedule_id in report.stopped:
        stopped = next(x for x in sessions if x.schedule_id == schedule_id)
        stop_clinic(schedule_id, stopped.stop_reason or "停诊", actor="system:sync")
    log.info("%s", report.lines()[0])
    return report


@transaction
def _copy_timetable(his, today: dt.date, days: int) -> tuple[SyncReport, list]:
    """The HIS's departments, doctors and sessions copied in one unit of work (no 停诊 acted on here)."""
    report = SyncReport()
    depts = {d.code: d for d in db.session.scalars(select(Department))}
    his_depts = his.list_departments()
    for sort, item in enumerate(his_depts):
        row = depts.get(item.code)
        if row is None:
            gender, min_age, max_age = _restriction(item.code, item.parent_code)
            row = Department(code=item.code, name=item.name, sort=sort, allowed_gender=gender, min_age=min_age,
                             max_age=max_age)
            db.session.add(row)
            depts[item.code] = row
            report.departments += 1
        row.name, row.location, row.intro, row.sort, row.is_active = (
            item.name, item.location, item.description, sort, True)
    db.session.flush()
    for item in his_depts:
        depts[item.code].parent_id = depts[item.parent_code].id if item.parent_code in depts else None

    doctors = {d.code: d for d in db.session.scalars(select(Doctor))}
    for item in his.list_doctors():
        row = doctors.get(item.code)
        if row is None:
            row = Doctor(code=item.code, name=item.name, department_id=depts[item.department_code].id)
            db.session.add(row)
            doctors[item.code] = row
            report.doctors += 1
        row.name, row.title, row.specialty, row.fee_fen = item.name, item.title, item.specialty, item.fee_fen
        row.department_id, row.is_active = depts[item.department_code].id, True
    db.session.flush()

    sessions = his.list_schedules(today, today + dt.timedelta(days=max(days, 0)))
    known = {s.his_schedule_id: s for s in db.session.scalars(
        select(Schedule).where(Schedule.his_schedule_id.in_([x.schedule_id for x in sessions])))} if sessions else {}
    slices = {s.his_slice_id: s for s in db.session.scalars(
        select(ScheduleSlice).where(ScheduleSlice.schedule_id.in_([s.id for s in known.values()])))} if known else {}
    now = utcnow()
    for item in sessions:
        sched = known.get(item.schedule_id)
        if sched is None:
            sched = Schedule(his_schedule_id=item.schedule_id, doctor_id=doctors[item.doctor_code].id,
                             department_id=depts[item.department_code].id, clinic_date=item.clinic_date,
                             half_day=item.half_day, fee_fen=item.fee_fen, status=item.status,
                             stop_reason=item.stop_reason,
                             stopped_at=now if item.status == SessionStatus.STOPPED else None)
            db.session.add(sched)
            db.session.flush()
            report.schedules += 1
        elif sched.status == SessionStatus.OPEN and item.status == SessionStatus.STOPPED:
            report.stopped.append(item.schedule_id)
        sched.fee_fen, sched.synced_at = item.fee_fen, now
        for ts in item.slices:
            taken = ts.capacity - ts.remaining
            row = slices.get(ts.slice_id)
            if row is None:
                db.session.add(ScheduleSlice(schedule_id=sched.id, his_slice_id=ts.slice_id, start_time=ts.start,
                                             end_time=ts.end, capacity=ts.capacity,
                                             booked=min(max(taken, 0), ts.capacity)))
                report.slices += 1
            elif row.booked != taken or row.capacity != ts.capacity:
                # optimistic: only if no booking moved the count since we read it
                new_booked = min(max(taken, 0), ts.capacity)
                result = db.session.execute(
                    update(ScheduleSlice).where(ScheduleSlice.id == row.id, ScheduleSlice.booked == row.booked)
                    .values(booked=new_booked, capacity=ts.capacity).execution_options(synchronize_session=False))
                report.adjusted += result.rowcount
    return report, sessions


# -- what the pages show ------------------------------------------------------------------------

def half_day_rank(half_day: str) -> int:
    """A session's place in the day: 上午 0, 下午 1, 晚上 2 (never alphabetical: "evening" < "pm")."""
    return HALF_DAYS.index(half_day) if half_day in HALF_DAYS else len(HALF_DAYS)


@dataclass(frozen=True)
class DepartmentNode:
    department: Department
    remaining: int                     # places left in the booking window (this node and its children)
    children: tuple[DepartmentNode, ...]

    @property
    def bookable(self) -> bool:
        return self.remaining > 0


def _not_over():
    """A slice still to come: a later day, or today's ending after now (HH:MM strings sort as times).
    In the evening today's morning slices keep their places unbooked; they are not 余号."""
    now = clock.beijing_now()
    return or_(Schedule.clinic_date > now.date(), ScheduleSlice.end_time > now.strftime("%H:%M"))


def _remaining_by_department(dates: list[dt.date]) -> dict[int, int]:
    if not dates:
        return {}
    rows = db.session.execute(
        select(Schedule.department_id, func.sum(ScheduleSlice.capacity - ScheduleSlice.booked))
        .join(ScheduleSlice, ScheduleSlice.schedule_id == Schedule.id)
        .where(Schedule.status == SessionStatus.OPEN, Schedule.clinic_date >= dates[0],
               Schedule.clinic_date <= dates[-1], _not_over())
        .group_by(Schedule.department_id)).all()
    return {dept_id: int(total or 0) for dept_id, total in rows}


def department_tree(dates: list[dt.date]) -> list[DepartmentNode]:
    """Top-level departments with their children, each with the places left on ``dates``."""
    remaining = _remaining_by_department(dates)
    all_depts = list(db.session.scalars(select(Department).where(Department.is_active.is_(True))
                                        .order_by(Department.sort, Department.code)))
    children: dict[int | None, list[Department]] = {}
    for dept in all_depts:
        children.setdefault(dept.parent_id, []).append(dept)

    def build(dept: Department) -> DepartmentNode:
        kids = tuple(build(c) for c in children.get(dept.id, []))
        return DepartmentNode(dept, remaining.get(dept.id, 0) + sum(k.remaining for k in kids), kids)

    from app.registration.queries import sort_departments  # the hospital's order (产科, 儿科 first)

    return [build(d) for d in sort_departments(children.get(None, []))]


def department_remaining(department_id: int, dates: list[dt.date]) -> int:
    """Places left in the booking window in a department and its children."""
    remaining = _remaining_by_department(dates)
    ids = [department_id, *db.session.scalars(select(Department.id).where(Department.parent_id == department_id))]
    return sum(remaining.get(i, 0) for i in ids)


def department(department_id: int | str) -> Department | None:
    try:
        return db.session.get(Department, int(department_id))
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class DoctorSession:
    schedule: Schedule
    doctor: Doctor
    remaining: int
    over: bool = False                 # every slice of it has ended (say 已结束, not 约满)


def doctor_sessions(department_id: int, day: dt.date) -> list[DoctorSession]:
    """Sessions of a department (and its children) on one day, by half-day then doctor."""
    ids = [department_id, *db.session.scalars(select(Department.id).where(Department.parent_id == department_id))]
    rows = db.session.execute(
        select(Schedule, func.sum(case((_not_over(), ScheduleSlice.capacity - ScheduleSlice.booked), else_=0)),
               func.max(ScheduleSlice.end_time))
        .join(ScheduleSlice, ScheduleSlice.schedule_id == Schedule.id)
        .where(Schedule.department_id.in_(ids), Schedule.clinic_date == day)
        .options(joinedload(Schedule.doctor))
        .group_by(Schedule.id)).all()
    now = clock.beijing_now()
    sessions = [DoctorSession(s, s.doctor, int(r or 0) if s.status == SessionStatus.OPEN else 0,
                              over=day < now.date() or (day == now.date() and (last or "") <= now.strftime("%H:%M")))
                for s, r, last in rows]
    return sorted(sessions, key=lambda x: (half_day_rank(x.schedule.half_day), x.doctor.code))


@dataclass(frozen=True)
class SlotView:
    """One time slice as the slot picker shows it: plain values, no ORM object per slice."""

    id: int
    start_time: str
    end_time: str
    remaining: int
    past: bool

    @property
    def open(self) -> bool:
        return self.remaining > 0 and not self.past


@dataclass(frozen=True)
class DaySession:
    schedule: Schedule
    slots: tuple[SlotView, ...]


def doctor_day(doctor_id: int, day: dt.date, now: dt.datetime) -> list[DaySession]:
    """A doctor's sessions on one day with their slices (the slot picker), ``now`` in hospital time.

    The busiest page of a release morning, so it costs two narrow queries: the sessions (with the
    doctor and department), then the slices as bare columns; a slice is past once its end is."""
    sessions = list(db.session.scalars(
        select(Schedule).where(Schedule.doctor_id == doctor_id, Schedule.clinic_date == day)
        .options(joinedload(Schedule.doctor).joinedload(Doctor.department))).unique())
    if not sessions:
        return []
    today, clock = now.date(), now.strftime("%H:%M")
    slots: dict[int, list[SlotView]] = {s.id: [] for s in sessions}
    for schedule_id, slice_id, start, end, remaining in db.session.execute(
            select(ScheduleSlice.schedule_id, ScheduleSlice.id, ScheduleSlice.start_time, ScheduleSlice.end_time,
                   ScheduleSlice.capacity - ScheduleSlice.booked)
            .where(ScheduleSlice.schedule_id.in_(slots))
            .order_by(ScheduleSlice.schedule_id, ScheduleSlice.start_time)):
        past = day < today or (day == today and end <= clock)  # HH:MM strings sort as times
        slots[schedule_id].append(SlotView(slice_id, start, end, int(remaining), past))
    return sorted((DaySession(s, tuple(slots[s.id])) for s in sessions),
                  key=lambda d: half_day_rank(d.schedule.half_day))  # 上午, 下午, 晚上
