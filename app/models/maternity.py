"""For mothers and children: a pregnancy on a mother's card (末次月经 / 预产期), 孕妇学校 classes and
their bookings, and the 诊前签到 record of an appointment."""

from __future__ import annotations

import datetime as dt

from flask_appbuilder import Model
from sqlalchemy import CheckConstraint, Date, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import TimestampMixin
from app.models.patients import Patient


class Pregnancy(TimestampMixin, Model):
    """The current pregnancy recorded on a mother's card: one row per card, LMP and EDD both kept
    (the one she gave and the one computed by Naegele's rule), so the gestational week is exact."""

    __tablename__ = "pregnancy"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"), unique=True, nullable=False)
    lmp_date: Mapped[dt.date] = mapped_column(Date, nullable=False)      # 末次月经
    due_date: Mapped[dt.date] = mapped_column(Date, nullable=False)      # 预产期
    given: Mapped[str] = mapped_column(String(8), nullable=False)        # lmp | edd: what she entered
    status: Mapped[str] = mapped_column(String(16), default="active", nullable=False)  # active | ended

    patient: Mapped[Patient] = relationship()


class PrenatalClass(TimestampMixin, Model):
    """A 孕妇学校 session: a topic at a time and place, with places booked like slots (guarded counter)."""

    __tablename__ = "prenatal_class"
    __table_args__ = (CheckConstraint("booked >= 0 AND booked <= capacity", name="ck_class_not_oversold"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(64), nullable=False)
    intro: Mapped[str | None] = mapped_column(Text)
    teacher: Mapped[str | None] = mapped_column(String(32))
    location: Mapped[str] = mapped_column(String(128), nullable=False)
    starts_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)  # Beijing time, as the timetable
    ends_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)
    capacity: Mapped[int] = mapped_column(Integer, nullable=False)
    booked: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    fee_fen: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    status: Mapped[str] = mapped_column(String(16), default="open", nullable=False)  # open | cancelled

    def __repr__(self) -> str:
        return self.title


class ClassBooking(TimestampMixin, Model):
    """One patient's place in a class; ``active_key`` (unique) allows one live booking per class."""

    __tablename__ = "class_booking"

    id: Mapped[int] = mapped_column(primary_key=True)
    booking_no: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    class_id: Mapped[int] = mapped_column(ForeignKey("prenatal_class.id"), nullable=False, index=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("channel_user.id"), nullable=False, index=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"), nullable=False)
    fee_fen: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)  # see app/maternity/states.py
    active_key: Mapped[str | None] = mapped_column(String(64), unique=True)

    prenatal_class: Mapped[PrenatalClass] = relationship()
    patient: Mapped[Patient] = relationship()


class CheckIn(TimestampMixin, Model):
    """诊前签到 of an appointment: when, the queue number the HIS gave, and the distance measured."""

    __tablename__ = "check_in"
    __table_args__ = (UniqueConstraint("appointment_id", name="uq_check_in_appointment"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    appointment_id: Mapped[int] = mapped_column(ForeignKey("appointment_order.id"), nullable=False)
    checked_in_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)  # UTC
    queue_no: Mapped[str] = mapped_column(String(16), nullable=False)
    location: Mapped[str | None] = mapped_column(String(128))
    distance_m: Mapped[int | None] = mapped_column(Integer)
