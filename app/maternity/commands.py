"""Use cases of the two journeys, each one unit of work: record or end a pregnancy on a mother's card,
and the reminders (产检提醒, 儿保提醒) the periodic tasks run."""

from __future__ import annotations

import datetime as dt
import logging

from flask_babel import gettext as _
from sqlalchemy import select

from app import clock
from app.extensions import db
from app.links import patient_url
from app.maternity import queries, rules
from app.models import Notification, Patient, Pregnancy
from app.billing.bills import in_quiet_hours
from app.services.errors import DomainError
from app.services.formatting import mask_name
from app.messages.notifications import notify
from app.identity.patients import owned_patient
from app.services.uow import unit_of_work
from app.maternity.states import PregnancyStatus
from app.identity.states import PatientStatus

log = logging.getLogger("maternity")


def _date(value: str | None) -> dt.date | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise DomainError(_("日期格式不正确，请按 年-月-日 填写"), code="bad_date") from None


def record_pregnancy(owner_id: int, patient_id: int | str, *, lmp: str | None = None,
                     due: str | None = None) -> Pregnancy:
    """A mother records her 末次月经 (LMP) or her 预产期 (EDD) on her card; the other is computed.

    Refused with a clear message, nothing changed: another account's card (404), not a woman, neither
    or both dates, an LMP in the future or more than 44 weeks ago, a due date in the past or more than
    40 weeks ahead."""
    patient = owned_patient(owner_id, patient_id)
    if patient.gender != "female":
        raise DomainError(_("仅女性就诊人可以记录孕期信息"), code="not_female")
    lmp_date, due_date = _date(lmp), _date(due)
    if (lmp_date is None) == (due_date is None):
        raise DomainError(_("请填写末次月经日期或预产期（二选一）"), code="one_date")
    today = clock.today()
    if lmp_date is not None:
        problem = rules.lmp_problem(lmp_date, today)
        if problem == "future":
            raise DomainError(_("末次月经日期不能晚于今天"), code="lmp_future")
        if problem == "too_old":
            raise DomainError(_("末次月经日期距今已超过 %(weeks)s 周，请核对", weeks=rules.MAX_LMP_WEEKS),
                              code="lmp_too_old")
        due_date, given = rules.due_from_lmp(lmp_date), "lmp"
    else:
        problem = rules.due_problem(due_date, today)
        if problem == "past":
            raise DomainError(_("预产期不能早于今天"), code="due_past")
        if problem == "too_far":
            raise DomainError(_("预产期不能晚于今天起 40 周，请核对"), code="due_too_far")
        lmp_date, given = rules.lmp_from_due(due_date), "edd"
    with unit_of_work():
        row = db.session.scalar(select(Pregnancy).where(Pregnancy.patient_id == patient.id))
        if row is None:
            row = Pregnancy(patient_id=patient.id, lmp_date=lmp_date, due_date=due_date, given=given)
            db.session.add(row)
        else:
            row.lmp_date, row.due_date, row.given, row.status = lmp_date, due_date, given, PregnancyStatus.ACTIVE
    log.info("pregnancy recorded patient=%s given=%s", patient.id, given)
    return row


def end_pregnancy(owner_id: int, patient_id: int | str) -> None:
    """The mother ends the journey (delivered, or recorded by mistake): reminders stop."""
    patient = owned_patient(owner_id, patient_id)
    with unit_of_work():
        row = db.session.scalar(select(Pregnancy).where(Pregnancy.patient_id == patient.id))
        if row is not None:
            row.status = PregnancyStatus.ENDED


def _sent(keys: list[str]) -> set[str]:
    return set(db.session.scalars(select(Notification.dedupe_key).where(Notification.dedupe_key.in_(keys)))) \
        if keys else set()


