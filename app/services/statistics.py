"""Transaction statistics (交易统计): money in and refunds out, per Beijing day, channel, business type
and order state, for a chosen range, net of refunds.

Cash basis, as the finance office counts: a payment counts on the day its money arrived (``paid_at``),
a refund on the day it succeeded (``succeeded_at``), attributed to its payment's channel, business
type and current state. The page, the chart and the .xlsx export all read ``transaction_statistics``,
so their totals agree by construction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import func, literal_column, select

from app.extensions import db
from app.models import PaymentOrder, Refund
from app.services.orders import beijing_day_start_utc

DIMENSIONS = ("day", "channel", "kind", "status")
MAX_RANGE_DAYS = 366


@dataclass
class StatRow:
    """One group: what came in and what went back out."""

    day: dt.date | None = None
    channel: str | None = None
    kind: str | None = None
    status: str | None = None
    paid_count: int = 0
    paid_fen: int = 0
    refund_count: int = 0
    refund_fen: int = 0

    @property
    def net_fen(self) -> int:
        return self.paid_fen - self.refund_fen

    def add(self, other: StatRow) -> None:
        self.paid_count += other.paid_count
        self.paid_fen += other.paid_fen
        self.refund_count += other.refund_count
        self.refund_fen += other.refund_fen


@dataclass
class Statistics:
    start: dt.date
    end: dt.date
    rows: list[StatRow] = field(default_factory=list)  # finest grain: day x channel x kind x status

    def by(self, *dims: str) -> list[StatRow]:
        """Rows summed over every dimension not named, sorted by the named ones."""
        groups: dict[tuple, StatRow] = {}
        for row in self.rows:
            key = tuple(getattr(row, d) for d in dims)
            group = groups.get(key)
            if group is None:
                group = groups[key] = StatRow(**dict(zip(dims, key, strict=True)))
            group.add(row)
        return [groups[k] for k in sorted(groups, key=lambda k: tuple("" if v is None else str(v) for v in k))]

    @property
    def total(self) -> StatRow:
        total = StatRow()
        for row in self.rows:
            total.add(row)
        return total

    def days(self) -> list[dt.date]:
        """Every day of the range, including days without any transaction (for the chart's axis)."""
        return [self.start + dt.timedelta(days=i) for i in range((self.end - self.start).days + 1)]


def _beijing_day(column):
    """SQL for the Beijing calendar day of a naive-UTC timestamp, per database dialect."""
    if db.engine.dialect.name == "sqlite":
        return func.date(column, "+8 hours")
    return func.date(func.date_add(column, literal_column("INTERVAL 8 HOUR")))


def _as_date(value) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))


def check_range(start: dt.date, end: dt.date) -> None:
    """Refuse a reversed or over-long range with a message staff understand."""
    from flask_babel import gettext as _

    from app.services.errors import DomainError

    if end < start:
        raise DomainError(_("结束日期不能早于开始日期"))
    if (end - start).days >= MAX_RANGE_DAYS:
        raise DomainError(_("统计范围不能超过一年"))


def transaction_statistics(start: dt.date, end: dt.date) -> Statistics:
    """Counts and amounts (fen) of payments and successful refunds, ``start``..``end`` inclusive,
    Beijing days, grouped by day, channel, business type and state."""
    check_range(start, end)
    lo, hi = beijing_day_start_utc(start), beijing_day_start_utc(end + dt.timedelta(days=1))
    stats = Statistics(start=start, end=end)
    rows: dict[tuple, StatRow] = {}

    def row_for(day, channel, kind, status) -> StatRow:
        key = (_as_date(day), channel, kind, status)
        if key not in rows:
            rows[key] = StatRow(*key)
        return rows[key]

    paid_day = _beijing_day(PaymentOrder.paid_at).label("day")
    paid = db.session.execute(
        select(paid_day, PaymentOrder.channel, PaymentOrder.kind, PaymentOrder.status,
               func.count(PaymentOrder.id), func.coalesce(func.sum(PaymentOrder.amount_fen), 0))
        .where(PaymentOrder.paid_at >= lo, PaymentOrder.paid_at < hi)
        .group_by(paid_day, PaymentOrder.channel, PaymentOrder.kind, PaymentOrder.status))
    for day, channel, kind, status, count, amount in paid:
        row = row_for(day, channel, kind, status)
        row.paid_count, row.paid_fen = int(count), int(amount)

    refund_day = _beijing_day(Refund.succeeded_at).label("day")
    refunded = db.session.execute(
        select(refund_day, PaymentOrder.channel, PaymentOrder.kind, PaymentOrder.status,
               func.count(Refund.id), func.coalesce(func.sum(Refund.amount_fen), 0))
        .join(PaymentOrder, PaymentOrder.id == Refund.payment_id)
        .where(Refund.status == "success", Refund.succeeded_at >= lo, Refund.succeeded_at < hi)
        .group_by(refund_day, PaymentOrder.channel, PaymentOrder.kind, PaymentOrder.status))
    for day, channel, kind, status, count, amount in refunded:
        row = row_for(day, channel, kind, status)
        row.refund_count, row.refund_fen = int(count), int(amount)

    stats.rows = [rows[k] for k in sorted(rows)]
    return stats


def daily_series(stats: Statistics, channels: Iterable[str] = ("wechat", "alipay")) -> dict:
    """Data for the ECharts chart: one x label per day, net yuan per channel, and the day's total."""
    per_day = {(r.day, r.channel): r.net_fen for r in stats.by("day", "channel")}
    counts = {r.day: r.paid_count for r in stats.by("day")}
    days = stats.days()
    return {
        "days": [d.isoformat() for d in days],
        "series": {c: [per_day.get((d, c), 0) / 100 for d in days] for c in channels},
        "counts": [counts.get(d, 0) for d in days],
    }
