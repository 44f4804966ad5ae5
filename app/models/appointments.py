"""Appointment orders (预约挂号订单)."""

from __future__ import annotations

import datetime as dt

from flask_appbuilder import Model
from sqlalchemy import Date, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import TimestampMixin
from app.models.patients import Patient
from app.models.schedules import Department, Doctor, Schedule, ScheduleSlice


class AppointmentOrder(TimestampMixin, Model):
    """A booking of one slice for one patient; its status moves only through services/states.py."""

    __tablename__ = "appointment_order"
    __table_args__ = (
        Index("ix_appointment_owner_created", "owner_id", "created_at"),
        Index("ix_appointment_status_created", "status", "created_at"),
        Index("ix_appointment_channel_created", "channel", "created_at"),
        Index("ix_appointment_schedule_status", "schedule_id", "status"),
        Index("ix_appointment_order_slice_id", "slice_id"),
        Index("ix_appointment_created_at", "created_at"),
        Index("ix_appointment_confirmed_at", "confirmed_at"),
        Index("ix_appointment_updated_at", "updated_at"),
        Index("ix_appointment_his_visit_no", "his_visit_no"),
        Index("ix_appointment_clinic_date", "clinic_date"),  # the list's 就诊日期 range
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_no: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    owner_id: Mapped[int] = mapped_column(ForeignKey("channel_user.id"), nullable=False)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"), nullable=False, index=True)
    channel: Mapped[str] = mapped_column(String(16), nullable=False)
    schedule_id: Mapped[int] = mapped_column(ForeignKey("schedule.id"), nullable=False)
    # No FOREIGN KEY on purpose: InnoDB would share-lock the hot slice row on every order insert, and
    # the booking inserts its order *before* the guarded UPDATE so that the row is held only for the
    # COMMIT (app/registration/commands.py). Slices are never deleted; the relationship below still joins.
    slice_id: Mapped[int] = mapped_column(Integer, nullable=False)
    department_id: Mapped[int] = mapped_column(ForeignKey("department.id"), nullable=False)
    doctor_id: Mapped[int] = mapped_column(ForeignKey("doctor.id"), nullable=False)
    clinic_date: Mapped[dt.date] = mapped_column(Date, nullable=False)
    half_day: Mapped[str] = mapped_column(String(8), nullable=False)
    start_time: Mapped[str] = mapped_column(String(5), nullable=False)
    end_time: Mapped[str] = mapped_column(String(5), nullable=False)
    fee_fen: Mapped[int] = mapped_column(Integer, nullable=False)
    status: Mapped[str] = mapped_column(String(24), nullable=False, default="holding")
    his_lock_id: Mapped[str | None] = mapped_column(String(64))
    his_visit_no: Mapped[str | None] = mapped_column(String(64))
    queue_no: Mapped[str | None] = mapped_column(String(16))
    location: Mapped[str | None] = mapped_column(String(128))
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    paid_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    confirmed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    # the check-in at the 分诊台 as the HIS reported it (or the staff marking 已就诊), naive UTC
    attended_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    cancel_reason: Mapped[str | None] = mapped_column(String(255))
    registration_kind: Mapped[str] = mapped_column(String(16), default="advance", nullable=False)  # same_day | advance
    rebooked_from_id: Mapped[int | None] = mapped_column(ForeignKey("appointment_order.id"))
    # "<patient id>:<schedule id>" while the order holds a place, NULL once it ended: the unique key
    # is the database's guard for "one booking per patient per doctor per half-day" across processes.
    active_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    guidance: Mapped[str | None] = mapped_column(Text)  # what to bring, where to sign in

    patient: Mapped[Patient] = relationship()
    schedule: Mapped[Schedule] = relationship()
    slice: Mapped[ScheduleSlice] = relationship(
        primaryjoin="foreign(AppointmentOrder.slice_id) == ScheduleSlice.id")
    department: Mapped[Department] = relationship()
    doctor: Mapped[Doctor] = relationship()
