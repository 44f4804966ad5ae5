"""Reads for the repair tool: find an order by its number, and what may be corrected on it."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from app.extensions import db
from app.models import AppointmentOrder, Patient, PaymentOrder, Refund
from app.operations.states import RepairKind
from app.services import states

#: order number prefix -> (machine in app.services.states, model)
MACHINES = {"appointment": AppointmentOrder, "payment": PaymentOrder, "refund": Refund}


@dataclass(frozen=True)
class RepairTarget:
    target_type: str          # appointment | payment | refund
    target_id: int
    order_no: str
    status: str
    patient_id: int | None
    phone: str | None

    def next_states(self) -> list[str]:
        """The states the order's machine allows from where it is (a stuck state moves only along these)."""
        return sorted(states.MACHINES[self.target_type][1].get(self.status, set()))

    def attendance_choices(self) -> list[str]:
        """已就诊 / 爽约 as far as the appointment table allows from here."""
        if self.target_type != "appointment":
            return []
        return [s for s in ("visited", "no_show") if states.allowed("appointment", self.status, s)]


def find_target(order_no: str) -> RepairTarget | None:
    """The appointment, payment or refund with this number (the number a patient or a channel quotes)."""
    number = (order_no or "").strip()
    if not number:
        return None
    appointment = db.session.scalar(select(AppointmentOrder).where(AppointmentOrder.order_no == number))
    if appointment is not None:
        return _target("appointment", appointment.id, number, appointment.status, appointment.patient_id)
    payment = db.session.scalar(select(PaymentOrder).where(PaymentOrder.order_no == number))
    if payment is not None:
        return _target("payment", payment.id, number, payment.status, payment.patient_id)
    refund = db.session.scalar(select(Refund).where(Refund.refund_no == number))
    if refund is not None:
        return _target("refund", refund.id, number, refund.status, refund.payment.patient_id)
    return None


def _target(kind: str, pk: int, number: str, status: str, patient_id: int | None) -> RepairTarget:
    phone = db.session.scalar(select(Patient.phone).where(Patient.id == patient_id)) if patient_id else None
    return RepairTarget(kind, pk, number, status, patient_id, phone)


def kinds_for(target: RepairTarget) -> list[RepairKind]:
    found = [RepairKind.CONTACT] if target.patient_id else []
    if target.attendance_choices():
        found.append(RepairKind.ATTENDANCE)
    if target.next_states():
        found.append(RepairKind.STATE)
    return found
