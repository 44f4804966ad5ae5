"""Daily rollups: one Beijing day's payments, refunds, followers, bindings and registrations, summed per
channel and business, so 交易统计 and 数据分析 read a few hundred rows instead of a year of orders.

They are derived data: the order tables stay the truth. A day is read from here only when it is
closed (before today), built (``RollupDay``) and unchanged since (no order row of that day updated
after ``built_at``, no ``RollupStaleDay`` mark); any other day is computed from the order tables.
"""

from __future__ import annotations

import datetime as dt

from flask_appbuilder import Model
from collections.abc import Iterable

from sqlalchemy import BigInteger, Date, DateTime, Index, Integer, String, event
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Mapped, Session, mapped_column

from app.models.base import utcnow


# A transaction stamps updated_at when it flushes and commits a little later; a rollup claims only the
# changes stamped this long before it started, so one committed meanwhile is still seen as a change.
MARGIN = dt.timedelta(minutes=2)


class PaymentDayRollup(Model):
    """交易统计's finest grain for one day: payments by the day their money arrived, refunds by the day
    they succeeded (attributed to their payment's channel, business and state)."""

    __tablename__ = "payment_day_rollup"

    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    status: Mapped[str] = mapped_column(String(24), primary_key=True)
    paid_count: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    paid_fen: Mapped[int] = mapped_column(BigInteger, default=0, nullable=False)
    refund_count: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    refund_fen: Mapped[int] = mapped_column(BigInteger, default=0, nullable=False)


class ActivityDayRollup(Model):
    """数据分析's non-money figures for one day and channel: followers, card bindings, registrations."""

    __tablename__ = "activity_day_rollup"

    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    follow: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    unfollow: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    bind: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    unbind: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    booking_advance: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    booking_same_day: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    booking_fee_fen: Mapped[int] = mapped_column(BigInteger, default=0, nullable=False)


class RollupDay(Model):
    """A day whose rollup rows exist; they hold every change committed before ``built_at``."""

    __tablename__ = "rollup_day"

    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    built_at: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)


class RollupPartial(Model):
    """Today rolled up to ``upto`` (naive UTC) by the last refresh: the rollup rows of ``day`` hold every
    order row whose moment (paid, refunded, bound, followed, confirmed) is before ``upto``, as committed
    by then; a page adds the rows from ``upto`` on from the order tables. Read only while no such row
    changed since (``updated_at``, ``RollupStaleDay``); the night replaces it with the whole day."""

    __tablename__ = "rollup_partial"

    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    upto: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)


class RollupStaleDay(Model):
    """A closed day whose figures changed in a way the rows' ``updated_at`` cannot show (a card bound
    again moves its earlier day's count); read live until rebuilt. Rows, never a unique key: marking
    must never make the change itself fail."""

    __tablename__ = "rollup_stale_day"
    __table_args__ = (Index("ix_rollup_stale_day_day", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, nullable=False)
    marked_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, nullable=False)


class RollupRun(Model):
    """One nightly run, refresh or rebuild: which days, when; a nightly run's or refresh's
    ``consistent_at`` means every change committed before it is in the rollups (so reads only look
    at rows changed after it)."""

    __tablename__ = "rollup_run"
    __table_args__ = (Index("ix_rollup_run_consistent_at", "consistent_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    trigger: Mapped[str] = mapped_column(String(16), nullable=False)  # nightly | refresh | rebuild
    first_day: Mapped[dt.date | None] = mapped_column(Date)
    last_day: Mapped[dt.date | None] = mapped_column(Date)
    days: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    started_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, nullable=False)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    consistent_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


def _closed_days(values: Iterable[dt.datetime | None]) -> set[dt.date]:
    """The days of ``values`` a rollup may already hold: closed days, and today for a moment far enough
    back to be under today's partial rollup (one nearer now is read from the order tables anyway)."""
    from app import clock

    today, recent = clock.today(), clock.utcnow() - MARGIN
    days = set()
    for v in values:
        if isinstance(v, dt.datetime):
            day = clock.beijing_date(v)
            if day < today or (day == today and v < recent):
                days.add(day)
    return days


@event.listens_for(Session, "before_flush")
def mark_stale_days(session: Session, _flush_context, _instances) -> None:
    """A card bound again moves its binding out of an earlier day, and a follow event may be recorded
    late: mark the closed days whose figures this flush changes (old values included) in the same
    transaction, so no page reads those days' rollups until they are rebuilt."""
    from app.models.operations import FollowEvent
    from app.models.patients import Patient

    days: set[dt.date] = set()
    for obj in (*session.new, *session.dirty):
        if isinstance(obj, Patient):
            state = sa_inspect(obj)
            for name in ("bound_at", "unbound_at", "channel"):
                history = state.attrs[name].history
                if history.has_changes():
                    days |= _closed_days([*history.deleted, *history.added, obj.bound_at, obj.unbound_at])
        elif isinstance(obj, FollowEvent) and obj in session.new:
            days |= _closed_days([obj.at])
    if days:
        session.add_all([RollupStaleDay(day=d, marked_at=utcnow()) for d in sorted(days)])
