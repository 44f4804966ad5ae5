"""Queue (排队叫号) and report (报告查询) look-ups for a patient, and the report-ready reminder.

Everything comes live from the HIS; nothing personal is cached here. Every look-up starts from
``owned_patient`` (another account's patient or report answers 404), and every report viewed is
audited, because reports are personal medical data.
"""

from __future__ import annotations

import logging
from dataclasses import asdict

from flask_babel import gettext as _
from sqlalchemy import select

from app import clock
from app.links import patient_url
from app.extensions import db
from app.his import errors as his_errors
from app.his.interface import QueueArea, QueueTicket, Report, ReportSummary
from app.models import Notification, Patient
from app.services import audit
from app.services.errors import DomainError, Forbidden
from app.services.formatting import mask_name
from app.services.his_access import his_gateway
from app.messages.notifications import notify
from app.identity.patients import owned_patient
from app.services.uow import unit_of_work
from app.his.interface import ReportStatus
from app.identity.states import PatientStatus

log = logging.getLogger(__name__)
AREA_KINDS = ("clinic", "lab", "exam", "pharmacy")


class UnknownCard(DomainError):
    status = 404
    code = "unknown_card"


def _unknown_card() -> UnknownCard:
    return UnknownCard(_("医院系统中未找到该就诊卡，请到门诊窗口核对后重新绑定"))


def patient_queue(owner_id: int, patient_id: int | str) -> list[QueueTicket]:
    """Today's queue tickets (number, now calling, ahead, room) of one of this account's patients."""
    patient = owned_patient(owner_id, patient_id)
    try:
        return list(his_gateway().queue_status(patient.card_no))
    except his_errors.NotFound:
        raise _unknown_card() from None


def queue_counts(kind: str | None = None) -> list[QueueArea]:
    """Waiting counts and the number being called for every area (clinic, lab, exam, pharmacy)."""
    if kind not in (None, "", *AREA_KINDS):
        kind = None
    return list(his_gateway().queue_counts(kind or None))


def queue_snapshot(owner_id: int, patient_id: int | str) -> dict:
    """What the queue page refreshes itself with (plain JSON-able data)."""
    tickets = patient_queue(owner_id, patient_id)
    return {"tickets": [asdict(t) for t in tickets], "areas": [asdict(a) for a in queue_counts()]}


def patient_reports(owner_id: int, patient_id: int | str) -> list[ReportSummary]:
    """The patient's lab and exam reports, newest first."""
    patient = owned_patient(owner_id, patient_id)
    try:
        return list(his_gateway().list_reports(patient.card_no))
    except his_errors.NotFound:
        raise _unknown_card() from None


def view_report(owner_id: int, patient_id: int | str, report_id: str) -> Report:
    """One report of one of this account's patients, audited; anything else is 404."""
    patient = owned_patient(owner_id, patient_id)
    try:
        report = his_gateway().get_report(str(report_id)[:32], patient.card_no)
    except his_errors.NotFound:
        raise Forbidden(_("报告不存在")) from None
    with unit_of_work():
        audit.record("patient.view_report", actor_type="patient", actor_id=str(owner_id), target_type="report",
                     target_id=report.report_id, detail=f"patient={patient.id} kind={report.kind}")
    return report


def report_link(patient_id: int, report_id: str) -> str:
    return patient_url("h5.report_detail", report_id=report_id, patient=patient_id)


def remind_ready_reports() -> int:
    """Periodic check: one 报告已出 notice per report that became ready after its card was bound.

    Safe to run as often as wanted: the notice's dedupe key is the report, so a report is announced
    once however many sweeps see it. Returns how many notices were written.
    """
    written = 0
    patients = db.session.scalars(select(Patient).where(Patient.status == PatientStatus.BOUND)).all()
    his = his_gateway()
    for patient in patients:
        try:
            reports = his.list_reports(patient.card_no)
        except his_errors.NotFound:
            continue
        except his_errors.HisUnavailable:
            log.warning("report reminder: HIS unavailable, will retry on the next sweep")
            return written
        # HIS times are Beijing local time, to the second
        bound_local = clock.to_beijing(patient.bound_at).replace(microsecond=0)
        with unit_of_work():
            for r in reports:
                if r.status != ReportStatus.READY or r.ready_at is None or r.ready_at < bound_local:
                    continue
                key = f"report_ready:{patient.owner_id}:{r.report_id}"
                if db.session.scalar(select(Notification.id).where(Notification.dedupe_key == key)):
                    continue
                notify(patient.owner_id, "report_ready", _("报告已出"),
                       _("%(name)s 的%(title)s已出，请点击查看。", name=mask_name(patient.name), title=r.title),
                       dedupe_key=key, link=report_link(patient.id, r.report_id),
                       payload={"report_id": r.report_id, "title": r.title,
                                "ready_at": f"{r.ready_at:%Y-%m-%d %H:%M}"})
                written += 1
    return written
