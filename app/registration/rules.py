"""Registration's rules: the booking window (放号, 当天挂号), who may book (department restrictions, the
no-show bar, one number per session, the live limit), the cancel cut-off, attendance timing; and the pure
ones: the check-in window, the distance to the hospital, the department order, the queue reminder."""

from __future__ import annotations

import datetime as dt
import functools
import math
from collections.abc import Iterable, Iterator
from typing import NamedTuple

from flask_babel import gettext as _
from sqlalchemy import bindparam, case, func, select

from app import clock
from app.extensions import db
from app.his.interface import LOCK_MINUTES
from app.models import (
    AppointmentOrder,
    Department,
    Patient,
    Schedule,
    ScheduleSlice,
)
from app.registration.states import LIVE
from app.registration.states import AppointmentStatus as A
from app.services import uow
from app.services.errors import Conflict, DomainError
from app.services.settings import BookingRules, booking_rules
from app.his.interface import QueueStatus


#: the hospital's department order by default: 产科 and 儿科 first (the setting ``departments.order``)
EARTH_RADIUS_M = 6371000


def checkin_window(clinic_date: dt.date, start: str, end: str, before_minutes: int) -> tuple[dt.datetime, dt.datetime]:
    """[opens, closes) in Beijing time: from ``before_minutes`` before the slice starts until it ends."""
    def at(hhmm: str) -> dt.datetime:
        hour, minute = (int(p) for p in hhmm.split(":"))
        return dt.datetime.combine(clinic_date, dt.time(hour, minute))

    return at(start) - dt.timedelta(minutes=before_minutes), at(end)


def distance_m(lat1: float, lng1: float, lat2: float, lng2: float) -> int:
    """Great-circle distance in metres (haversine; GCJ-02 and WGS-84 differ by a few hundred metres at
    most, well inside any sensible check-in radius)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return round(2 * EARTH_RADIUS_M * math.asin(math.sqrt(a)))


def department_rank(order_setting: str) -> dict[str, int]:
    """Code -> position for the setting "OB,PD,CH,…"; departments not named come after, in the HIS's order."""
    codes = [c.strip().upper() for c in (order_setting or "").split(",") if c.strip()]
    return {code: i for i, code in enumerate(dict.fromkeys(codes))}


def queue_stage(status: str, ahead: int, remind_ahead: int) -> str | None:
    """'near' when a waiting ticket is within ``remind_ahead`` places of being called, 'called' when
    called, else None."""
    if status == QueueStatus.CALLED:
        return "called"
    if status == QueueStatus.WAITING and 0 < ahead <= remind_ahead:
        return "near"
    return None


def clinic_is_over(clinic_date: dt.date, end: str, now_beijing: dt.datetime) -> bool:
    """Whether the clinic session (its date and its last slice's end, ``"12:00"``) is over at
    ``now_beijing``: cancelling then refunds a visit that may have taken place, so staff confirm it."""
    try:
        hour, minute = (int(x) for x in (end or "23:59").split(":")[:2])
    except ValueError:
        hour, minute = 23, 59
    return dt.datetime.combine(clinic_date, dt.time(hour, minute)) <= now_beijing

HALF_DAY_NAMES = {"am": "上午", "pm": "下午", "evening": "晚上"}

#: what every patient brings; the HIS's own line (where, when, queue number) comes first
WHAT_TO_BRING = "请携带身份证或就诊卡、医保卡；孕妇请带母子健康手册，儿童请带预防接种证"


class BookingBlocked(DomainError):
    """A per-patient rule refuses the booking; ``blocking`` is the patient's order that stands in the way
    (an unpaid one left behind the pay page, typically), so the page can lead to it."""

    def __init__(self, message: str, *, code: str, blocking: AppointmentOrder | None) -> None:
        super().__init__(message, code=code)
        self.blocking = blocking


def blocking_order(patient_id: int, schedule: Schedule | None, today: dt.date) -> AppointmentOrder | None:
    """The patient's live order of this session (any live one ahead when ``schedule`` is None), the
    unpaid first: the one a patient who went back from the pay page has to finish or cancel."""
    q = select(AppointmentOrder).where(AppointmentOrder.patient_id == patient_id,
                                       AppointmentOrder.status.in_(LIVE), AppointmentOrder.clinic_date >= today)
    if schedule is not None:
        q = q.where(AppointmentOrder.doctor_id == schedule.doctor_id,
                    AppointmentOrder.clinic_date == schedule.clinic_date,
                    AppointmentOrder.half_day == schedule.half_day)
    unpaid_first = case((AppointmentOrder.status == A.PENDING_PAYMENT, 0), else_=1)
    return db.session.scalar(q.order_by(unpaid_first, AppointmentOrder.id.desc()).limit(1))


class SlotTaken(Conflict):
    """A lost race for the last place: the patient sees "号源已被约满", never an error page, back on the
    doctor's day it came from (``doctor_id``, ``clinic_date``)."""

    code = "slot_full"

    def __init__(self, message: str, *, doctor_id: int, clinic_date: dt.date) -> None:
        super().__init__(message)
        self.doctor_id = doctor_id
        self.clinic_date = clinic_date


