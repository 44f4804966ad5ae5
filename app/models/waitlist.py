"""候补 (waitlist) for a full doctor session."""

from __future__ import annotations

import datetime as dt

from flask_appbuilder import Model
from sqlalchemy import DateTime, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import TimestampMixin
from app.models.patients import Patient
from app.models.schedules import Schedule


class WaitlistEntry(TimestampMixin, Model):
    """One patient waiting for a place in one session; the queue is ``id`` order among ``waiting``.

    ``active_key`` (unique, "<patient>:<schedule>" while waiting or offered) makes joining twice
    impossible even for two taps at once. ``slice_ids`` lists the acceptable slices ("" = any).
    ``order_id`` is the booking made for her when a place was given.
    """

    __tablename__ = "waitlist_entry"
    __table_args__ = (Index("ix_waitlist_schedule_status", "schedule_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("channel_user.id"), nullable=False, index=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"), nullable=False, index=True)
    schedule_id: Mapped[int] = mapped_column(ForeignKey("schedule.id"), nullable=False)
    slice_ids: Mapped[str] = mapped_column(String(255), default="", nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    active_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("appointment_order.id"), index=True)
    channel: Mapped[str] = mapped_column(String(16), nullable=False)
    offered_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    ended_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    end_reason: Mapped[str | None] = mapped_column(String(255))

    patient: Mapped[Patient] = relationship()
    schedule: Mapped[Schedule] = relationship()

    def accepts(self, slice_id: int) -> bool:
        return not self.slice_ids or str(slice_id) in self.slice_ids.split(",")
