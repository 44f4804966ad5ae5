"""Departments (parent/child tree), doctors, schedules (号源) and their time slices (分时号源)."""

from __future__ import annotations

import datetime as dt

from flask_appbuilder import Model
from sqlalchemy import Boolean, CheckConstraint, Date, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import TimestampMixin

HALF_DAYS = ("am", "pm", "evening")


class Department(TimestampMixin, Model):
    """A clinic department synced from the HIS; ``parent_id`` builds the tree (e.g. 产科 > 高危妊娠门诊)."""

    __tablename__ = "department"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(64), nullable=False)
    name_en: Mapped[str | None] = mapped_column(String(128))  # shown when the patient chose English
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"), index=True)
    intro: Mapped[str | None] = mapped_column(Text)
    location: Mapped[str | None] = mapped_column(String(128))
    sort: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)
    # booking restrictions (e.g. 产科/妇科 female only, 儿科 under 18); None means no restriction
    allowed_gender: Mapped[str | None] = mapped_column(String(1))  # F | M
    min_age: Mapped[int | None] = mapped_column(Integer)
    max_age: Mapped[int | None] = mapped_column(Integer)

    parent: Mapped["Department | None"] = relationship(remote_side="Department.id", back_populates="children")
    children: Mapped[list["Department"]] = relationship(back_populates="parent")

    def __repr__(self) -> str:
        return self.name


class Doctor(TimestampMixin, Model):
    __tablename__ = "doctor"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(32), nullable=False)
    name_en: Mapped[str | None] = mapped_column(String(64))  # shown when the patient chose English
    title: Mapped[str | None] = mapped_column(String(32))  # 主任医师 …
    department_id: Mapped[int] = mapped_column(ForeignKey("department.id"), nullable=False, index=True)
    specialty: Mapped[str | None] = mapped_column(String(255))
    intro: Mapped[str | None] = mapped_column(Text)
    fee_fen: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, nullable=False)

    department: Mapped[Department] = relationship()

    def __repr__(self) -> str:
        return self.name


class Schedule(TimestampMixin, Model):
    """One doctor's half-day session (出诊) on one date; ``status`` becomes 'stopped' on 停诊."""

    __tablename__ = "schedule"
    __table_args__ = (
        Index("ix_schedule_dept_date", "department_id", "clinic_date"),
        Index("ix_schedule_doctor_date", "doctor_id", "clinic_date"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    his_schedule_id: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    doctor_id: Mapped[int] = mapped_column(ForeignKey("doctor.id"), nullable=False)
    department_id: Mapped[int] = mapped_column(ForeignKey("department.id"), nullable=False)
    clinic_date: Mapped[dt.date] = mapped_column(Date, nullable=False)
    half_day: Mapped[str] = mapped_column(String(8), nullable=False)  # am | pm | evening
    fee_fen: Mapped[int] = mapped_column(Integer, nullable=False)
    status: Mapped[str] = mapped_column(String(16), default="open", nullable=False)  # open | stopped
    stop_reason: Mapped[str | None] = mapped_column(String(255))
    stopped_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    synced_at: Mapped[dt.datetime | None] = mapped_column(DateTime)

    doctor: Mapped[Doctor] = relationship()
    department: Mapped[Department] = relationship()
    slices: Mapped[list["ScheduleSlice"]] = relationship(back_populates="schedule",
                                                          order_by="ScheduleSlice.start_time")


class ScheduleSlice(Model):
    """A time slice (分时号源) with capacity; ``booked`` only moves by guarded UPDATEs in the database."""

    __tablename__ = "schedule_slice"
    __table_args__ = (
        CheckConstraint("booked >= 0 AND booked <= capacity", name="ck_slice_not_oversold"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    schedule_id: Mapped[int] = mapped_column(ForeignKey("schedule.id"), nullable=False, index=True)
    his_slice_id: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    start_time: Mapped[str] = mapped_column(String(5), nullable=False)  # HH:MM
    end_time: Mapped[str] = mapped_column(String(5), nullable=False)
    capacity: Mapped[int] = mapped_column(Integer, nullable=False)
    booked: Mapped[int] = mapped_column(Integer, default=0, nullable=False)

    schedule: Mapped[Schedule] = relationship(back_populates="slices")

    @property
    def remaining(self) -> int:
        return self.capacity - self.booked


