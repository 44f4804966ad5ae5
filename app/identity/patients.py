"""Patients (就诊人) of an account; every lookup is scoped to the owner."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import select

from app.extensions import db
from app.models import Patient
from app.services.errors import Forbidden
from app.identity.states import PatientStatus


def owned_patient(owner_id: int, patient_id: int | str | None) -> Patient:
    """The bound patient ``patient_id`` of this account, or Forbidden (answered as 404)."""
    try:
        pid = int(patient_id)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise Forbidden(_("就诊人不存在")) from None
    patient = db.session.scalar(select(Patient).where(Patient.id == pid, Patient.owner_id == owner_id,
                                                      Patient.status == PatientStatus.BOUND))
    if patient is None:
        raise Forbidden(_("就诊人不存在"))
    return patient


def patients_of(owner_id: int) -> list[Patient]:
    """The account's bound patients, the default first."""
    return list(db.session.scalars(
        select(Patient).where(Patient.owner_id == owner_id, Patient.status == PatientStatus.BOUND)
        .order_by(Patient.is_default.desc(), Patient.id)))


@dataclass(frozen=True, slots=True)
class BookingPatient:
    """What a booking reads of the patient (and of the account's channel), as plain values; read with its
    slice and limits in one statement (``registration.queries.booking_facts``)."""

    id: int
    card_no: str
    gender: str | None
    birth_date: dt.date | None
    channel: str  # the account's: where the payment is made
