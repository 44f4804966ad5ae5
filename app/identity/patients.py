"""Patients (就诊人) of an account; every lookup is scoped to the owner."""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import bindparam, select

from app.extensions import db
from app.models import ChannelUser, Patient
from app.services import uow
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
    """What a booking reads of the patient (and of the account's channel), as plain values."""

    id: int
    card_no: str
    gender: str | None
    birth_date: dt.date | None
    channel: str  # the account's: where the payment is made


@functools.cache
def _booking_patient_statement():
    p, u = Patient.__table__, ChannelUser.__table__
    return (select(p.c.id, p.c.card_no, p.c.gender, p.c.birth_date, u.c.channel)
            .select_from(p.join(u, u.c.id == p.c.owner_id))
            .where(p.c.id == bindparam("patient_id"), p.c.owner_id == bindparam("owner_id"),
                   p.c.status == PatientStatus.BOUND))


def booking_patient(owner_id: int, patient_id: int | str | None) -> BookingPatient:
    """``owned_patient`` for the booking: the few columns it reads and the account's channel in one
    statement; Forbidden (answered as 404) alike for another account's patient and for no such account."""
    try:
        pid = int(patient_id)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise Forbidden(_("就诊人不存在")) from None
    row = uow.execute(_booking_patient_statement(), {"patient_id": pid, "owner_id": owner_id}).first()
    if row is None:
        raise Forbidden(_("就诊人不存在"))
    return BookingPatient(row.id, row.card_no, row.gender, row.birth_date, row.channel)
