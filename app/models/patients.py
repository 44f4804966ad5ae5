"""Patients (就诊人): the account holder and their family contacts (家庭联系人), each with a hospital card.

A family contact is a Patient row whose ``relation`` is not "self"; every one is verified against the
HIS like the holder's own card, because bills, reports and bookings hang off the card.
"""

from __future__ import annotations

import datetime as dt

from flask_appbuilder import Model
from sqlalchemy import Boolean, Date, DateTime, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import TimestampMixin
from app.models.users import ChannelUser

RELATIONS = ("self", "child", "spouse", "parent", "other")


class Patient(TimestampMixin, Model):
    """A 就诊人 a channel user manages, verified against the HIS by card number, name and ID number."""


    __tablename__ = "patient"
    __table_args__ = (
        UniqueConstraint("owner_id", "card_no", name="uq_patient_owner_card"),
        Index("ix_patient_bound_at", "bound_at"),
        Index("ix_patient_card_no", "card_no"),
        Index("ix_patient_unbound_at", "unbound_at"),
        Index("ix_patient_updated_at", "updated_at"),
        Index("ix_patient_phone", "phone"),
        Index("ix_patient_name", "name"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("channel_user.id"), nullable=False, index=True)
    name: Mapped[str] = mapped_column(String(32), nullable=False)
    id_number: Mapped[str | None] = mapped_column(String(18))  # a newborn may have none yet
    guardian_name: Mapped[str | None] = mapped_column(String(32))
    guardian_id_number: Mapped[str | None] = mapped_column(String(18))
    phone: Mapped[str | None] = mapped_column(String(20))
    gender: Mapped[str | None] = mapped_column(String(8))  # male | female
    birth_date: Mapped[dt.date | None] = mapped_column(Date)
    relation: Mapped[str] = mapped_column(String(16), default="self", nullable=False)
    card_no: Mapped[str] = mapped_column(String(32), nullable=False)
    his_patient_id: Mapped[str | None] = mapped_column(String(32))
    is_default: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    status: Mapped[str] = mapped_column(String(16), default="bound", nullable=False)  # bound | unbound
    channel: Mapped[str] = mapped_column(String(16), nullable=False)  # where it was bound
    bound_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)
    unbound_at: Mapped[dt.datetime | None] = mapped_column(DateTime)

    owner: Mapped[ChannelUser] = relationship()
