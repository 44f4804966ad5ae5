"""找医生: search departments and doctors by name or specialty; a doctor's page with the next open slices;
the department order (setting ``departments.order``, 产科 and 儿科 first by default); and the
booking pages' reads: the bookable slice, the account's orders and their history, 改约 slots."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable
from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import and_, bindparam, case, func, or_, select
from sqlalchemy.orm import joinedload

from app.extensions import db
from app.identity.patients import BookingPatient
from app.identity.states import PatientStatus
from app.models import (
    AppointmentOrder,
    ChannelUser,
    Department,
    Doctor,
    Patient,
    PaymentOrder,
    Refund,
    Schedule,
    ScheduleSlice,
    StateTransition,
)
from app.registration import rules
from app.registration.rules import hospital_now, open_dates, slot_start
from app.registration.states import LIVE
from app.registration.states import AppointmentStatus as A
from app.services import uow
from app.services.errors import Forbidden, NotFound
from app.services.settings import setting_text
from app.services.states import SessionStatus


MAX_QUERY = 30


def department_order() -> dict[str, int]:
    return rules.department_rank(setting_text("departments.order"))


def sort_departments(departments: list[Department]) -> list[Department]:
    """Top-level departments in the hospital's order (named codes first), then the HIS's own order."""
    rank = department_order()
    return sorted(departments, key=lambda d: (rank.get(d.code, len(rank)), d.sort, d.code))


@dataclass(frozen=True)
class SearchResult:
    departments: list[Department]
    doctors: list[Doctor]


def search(text: str, limit: int = 30) -> SearchResult:
    """Departments and doctors whose name (Chinese or English), specialty or introduction contains ``text``
    (Chinese: its characters in order); those containing it as written come first."""
    text = (text or "").strip()[:MAX_QUERY]
    if not text:
        return SearchResult([], [])
    text = text.replace("%", "").replace("_", "")
    if not text:  # only wildcards typed: nothing to look for
        return SearchResult([], [])
    like, typed = _search_pattern(text), f"%{text}%"

    def found(*fields):
        """(where, order): any field matching, those containing the query as typed first (before ``limit``)."""
        return or_(*(f.ilike(like) for f in fields)), case((or_(*(f.ilike(typed) for f in fields)), 0), else_=1)

    where, first = found(Department.name, Department.name_en, Department.intro)
    departments = list(db.session.scalars(select(Department).where(Department.is_active.is_(True), where)
                                          .order_by(first, Department.sort).limit(limit)))
    where, first = found(Doctor.name, Doctor.name_en, Doctor.specialty, Doctor.intro, Doctor.title)
    doctors = list(db.session.scalars(select(Doctor).where(Doctor.is_active.is_(True), where)
                                      .order_by(first, Doctor.department_id, Doctor.code).limit(limit)))
    return SearchResult(departments, doctors)


def _search_pattern(text: str) -> str:
    """LIKE pattern of a query. Patients shorten Chinese terms (产检 for 产前检查, 儿童发育 for 儿童生长发育),
    so a query of Chinese characters only matches them in order, not necessarily side by side."""
    if all("\u4e00" <= ch <= "\u9fff" for ch in text):
        return "%" + "%".join(text) + "%"
    return f"%{text}%"


def doctor(doctor_id: int) -> Doctor | None:
    found = db.session.get(Doctor, doctor_id)
    return found if found is not None and found.is_active else None


def next_slices(doctor_id: int, limit: int = 8) -> list[ScheduleSlice]:
    return next_open_slots(doctor_id, limit=limit)


def bookable_slice(slice_id: int | str) -> ScheduleSlice:
    try:
        sid = int(slice_id)
    except (TypeError, ValueError):
        raise NotFound(_("号源不存在")) from None
    slc = db.session.scalar(select(ScheduleSlice).where(ScheduleSlice.id == sid).options(
        joinedload(ScheduleSlice.schedule).joinedload(Schedule.doctor),
        joinedload(ScheduleSlice.schedule).joinedload(Schedule.department)))
    if slc is None:
        raise NotFound(_("号源不存在"))
    return slc


@dataclass(frozen=True, slots=True)
class BookingSlice:
    """What a booking reads of a slice, its session (``schedule_id`` …), doctor and department, as plain
    values: the same names as the ORM rows' where they are the same thing (``doctor_id``, ``clinic_date``,
    ``half_day``), so the rules read either."""

    id: int
    his_slice_id: str
    start_time: str
    end_time: str
    capacity: int
    booked: int
    schedule_id: int
    status: str            # the session's: open | stopped
    fee_fen: int
    clinic_date: dt.date
    half_day: str
    doctor_id: int
    department_id: int
    doctor_name: str
    department_name: str
    #: the department's sex and age rules, then its parent's, …: (allowed_gender, min_age, max_age)
    restrictions: tuple[tuple[str | None, int | None, int | None], ...]


@dataclass(frozen=True, slots=True)
class BookingFacts:
    """Everything the booking's rules read before the hold, from one statement."""

    slice: BookingSlice
    patient: BookingPatient
    counts: rules.PatientCounts


