"""Side effects written in the same transaction as the change that causes them (the outbox)."""

from __future__ import annotations

import datetime as dt

from flask_appbuilder import Model
from sqlalchemy import DateTime, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import TimestampMixin


class OutboxTask(TimestampMixin, Model):
    """One call to the outside (e.g. cancel a registration at the HIS) that must happen after a commit.

    The row is written by the transaction that decides the call, so a crash between commit and call
    loses nothing: the dispatcher (right after the commit, and a periodic sweep) carries it out, with
    backoff. ``(kind, ref)`` is unique: recording the same effect twice is one call.
    """

    __tablename__ = "outbox_task"
    __table_args__ = (
        UniqueConstraint("kind", "ref", name="uq_outbox_task_kind_ref"),
        Index("ix_outbox_task_status_next", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(48), nullable=False)
    ref: Mapped[str] = mapped_column(String(96), nullable=False)  # e.g. the order number it is about
    payload: Mapped[str] = mapped_column(Text, nullable=False, default="{}")
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")  # pending|done|failed
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)
    last_error: Mapped[str | None] = mapped_column(String(255))
    done_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