def remind_prenatal_checks(now: dt.datetime | None = None) -> int:
    """产检提醒: a few days (``pregnancy.remind_days_before``) before each 产检 of the plan opens, and
    while it is open and not booked, the mother is reminded once, with a link to her journey where the
    suitable 产科 slice is one tap away. Never in quiet hours. Returns reminders written."""
    now = now or clock.beijing_now()
    if in_quiet_hours(clock.to_utc(now)):
        return 0
    settings = queries.care_settings()
    today = now.date()
    written = 0
    with unit_of_work():
        rows = db.session.execute(select(Pregnancy, Patient).join(Patient, Patient.id == Pregnancy.patient_id)
                                  .where(Pregnancy.status == PregnancyStatus.ACTIVE,
                                         Patient.status == PatientStatus.BOUND)).all()
        for pregnancy, patient in rows:
            if pregnancy.due_date + dt.timedelta(weeks=2) < today:
                continue
            schedule = rules.prenatal_schedule(pregnancy.lmp_date, settings.prenatal_plan)
            done = queries.arranged_keys(patient.id, schedule, settings.prenatal_department)
            visit = rules.next_visit(schedule, today, set(done))
            if visit is None or not rules.reminder_due(visit, today, settings.prenatal_remind_days):
                continue
            key = f"prenatal:{patient.id}:{pregnancy.lmp_date:%Y%m%d}:{visit.visit.key}"
            if _sent([key]):
                continue
            weeks, days = rules.gestational_age(pregnancy.lmp_date, today)
            notify(patient.owner_id, "prenatal_reminder", _("产检提醒"),
                   _("%(name)s 孕 %(weeks)s 周 %(days)s 天，%(visit)s 请在 %(start)s 至 %(end)s 之间完成（%(items)s）。"
                     "点击可一键预约产科号源。", name=mask_name(patient.name), weeks=weeks, days=days,
                     visit=visit.visit.name, start=f"{visit.opens:%m-%d}", end=f"{visit.closes:%m-%d}",
                     items=visit.visit.items),
                   dedupe_key=key, link=patient_url("h5.pregnancy", patient_id=patient.id),
                   payload={"patient_id": patient.id, "visit": visit.visit.key, "opens": visit.opens.isoformat(),
                            "closes": visit.closes.isoformat()})
            written += 1
    if written:
        log.info("prenatal reminders written: %s", written)
    return written


def remind_child_checks(now: dt.datetime | None = None) -> int:
    """儿保提醒: ``child_health.remind_days_before`` days before each check of the 儿保 plan (and while it
    is due and not booked) the parent is reminded once, with one-tap booking of 儿童保健门诊 on the
    child's page. Never in quiet hours. Returns reminders written."""
    now = now or clock.beijing_now()
    if in_quiet_hours(clock.to_utc(now)):
        return 0
    settings = queries.care_settings()
    today = now.date()
    oldest = rules.add_months(today, -12 * queries.CHILD_MAX_YEARS)
    written = 0
    with unit_of_work():
        children = db.session.scalars(select(Patient).where(
            Patient.status == PatientStatus.BOUND, Patient.birth_date.is_not(None), Patient.birth_date > oldest,
            Patient.birth_date <= today))
        for child in children:
            schedule = rules.child_schedule(child.birth_date, settings.child_plan)
            done = queries.arranged_keys(child.id, schedule, settings.child_department)
            visit = rules.next_visit(schedule, today, set(done))
            if visit is None or not visit.due - dt.timedelta(days=settings.child_remind_days) <= today <= visit.closes:
                continue
            key = f"child_health:{child.id}:{child.birth_date:%Y%m%d}:{visit.visit.key}"
            if _sent([key]):
                continue
            notify(child.owner_id, "child_health_reminder", _("儿保提醒"),
                   _("%(name)s 的%(visit)s 将于 %(due)s 到期，请在 %(end)s 前到儿童保健门诊完成（%(items)s）。"
                     "点击可一键预约。", name=mask_name(child.name), visit=visit.visit.name,
                     due=f"{visit.due:%m-%d}", end=f"{visit.closes:%m-%d}", items=visit.visit.items),
                   dedupe_key=key, link=patient_url("h5.child_health", patient_id=child.id),
                   payload={"patient_id": child.id, "visit": visit.visit.key, "due": visit.due.isoformat()})
            written += 1
    if written:
        log.info("child health reminders written: %s", written)
    return written