@functools.cache
def _booking_facts_statement():
    """One Core SELECT, built once (its cache key kept with it): the slice with its session, doctor and
    department (and the parent department's sex/age rule); the account's bound patient with the account's
    channel (NULL for another account's patient); the patient's orders as the limits count them."""
    s, sch, doc, dep = (ScheduleSlice.__table__, Schedule.__table__, Doctor.__table__, Department.__table__)
    p, u = Patient.__table__, ChannelUser.__table__
    parent = dep.alias("parent_department")
    return (select(s.c.id, s.c.his_slice_id, s.c.start_time, s.c.end_time, s.c.capacity, s.c.booked,
                   sch.c.id.label("schedule_id"), sch.c.status, sch.c.fee_fen, sch.c.clinic_date, sch.c.half_day,
                   sch.c.doctor_id, sch.c.department_id, doc.c.name.label("doctor_name"),
                   dep.c.name.label("department_name"), dep.c.allowed_gender, dep.c.min_age, dep.c.max_age,
                   dep.c.parent_id, parent.c.allowed_gender.label("parent_gender"),
                   parent.c.min_age.label("parent_min_age"), parent.c.max_age.label("parent_max_age"),
                   parent.c.parent_id.label("grandparent_id"),
                   p.c.id.label("patient_id"), p.c.card_no, p.c.gender, p.c.birth_date, u.c.channel,
                   *rules.limit_count_columns(sch.c.doctor_id, sch.c.clinic_date, sch.c.half_day))
            # the patient joined to the slice first: a join of two tables is what the cartesian-product
            # check of SQLAlchemy's MySQL compiler recognises when the condition names no column of the slice
            .select_from(s.outerjoin(p, and_(p.c.id == bindparam("patient_id"), p.c.owner_id == bindparam("owner_id"),
                                             p.c.status == PatientStatus.BOUND))
                         .outerjoin(u, u.c.id == p.c.owner_id)
                         .join(sch, sch.c.id == s.c.schedule_id).join(doc, doc.c.id == sch.c.doctor_id)
                         .join(dep, dep.c.id == sch.c.department_id)
                         .outerjoin(parent, parent.c.id == dep.c.parent_id))
            .where(s.c.id == bindparam("slice_id")))


def booking_facts(owner_id: int, patient_id: int | str | None, slice_id: int | str, today: dt.date,
                  since: dt.date) -> BookingFacts:
    """What the booking checks, in one statement: the slice (404 when none), the account's patient
    (Forbidden, answered as 404, alike for another account's patient and for no such patient) and its
    orders counted for the limits from ``today`` and the no-show window's ``since``."""
    try:
        sid = int(slice_id)
    except (TypeError, ValueError):
        raise NotFound(_("号源不存在")) from None
    try:
        pid = int(patient_id)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise Forbidden(_("就诊人不存在")) from None
    row = uow.execute(_booking_facts_statement(), {"slice_id": sid, "patient_id": pid, "owner_id": owner_id,
                                                   "today": today, "since": since}).first()
    if row is None:
        raise NotFound(_("号源不存在"))
    if row.patient_id is None:
        raise Forbidden(_("就诊人不存在"))
    restrictions = [(row.allowed_gender, row.min_age, row.max_age)]
    if row.parent_id is not None:
        restrictions.append((row.parent_gender, row.parent_min_age, row.parent_max_age))
        above = row.grandparent_id
        dep = Department.__table__
        while above is not None:  # a tree deeper than two levels: one more row a level
            up = uow.execute(select(dep.c.allowed_gender, dep.c.min_age, dep.c.max_age, dep.c.parent_id)
                                    .where(dep.c.id == above)).first()
            if up is None:
                break
            restrictions.append((up.allowed_gender, up.min_age, up.max_age))
            above = up.parent_id
    return BookingFacts(
        BookingSlice(row.id, row.his_slice_id, row.start_time, row.end_time, row.capacity, row.booked,
                     row.schedule_id, row.status, row.fee_fen, row.clinic_date, row.half_day, row.doctor_id,
                     row.department_id, row.doctor_name, row.department_name, tuple(restrictions)),
        BookingPatient(row.patient_id, row.card_no, row.gender, row.birth_date, row.channel),
        rules.PatientCounts(row.no_shows, row.last_no_show, row.same_session, row.live))


def describe(order: AppointmentOrder) -> str:
    return describe_parts(db.session.get(Department, order.department_id), db.session.get(Doctor, order.doctor_id),
                           order.clinic_date, order.start_time)


def describe_parts(dept: Department | None, doctor: Doctor | None, clinic_date: dt.date, start_time: str) -> str:
    return describe_names(dept.name if dept else "", doctor.name if doctor else "", clinic_date, start_time)


def describe_names(department_name: str, doctor_name: str, clinic_date: dt.date, start_time: str) -> str:
    """The payment's description of a registration fee."""
    return f"挂号费 {department_name} {doctor_name} {clinic_date:%m-%d} {start_time}"