def hospital_now() -> dt.datetime:
    """Hospital local time (UTC+8), naive: clinic dates and slice times are in it."""
    return clock.beijing_now()


def payment_minutes(rules: BookingRules | None = None) -> int:
    """How long a patient has to pay a booking: the setting, within the HIS lock less a minute's margin
    (the lock must outlive the payment, so a 15-minute lock leaves 14)."""
    rules = rules or booking_rules()
    return max(1, min(rules.pay_minutes, LOCK_MINUTES - 1))


def slot_start(order_or_slice_date: dt.date, hhmm: str) -> dt.datetime:
    hour, minute = (int(p) for p in hhmm.split(":"))
    return dt.datetime.combine(order_or_slice_date, dt.time(hour, minute))


# -- the booking window ---------------------------------------------------------------------------

def last_open_date(now: dt.datetime, rules: BookingRules) -> dt.date:
    """The furthest clinic date open now: the newest day opens at the daily release time (放号)."""
    ahead = rules.days_ahead if now.time() >= rules.release_time else rules.days_ahead - 1
    return now.date() + dt.timedelta(days=max(ahead, 0))


def open_dates(now: dt.datetime | None = None, rules: BookingRules | None = None) -> list[dt.date]:
    """Clinic dates a patient may book now, today first when 当天挂号 is open."""
    now = now or hospital_now()
    rules = rules or booking_rules()
    first = now.date() if rules.same_day else now.date() + dt.timedelta(days=1)
    last = last_open_date(now, rules) if rules.advance else now.date()
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


def slice_over(slc: ScheduleSlice, now: dt.datetime | None = None) -> bool:
    """A slice whose end has passed (hospital time): no longer bookable, not 余号."""
    return slot_start(slc.schedule.clinic_date, slc.end_time) <= (now or hospital_now())


def registration_kind(clinic_date: dt.date, start: str, end: str, now: dt.datetime,
                      rules: BookingRules) -> str:
    """'same_day' or 'advance' if a slice may be booked now, else a DomainError saying why."""
    if slot_start(clinic_date, end) <= now:
        raise DomainError(_("该时段已过，请选择其他时段"), code="slot_past")
    if clinic_date == now.date():
        if not rules.same_day:
            raise DomainError(_("暂不开放当天挂号"), code="same_day_closed")
        return "same_day"
    if not rules.advance:
        raise DomainError(_("暂不开放预约挂号，请在就诊当天挂号"), code="advance_closed")
    if clinic_date > last_open_date(now, rules):
        raise DomainError(_("该日期的号源尚未开放，每日 %(time)s 放号", time=rules.release_time.strftime("%H:%M")),
                          code="not_released")
    return "advance"


# -- who may book ---------------------------------------------------------------------------------

def age_on(birth_date: dt.date, day: dt.date) -> int:
    return day.year - birth_date.year - ((day.month, day.day) < (birth_date.month, birth_date.day))


def check_department_allows(department: Department, patient: Patient, clinic_date: dt.date) -> None:
    """Sex and age restrictions of a department (and of its parent): 产科/妇科 女性, 儿科 under 18."""
    check_restrictions(_restrictions_of(department), patient, clinic_date)


def _restrictions_of(department: Department | None) -> Iterator[tuple[str | None, int | None, int | None]]:
    node = department
    while node is not None:
        yield node.allowed_gender, node.min_age, node.max_age
        node = node.parent


def check_restrictions(restrictions: Iterable[tuple[str | None, int | None, int | None]], patient,
                       clinic_date: dt.date) -> None:
    """Each (allowed_gender, min_age, max_age) of the department and its parents, in that order, against
    the patient's ``gender`` and ``birth_date``; a DomainError saying which rule refuses."""
    for allowed_gender, min_age, max_age in restrictions:
        if allowed_gender:
            wanted = "female" if allowed_gender == "F" else "male"
            if patient.gender != wanted:
                raise DomainError(_("该科室仅限女性就诊人预约") if wanted == "female"
                                  else _("该科室仅限男性就诊人预约"), code="gender_restricted")
        if min_age is not None or max_age is not None:
            if patient.birth_date is None:
                raise DomainError(_("请先完善就诊人的出生日期"), code="age_unknown")
            age = age_on(patient.birth_date, clinic_date)
            if max_age is not None and age > max_age:
                raise DomainError(_("该科室仅接诊 %(age)s 岁及以下的就诊人", age=max_age), code="age_restricted")
            if min_age is not None and age < min_age:
                raise DomainError(_("该科室仅接诊 %(age)s 岁及以上的就诊人", age=min_age), code="age_restricted")


