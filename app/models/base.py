"""Shared column helpers for the platform's models (all on Flask-AppBuilder's ``Model``)."""

from __future__ import annotations

import datetime as dt
import secrets

from sqlalchemy import DateTime, func
from sqlalchemy.orm import Mapped, mapped_column


def utcnow() -> dt.datetime:
    """Naive UTC now: every timestamp in the database is UTC; pages show Beijing time."""
    from app import clock

    return clock.utcnow()


def new_order_no(prefix: str) -> str:
    """A unique, human-readable order number: prefix + Beijing time to the second + 8 random digits.

    e.g. GH2026112514300512345678. The unique constraint on each order table is the real guard.
    """
    from app import clock

    beijing = clock.beijing_now()
    return f"{prefix}{beijing:%Y%m%d%H%M%S}{secrets.randbelow(10**8):08d}"


class TimestampMixin:
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, server_default=func.now(),
                                                    nullable=False)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow,
                                                    server_default=func.now(), nullable=False)