# -- orders -----------------------------------------------------------------------------------------

def owned_order(owner_id: int, order_id: int | str) -> AppointmentOrder:
    """The account's appointment order, or 404 (another account's is indistinguishable from none)."""
    try:
        oid = int(order_id)
    except (TypeError, ValueError):
        raise Forbidden(_("订单不存在")) from None
    order = db.session.get(AppointmentOrder, oid)
    if order is None or order.owner_id != owner_id:
        raise Forbidden(_("订单不存在"))
    return order


#: filters on the orders page: name -> states
ORDER_FILTERS = {
    "all": None,
    "pending": (A.HOLDING, A.PENDING_PAYMENT, A.PAID),
    "booked": (A.BOOKED,),
    "done": (A.VISITED, A.NO_SHOW),
    "cancelled": (A.CANCELLED, A.STOPPED, A.EXPIRED, A.FAILED, A.LOCK_FAILED, A.REFUNDED),
}


def orders_of(owner_id: int, filter_name: str = "all", limit: int = 100) -> list[AppointmentOrder]:
    """The account's booking orders, newest first, optionally one filter of ``ORDER_FILTERS``."""
    wanted = ORDER_FILTERS.get(filter_name)
    query = select(AppointmentOrder).where(AppointmentOrder.owner_id == owner_id)
    if wanted:
        query = query.where(AppointmentOrder.status.in_(wanted))
    return list(db.session.scalars(query.order_by(AppointmentOrder.created_at.desc(), AppointmentOrder.id.desc())
                                   .limit(limit)))


def history(order: AppointmentOrder) -> list[StateTransition]:
    """Every step of the order (the appointment's and its payment's and refunds'), oldest first."""
    payment_ids = list(db.session.scalars(select(PaymentOrder.id).where(PaymentOrder.appointment_id == order.id)))
    refund_ids = list(db.session.scalars(select(Refund.id).where(Refund.payment_id.in_(payment_ids)))) \
        if payment_ids else []
    clauses = [(StateTransition.order_type == "appointment") & (StateTransition.order_id == order.id)]
    if payment_ids:
        clauses.append((StateTransition.order_type == "payment") & StateTransition.order_id.in_(payment_ids))
    if refund_ids:
        clauses.append((StateTransition.order_type == "refund") & StateTransition.order_id.in_(refund_ids))
    return list(db.session.scalars(select(StateTransition).where(or_(*clauses))
                                   .order_by(StateTransition.at, StateTransition.id)))


def payment_of(order: AppointmentOrder) -> PaymentOrder | None:
    return db.session.scalar(select(PaymentOrder).where(PaymentOrder.appointment_id == order.id)
                             .order_by(PaymentOrder.id.desc()).limit(1))


def can_rebook(order: AppointmentOrder) -> bool:
    """一键改约 is offered for a booking ended by a 停诊, also once its fee is refunded (the refund follows
    the stop within seconds: 已停诊 alone would hide the button), until the patient has rebooked it."""
    if order.status not in (A.STOPPED, A.REFUNDED):
        return False
    stopped = db.session.scalar(select(func.count()).select_from(StateTransition).where(
        StateTransition.order_type == "appointment", StateTransition.order_id == order.id,
        StateTransition.to_status == A.STOPPED))
    if not stopped:
        return False
    rebooked = db.session.scalar(select(func.count()).select_from(AppointmentOrder).where(
        AppointmentOrder.rebooked_from_id == order.id, AppointmentOrder.status.in_((A.PENDING_PAYMENT, A.BOOKED))))
    return not rebooked


# -- 改约: the doctor's next open slots -------------------------------------------------------------

def next_open_slots(doctor_id: int, limit: int = 12, now: dt.datetime | None = None) -> list[ScheduleSlice]:
    """The doctor's next slices with places left, in the open booking window, soonest first."""
    now = now or hospital_now()
    dates = open_dates(now)
    if not dates:
        return []
    slices = db.session.scalars(
        select(ScheduleSlice).join(Schedule).where(
            Schedule.doctor_id == doctor_id, Schedule.status == SessionStatus.OPEN,
            Schedule.clinic_date >= dates[0], Schedule.clinic_date <= dates[-1],
            ScheduleSlice.booked < ScheduleSlice.capacity)
        .options(joinedload(ScheduleSlice.schedule))
        .order_by(Schedule.clinic_date, ScheduleSlice.start_time)).all()  # start times order 上午/下午/晚上
    return [s for s in slices if slot_start(s.schedule.clinic_date, s.end_time) > now][:limit]


def active_orders_for(slice_ids: Iterable[int]) -> int:
    """How many live orders hold places in these slices (for checks and the benchmark)."""
    ids = list(slice_ids)
    if not ids:
        return 0
    return db.session.scalar(select(func.count(AppointmentOrder.id)).where(
        AppointmentOrder.slice_id.in_(ids), AppointmentOrder.status.in_(LIVE))) or 0