def no_show_barred_until(patient_id: int, today: dt.date, rules: BookingRules) -> dt.date | None:
    """The last day a patient with too many no-shows (爽约) is barred, or None."""
    since = today - dt.timedelta(days=rules.no_show_window_days)
    count, last = db.session.execute(
        select(func.count(AppointmentOrder.id), func.max(AppointmentOrder.clinic_date)).where(
            AppointmentOrder.patient_id == patient_id, AppointmentOrder.status == A.NO_SHOW,
            AppointmentOrder.clinic_date >= since)).one()
    if count < rules.no_show_limit or last is None:
        return None
    until = last + dt.timedelta(days=rules.no_show_bar_days)
    return until if until >= today else None


class PatientCounts(NamedTuple):
    """A patient's orders as the per-patient limits count them (``check_patient_limits``)."""

    no_shows: int                  # no-shows (爽约) since the window's start (``since``)
    last_no_show: dt.date | None
    same_session: int              # live orders of the same doctor, day and half-day
    live: int                      # live orders from ``today`` on


def limit_count_columns(doctor_id, clinic_date, half_day) -> tuple:
    """The per-patient limits' counts as four scalar subqueries, for a statement that reads the session
    in the same row (``doctor_id`` … are its columns); ``patient_id``, ``since`` and ``today`` are bound
    by name. Labelled as ``PatientCounts``'s fields."""
    o = AppointmentOrder.__table__.alias("counted")
    mine, active = o.c.patient_id == bindparam("patient_id"), o.c.status.in_(sorted(LIVE))
    no_show = (mine, o.c.status == A.NO_SHOW, o.c.clinic_date >= bindparam("since"))
    return (select(func.count()).where(*no_show).scalar_subquery().label("no_shows"),
            select(func.max(o.c.clinic_date)).where(*no_show).scalar_subquery().label("last_no_show"),
            select(func.count()).where(mine, active, o.c.doctor_id == doctor_id, o.c.clinic_date == clinic_date,
                                       o.c.half_day == half_day).scalar_subquery().label("same_session"),
            select(func.count()).where(mine, active, o.c.clinic_date >= bindparam("today"))
            .scalar_subquery().label("live"))


@functools.cache
def _limits_statement():
    """The per-patient limits' counts alone (the waitlist's offer; the booking reads them with its slice):
    the same four columns, of the session named by parameters (built once)."""
    return select(*limit_count_columns(bindparam("doctor_id"), bindparam("clinic_date"), bindparam("half_day")))


def no_show_since(today: dt.date, rules: BookingRules) -> dt.date:
    """The first day of the no-show window the limits count."""
    return today - dt.timedelta(days=rules.no_show_window_days)


def check_patient_limits(patient, schedule, today: dt.date, rules: BookingRules,
                         counts: PatientCounts | None = None) -> None:
    """The per-patient rules (no-show bar, one number per doctor and session, active limit) in one
    aggregate query over the patient's orders (none when the caller read ``counts`` already, with this
    ``today`` and ``rules``); refused in that order of precedence. ``patient``: anything with its ``id``;
    ``schedule``: anything with ``doctor_id``, ``clinic_date`` and ``half_day``."""
    if counts is None:
        counts = PatientCounts(*uow.execute(_limits_statement(), {
            "since": no_show_since(today, rules), "doctor_id": schedule.doctor_id,
            "clinic_date": schedule.clinic_date, "half_day": schedule.half_day, "today": today,
            "patient_id": patient.id}).one())
    no_shows, last_no_show, same, live = counts
    if no_shows >= rules.no_show_limit and last_no_show is not None:
        barred = last_no_show + dt.timedelta(days=rules.no_show_bar_days)
        if barred >= today:
            raise DomainError(_("该就诊人多次预约未就诊，%(date)s 前暂停网上预约", date=barred.isoformat()),
                              code="no_show_barred")
    if same:
        raise BookingBlocked(_("同一就诊人同一医生同一时段只能预约一个号"), code="duplicate",
                             blocking=blocking_order(patient.id, schedule, today))
    if live >= rules.max_active:
        raise BookingBlocked(_("每位就诊人最多同时持有 %(n)s 个有效预约", n=rules.max_active), code="too_many",
                             blocking=blocking_order(patient.id, None, today))


def can_cancel(order: AppointmentOrder, now: dt.datetime | None = None,
               rules: BookingRules | None = None) -> bool:
    """Whether the patient may cancel now (unpaid: always; booked: until the cut-off)."""
    if order.status == A.PENDING_PAYMENT:
        return True
    if order.status != A.BOOKED:
        return False
    rules = rules or booking_rules()
    now = now or hospital_now()
    return slot_start(order.clinic_date, order.start_time) - dt.timedelta(minutes=rules.cancel_before_minutes) > now


def session_over_at(clinic_date: dt.date, session_end: str, rules: BookingRules) -> dt.datetime:
    """When a session counts as over (Beijing time): its last slice's end plus the grace
    (``booking.attendance_grace_minutes``) in which a late patient may still be seen."""
    return slot_start(clinic_date, session_end) + dt.timedelta(minutes=rules.attendance_grace_minutes)
