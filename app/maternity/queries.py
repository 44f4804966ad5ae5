"""What the 孕产期 and 儿童保健 pages read: the plans as configured, a patient's journey (week or age,
each visit with its state, the next one with a suitable slice for one-tap booking), past 儿保 checks."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from sqlalchemy import select

from app.extensions import db
from app.his.errors import HisError
from app.maternity import rules
from app.models import AppointmentOrder, Department, Patient, Pregnancy, Schedule, ScheduleSlice
from app.services.his_access import his_gateway
from app.services.settings import _int, _raw, setting_text
from app.maternity.states import PregnancyStatus
from app.services.states import SessionStatus

log = logging.getLogger("maternity")

#: states of an appointment that count as "this 产检/儿保 is arranged"
ARRANGED = ("pending_payment", "paid", "booked", "visited")
CHILD_MAX_YEARS = 7  # 儿童保健 covers children up to school age


@dataclass(frozen=True)
class CareSettings:
    """Settings of the two journeys (keys ``pregnancy.*`` and ``child_health.*``)."""

    prenatal_plan: tuple[rules.PlanVisit, ...]
    prenatal_department: str      # pregnancy.department: where 产检 is booked [OB01 产科门诊]
    prenatal_remind_days: int     # pregnancy.remind_days_before [7: when the booking window reaches it]
    child_plan: tuple[rules.PlanVisit, ...]
    child_department: str         # child_health.department: 儿童保健门诊 [CH01]
    child_remind_days: int        # child_health.remind_days_before [7]


def _plan(key: str, default: str, parse) -> tuple[rules.PlanVisit, ...]:
    text = setting_text(key, default)
    try:
        return parse(text)
    except rules.PlanError as exc:  # the back-office validates; an old bad row falls back, loudly
        log.error("setting %s cannot be read (%s); using the national default", key, exc)
        return parse(default)


def care_settings() -> CareSettings:
    values = {**_raw("pregnancy."), **_raw("child_health.")}
    return CareSettings(
        prenatal_plan=_plan("pregnancy.plan", rules.DEFAULT_PRENATAL_PLAN, rules.parse_prenatal_plan),
        prenatal_department=setting_text("pregnancy.department"),
        prenatal_remind_days=_int(values, "pregnancy.remind_days_before"),
        child_plan=_plan("child_health.plan", rules.DEFAULT_CHILD_PLAN, rules.parse_child_plan),
        child_department=setting_text("child_health.department"),
        child_remind_days=_int(values, "child_health.remind_days_before"),
    )


def pregnancy_of(patient_id: int) -> Pregnancy | None:
    return db.session.scalar(select(Pregnancy).where(Pregnancy.patient_id == patient_id,
                                                     Pregnancy.status == PregnancyStatus.ACTIVE))


def is_child(patient: Patient, today: dt.date) -> bool:
    return patient.birth_date is not None and rules.age_text(patient.birth_date, today)[0] < CHILD_MAX_YEARS and \
        patient.birth_date <= today


def _department_family(code: str) -> list[int]:
    """The department of ``code`` and its siblings under the same parent (e.g. every 产科 clinic)."""
    dept = db.session.scalar(select(Department).where(Department.code == code))
    if dept is None:
        return []
    top = dept.parent_id or dept.id
    return [top, *db.session.scalars(select(Department.id).where(Department.parent_id == top))]


def arranged_keys(patient_id: int, schedule: list[rules.ScheduledVisit],
                  department_code: str) -> dict[str, AppointmentOrder]:
    """Visits of the plan that already have a booking (or a visit) in their window, by plan key."""
    if not schedule:
        return {}
    family = _department_family(department_code)
    if not family:
        return {}
    orders = list(db.session.scalars(select(AppointmentOrder).where(
        AppointmentOrder.patient_id == patient_id, AppointmentOrder.department_id.in_(family),
        AppointmentOrder.status.in_(ARRANGED), AppointmentOrder.clinic_date >= schedule[0].opens,
        AppointmentOrder.clinic_date <= schedule[-1].closes).order_by(AppointmentOrder.clinic_date)))
    found: dict[str, AppointmentOrder] = {}
    for visit in schedule:
        for order in orders:
            if visit.opens <= order.clinic_date <= visit.closes and order.id not in {o.id for o in found.values()}:
                found[visit.visit.key] = order
                break
    return found


def suitable_slice(department_code: str, first: dt.date, last: dt.date, now: dt.datetime) -> ScheduleSlice | None:
    """The earliest open slice with a place left in ``department_code`` between ``first`` and ``last``
    inside the booking window, not yet over (the one-tap booking of a reminder)."""
    from app.registration.rules import open_dates, slot_start

    dates = [d for d in open_dates(now) if first <= d <= last]
    dept = db.session.scalar(select(Department).where(Department.code == department_code))
    if not dates or dept is None:
        return None
    candidates = db.session.scalars(
        select(ScheduleSlice).join(Schedule).where(
            Schedule.department_id == dept.id, Schedule.status == SessionStatus.OPEN,
            Schedule.clinic_date >= dates[0], Schedule.clinic_date <= dates[-1],
            ScheduleSlice.booked < ScheduleSlice.capacity)
        .order_by(Schedule.clinic_date, ScheduleSlice.start_time).limit(50))
    for slc in candidates:
        if slot_start(slc.schedule.clinic_date, slc.end_time) > now:
            return slc
    return None


@dataclass(frozen=True)
class VisitView:
    scheduled: rules.ScheduledVisit
    state: str                              # arranged | due | upcoming | passed
    order: AppointmentOrder | None


@dataclass(frozen=True)
class Journey:
    patient: Patient
    visits: tuple[VisitView, ...]
    next: VisitView | None
    slice: ScheduleSlice | None             # the one-tap booking for ``next``
    pregnancy: Pregnancy | None = None
    weeks: tuple[int, int] | None = None    # gestational age today
    age: tuple[int, int, int] | None = None  # the child's age today


def _journey(patient: Patient, schedule: list[rules.ScheduledVisit], department: str, now: dt.datetime,
             **extra) -> Journey:
    today = now.date()
    done = arranged_keys(patient.id, schedule, department)
    views = tuple(VisitView(v, rules.visit_state(v, today, v.visit.key in done), done.get(v.visit.key))
                  for v in schedule)
    upcoming = rules.next_visit(schedule, today, set(done))
    nxt = next((v for v in views if upcoming is not None and v.scheduled.visit.key == upcoming.visit.key), None)
    slc = suitable_slice(department, max(upcoming.opens, today), upcoming.closes, now) if upcoming else None
    return Journey(patient=patient, visits=views, next=nxt, slice=slc, **extra)


def pregnancy_journey(patient: Patient, now: dt.datetime, settings: CareSettings | None = None) -> Journey | None:
    """The mother's 产检 plan on the calendar, or None when no pregnancy is recorded."""
    settings = settings or care_settings()
    pregnancy = pregnancy_of(patient.id)
    if pregnancy is None:
        return None
    schedule = rules.prenatal_schedule(pregnancy.lmp_date, settings.prenatal_plan)
    return _journey(patient, schedule, settings.prenatal_department, now, pregnancy=pregnancy,
                    weeks=rules.gestational_age(pregnancy.lmp_date, now.date()))


def child_journey(patient: Patient, now: dt.datetime, settings: CareSettings | None = None) -> Journey | None:
    """The child's 儿保 plan on the calendar, or None without a birth date or past school age."""
    settings = settings or care_settings()
    if not is_child(patient, now.date()):
        return None
    schedule = rules.child_schedule(patient.birth_date, settings.child_plan)
    return _journey(patient, schedule, settings.child_department, now,
                    age=rules.age_text(patient.birth_date, now.date()))


def past_child_checks(patient: Patient) -> tuple | None:
    """The 儿保 checks the HIS recorded for the child's card, newest first; None when the HIS is down."""
    try:
        return tuple(sorted(his_gateway().child_health_records(patient.card_no), key=lambda c: c.check_date,
                            reverse=True))
    except HisError as exc:
        log.warning("child health records unavailable card=%s: %s", patient.card_no[-4:], exc)
        return None
