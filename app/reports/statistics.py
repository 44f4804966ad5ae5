"""Transaction statistics (交易统计): money in and refunds out, per Beijing day, channel, business type
and order state, for a chosen range, net of refunds.

Cash basis, as the finance office counts: a payment counts on the day its money arrived (``paid_at``),
a refund on the day it succeeded (``succeeded_at``), attributed to its payment's channel, business
type and current state. The page, the chart and the .xlsx export all read ``transaction_statistics``,
so their totals agree by construction; closed days are read from the daily rollups (``rollups``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy import func, select

from app import clock
from app.extensions import db
from app.models import PaymentOrder, Refund
from app.backoffice.orders import beijing_day_start_utc
from app.payments.states import RefundStatus

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


# The coarser groupings the page, the chart and the export's summary sheets need; a year of rollups
# summed in SQL to these is ~800 rows instead of ~12,000 at the finest grain.
GRAINS = (("day", "channel"), ("channel", "kind", "status"))


class Statistics:
    """Payments and refunds of a range at the finest grain (``rows``: day x channel x kind x state),
    with ``by(...)`` groupings and the ``total``.

    Built from the rollups it holds the ``GRAINS`` already summed and loads the finest rows only when
    something asks for them (the export's detail sheet)."""

    def __init__(self, start: dt.date, end: dt.date, rows: list[StatRow] | None = None, *,
                 grains: dict[tuple[str, ...], list[StatRow]] | None = None,
                 load_rows: Callable[[], list[StatRow]] | None = None) -> None:
        self.start, self.end = start, end
        self._rows = rows if rows is not None or load_rows else []
        self._load_rows = load_rows
        self._grains = grains or {}
        self._memo: dict = {}  # the page asks for the total and each grouping several times

    @property
    def rows(self) -> list[StatRow]:
        if self._rows is None:
            self._rows = self._load_rows()
        return self._rows

    @rows.setter
    def rows(self, value: list[StatRow]) -> None:
        self._rows, self._grains, self._memo = value, {}, {}

    def _source(self, dims: tuple[str, ...]) -> list[StatRow]:
        if self._rows is None:
            for grain, rows in self._grains.items():
                if set(dims) <= set(grain):
                    return rows
        return self.rows

    def by(self, *dims: str) -> list[StatRow]:
        """Rows summed over every dimension not named, sorted by the named ones."""
        if dims not in self._memo:
            self._memo[dims] = group(self._source(dims), dims)
        return self._memo[dims]

    @property
    def total(self) -> StatRow:
        if "total" not in self._memo:
            total = StatRow()
            for row in self._source(()):
                total.add(row)
            self._memo["total"] = total
        return self._memo["total"]

    def days(self) -> list[dt.date]:
        """Every day of the range, including days without any transaction (for the chart's axis)."""
        return [self.start + dt.timedelta(days=i) for i in range((self.end - self.start).days + 1)]


def group(rows: Iterable[StatRow], dims: tuple[str, ...]) -> list[StatRow]:
    """``rows`` summed over every dimension not in ``dims``, sorted by those."""
    groups: dict[tuple, StatRow] = {}
    for row in rows:
        key = tuple(getattr(row, d) for d in dims)
        found = groups.get(key)
        if found is None:
            found = groups[key] = StatRow(**dict(zip(dims, key, strict=True)))
        found.add(row)
    return [groups[k] for k in sorted(groups, key=lambda k: tuple("" if v is None else str(v) for v in k))]


def _beijing_day(column):
    """SQL for the Beijing calendar day of a naive-UTC timestamp, per database dialect."""
    return clock.sql_beijing_date(column, db.engine.dialect.name)


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


def _live_statements(lo, hi):
    """The two grouped reads of the moments [lo, hi) (naive UTC, or bind parameters) from the order
    tables: (day, channel, kind, state, count, fen) of payments by the day their money arrived, and of
    successful refunds by the day they succeeded."""
    paid_day = _beijing_day(PaymentOrder.paid_at).label("day")
    paid = (select(paid_day, PaymentOrder.channel, PaymentOrder.kind, PaymentOrder.status,
                   func.count(PaymentOrder.id), func.coalesce(func.sum(PaymentOrder.amount_fen), 0))
            .where(PaymentOrder.paid_at >= lo, PaymentOrder.paid_at < hi)
            .group_by(paid_day, PaymentOrder.channel, PaymentOrder.kind, PaymentOrder.status))
    refund_day = _beijing_day(Refund.succeeded_at).label("day")
    refunded = (select(refund_day, PaymentOrder.channel, PaymentOrder.kind, PaymentOrder.status,
                       func.count(Refund.id), func.coalesce(func.sum(Refund.amount_fen), 0))
                .join(PaymentOrder, PaymentOrder.id == Refund.payment_id)
                .where(Refund.status == RefundStatus.SUCCESS, Refund.succeeded_at >= lo, Refund.succeeded_at < hi)
                .group_by(refund_day, PaymentOrder.channel, PaymentOrder.kind, PaymentOrder.status))
    return paid, refunded


def _stat_rows(paid: Iterable[tuple], refunded: Iterable[tuple]) -> list[StatRow]:
    """(day, channel, kind, state, count, fen) of payments and of refunds as one StatRow per group, sorted."""
    rows: dict[tuple, StatRow] = {}

    def row_for(day, channel, kind, status) -> StatRow:
        key = (_as_date(day), channel, kind, status)
        if key not in rows:
            rows[key] = StatRow(*key)
        return rows[key]

    for day, channel, kind, status, count, amount in paid:
        row = row_for(day, channel, kind, status)
        row.paid_count, row.paid_fen = int(count), int(amount)
    for day, channel, kind, status, count, amount in refunded:
        row = row_for(day, channel, kind, status)
        row.refund_count, row.refund_fen = int(count), int(amount)
    return [rows[k] for k in sorted(rows)]


def live_rows(first: dt.date, last: dt.date, *, until: dt.datetime | None = None) -> list[StatRow]:
    """The finest-grain rows of [first, last] computed from the order tables (what the rollups store);
    ``until``: only what happened before that moment (today's partial rollup)."""
    lo, hi = beijing_day_start_utc(first), beijing_day_start_utc(last + dt.timedelta(days=1))
    paid, refunded = _live_statements(lo, min(hi, until) if until else hi)
    return _stat_rows(db.session.execute(paid), db.session.execute(refunded))


def live_parts(lo, hi) -> list:
    """``live_rows`` of the moments [lo, hi) as parts of a view's one round trip (``rollups.fetch``)."""
    from app.reports.rollups import part

    paid, refunded = _live_statements(lo, hi)
    return [part(tag, stmt, day=stmt.selected_columns[0], texts=stmt.selected_columns[1:4],
                 numbers=stmt.selected_columns[4:]) for tag, stmt in (("paid", paid), ("refunded", refunded))]


def parted_stat_rows(found: dict) -> list[StatRow]:
    """The live rows of a ``rollups.fetch`` answer as StatRows."""
    def plain(rows):
        return [(r.day, *r.texts, *r.numbers[:2]) for r in rows]

    return _stat_rows(plain(found.get("paid", [])), plain(found.get("refunded", [])))


def transaction_statistics(start: dt.date, end: dt.date, *, rollups: bool = True) -> Statistics:
    """Counts and amounts (fen) of payments and successful refunds, ``start``..``end`` inclusive,
    Beijing days, grouped by day, channel, business type and state.

    Closed days come from the daily rollups when they hold the day unchanged, the rest from the order
    tables (``rollups=False``: everything from the order tables, as the benchmark's baseline)."""
    from app.reports import rollups as daily

    check_range(start, end)
    if not rollups:
        return Statistics(start, end, live_rows(start, end))
    plan, found = daily.fetch(start, end, "statistics",
                              lambda where: [daily.payment_grain_part(dims, where) for dims in GRAINS], live_parts)
    live = parted_stat_rows(found)
    grains = {dims: group([*daily.grain_rows(dims, found), *live], dims) for dims in GRAINS}

    def load_rows() -> list[StatRow]:
        held = plan.rollup_days | ({plan.partial[0]} if plan.partial else set())
        rows = [StatRow(day=_as_date(r.day), channel=r.channel, kind=r.kind, status=r.status,
                        paid_count=int(r.paid_count), paid_fen=int(r.paid_fen), refund_count=int(r.refund_count),
                        refund_fen=int(r.refund_fen)) for r in daily.payment_rows(held)]
        # today's partial rollup and the orders after its moment share groups: one row per group
        return sorted(group(rows + live, DIMENSIONS) if plan.partial else rows + live,
                      key=lambda r: (r.day, r.channel, r.kind, r.status))

    return Statistics(start, end, grains=grains, load_rows=load_rows)


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
