"""大数据分析: followers, card bindings, registrations, amounts, transaction counts and a summary,
per channel (服务号 wechat / 服务窗 alipay) and Beijing calendar day, for a date range.

Closed days are read from the daily rollups (``app.reports.rollups``); today and any day changed since
its rollup are aggregated in the database (GROUP BY day) from the order tables.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import and_, func, select
from sqlalchemy.sql.elements import ColumnElement

from app import clock
from app.extensions import db
from app.models import AppointmentOrder, FollowEvent, Patient, PaymentOrder, Refund
from app.payments.states import MONEY_TAKEN, RefundStatus

CHANNELS = ("wechat", "alipay")
BOOKED_STATES = ("booked", "visited", "cancelled", "stopped", "refunded")  # once confirmed by the HIS


def _day(column) -> ColumnElement:
    """The Beijing calendar day of a naive-UTC timestamp column, in SQL for either database."""
    return clock.sql_beijing_date(column, db.engine.dialect.name)


def _bounds(start: dt.date, end: dt.date) -> tuple[dt.datetime, dt.datetime]:
    return clock.beijing_day_bounds_utc(start, end)


@dataclass
class Series:
    """One metric by day and channel: values[channel][day] (missing days are 0)."""

    name: str
    values: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(int)))

    def add(self, channel: str, day, value: int) -> None:
        self.values[channel][str(day)] += int(value or 0)

    def total(self, channel: str | None = None) -> int:
        channels = [channel] if channel else list(self.values)
        return sum(sum(self.values[c].values()) for c in channels)


@dataclass
class Analytics:
    start: dt.date
    end: dt.date
    channel: str | None
    days: list[str]
    series: dict[str, Series]

    def daily(self, name: str, channel: str | None = None) -> list[int]:
        s = self.series[name]
        channels = [channel] if channel else CHANNELS
        return [sum(s.values[c].get(d, 0) for c in channels) for d in self.days]

    def summary(self) -> dict[str, dict[str, int]]:
        """Totals for the range, per channel and overall."""
        out: dict[str, dict[str, int]] = {}
        for name, s in self.series.items():
            out[name] = {c: s.total(c) for c in CHANNELS}
            out[name]["all"] = sum(out[name].values())
        return out


def _grouped(series: Series, stmt) -> None:
    for channel, day, value in db.session.execute(stmt):
        series.add(channel, day, value)


ACTIVITY = ("follow", "unfollow", "bind", "unbind", "booking_advance", "booking_same_day", "booking_fee_fen")
MONEY = ("amount_registration_fen", "amount_outpatient_fen", "amount_deposit_fen", "refund_fen",
         "count_registration", "count_outpatient", "count_deposit")
KINDS = ("registration", "outpatient", "deposit")


def _live_activity(s: dict[str, Series], lo: dt.datetime, hi: dt.datetime, channels: list[str]) -> None:
    """Followers, card bindings and registrations from their tables, for [lo, hi) (naive UTC)."""
    for event, name in (("subscribe", "follow"), ("unsubscribe", "unfollow")):
        day = _day(FollowEvent.at)
        _grouped(s[name], select(FollowEvent.channel, day, func.count()).where(
            FollowEvent.event == event, FollowEvent.at >= lo, FollowEvent.at < hi,
            FollowEvent.channel.in_(channels)).group_by(FollowEvent.channel, day))

    day = _day(Patient.bound_at)
    _grouped(s["bind"], select(Patient.channel, day, func.count()).where(
        Patient.bound_at >= lo, Patient.bound_at < hi, Patient.channel.in_(channels)).group_by(Patient.channel, day))
    day = _day(Patient.unbound_at)
    _grouped(s["unbind"], select(Patient.channel, day, func.count()).where(
        Patient.unbound_at >= lo, Patient.unbound_at < hi, Patient.channel.in_(channels))
        .group_by(Patient.channel, day))

    day = _day(AppointmentOrder.confirmed_at)
    booked = and_(AppointmentOrder.confirmed_at >= lo, AppointmentOrder.confirmed_at < hi,
                  AppointmentOrder.channel.in_(channels))
    for kind, name in (("advance", "booking_advance"), ("same_day", "booking_same_day")):
        _grouped(s[name], select(AppointmentOrder.channel, day, func.count()).where(
            booked, AppointmentOrder.registration_kind == kind).group_by(AppointmentOrder.channel, day))
    _grouped(s["booking_fee_fen"], select(AppointmentOrder.channel, day, func.sum(AppointmentOrder.fee_fen))
             .where(booked).group_by(AppointmentOrder.channel, day))


def _live_money(s: dict[str, Series], lo: dt.datetime, hi: dt.datetime, channels: list[str]) -> None:
    """Amounts and counts of paid orders and refunds from the order tables, for [lo, hi) (naive UTC)."""
    day = _day(PaymentOrder.paid_at)
    paid = and_(PaymentOrder.paid_at >= lo, PaymentOrder.paid_at < hi, PaymentOrder.status.in_(MONEY_TAKEN),
                PaymentOrder.channel.in_(channels))
    for kind in KINDS:
        _grouped(s[f"amount_{kind}_fen"], select(PaymentOrder.channel, day, func.sum(PaymentOrder.amount_fen))
                 .where(paid, PaymentOrder.kind == kind).group_by(PaymentOrder.channel, day))
        _grouped(s[f"count_{kind}"], select(PaymentOrder.channel, day, func.count())
                 .where(paid, PaymentOrder.kind == kind).group_by(PaymentOrder.channel, day))

    day = _day(Refund.succeeded_at)
    _grouped(s["refund_fen"], select(PaymentOrder.channel, day, func.sum(Refund.amount_fen))
             .join(PaymentOrder, Refund.payment_id == PaymentOrder.id)
             .where(Refund.status == RefundStatus.SUCCESS, Refund.succeeded_at >= lo, Refund.succeeded_at < hi,
                    PaymentOrder.channel.in_(channels)).group_by(PaymentOrder.channel, day))


def _live_activity_statements(lo, hi) -> list[tuple[str, object]]:
    """The four grouped reads of followers, bindings and registrations of the moments [lo, hi) (naive
    UTC, or bind parameters), every channel: (tag, select of channel, day, [event or kind,] count[, fee])."""
    stmts = []
    day = _day(FollowEvent.at)
    stmts.append(("follows", select(FollowEvent.channel, day, FollowEvent.event, func.count())
                  .where(FollowEvent.at >= lo, FollowEvent.at < hi, FollowEvent.event.in_(("subscribe", "unsubscribe")))
                  .group_by(FollowEvent.channel, day, FollowEvent.event)))
    for column, name in ((Patient.bound_at, "bind"), (Patient.unbound_at, "unbind")):
        day = _day(column)
        stmts.append((name, select(Patient.channel, day, func.count()).where(column >= lo, column < hi)
                      .group_by(Patient.channel, day)))
    day = _day(AppointmentOrder.confirmed_at)
    stmts.append(("bookings", select(AppointmentOrder.channel, day, AppointmentOrder.registration_kind, func.count(),
                                     func.sum(AppointmentOrder.fee_fen))
                  .where(AppointmentOrder.confirmed_at >= lo, AppointmentOrder.confirmed_at < hi)
                  .group_by(AppointmentOrder.channel, day, AppointmentOrder.registration_kind)))
    return stmts


def _activity_rows(follows, binds, unbinds, bookings) -> list[dict]:
    """Rows (day, channel and the ACTIVITY counts) from the four reads' answers."""
    rows: dict[tuple[str, str], dict] = {}

    def add(channel, day, name, value) -> None:
        row = rows.setdefault((str(day), channel), {"day": dt.date.fromisoformat(str(day)), "channel": channel,
                                                    **dict.fromkeys(ACTIVITY, 0)})
        row[name] += int(value or 0)

    for channel, d, event, count in follows:
        add(channel, d, "follow" if event == "subscribe" else "unfollow", count)
    for name, answer in (("bind", binds), ("unbind", unbinds)):
        for channel, d, count in answer:
            add(channel, d, name, count)
    for channel, d, kind, count, fee in bookings:
        if kind in ("advance", "same_day"):
            add(channel, d, f"booking_{kind}", count)
        add(channel, d, "booking_fee_fen", fee)
    return list(rows.values())


def live_activity_rows(first: dt.date, last: dt.date, *, until: dt.datetime | None = None) -> list[dict]:
    """Followers, bindings and registrations of [first, last] per (day, channel), every channel, in four
    grouped queries: the rows the rollups store (``until``: what happened before that moment)."""
    lo, hi = _bounds(first, last)
    return _activity_rows(*(db.session.execute(stmt)
                            for _, stmt in _live_activity_statements(lo, min(hi, until) if until else hi)))


def _live_parts(lo, hi) -> list:
    """Followers, bindings, registrations and money of [first, last] from the order tables, as parts of
    the view's one round trip (``rollups.fetch``)."""
    from app.reports import statistics
    from app.reports.rollups import part

    parts = []
    for tag, stmt in _live_activity_statements(lo, hi):
        cols = list(stmt.selected_columns)
        texts = [cols[0], cols[2]] if tag in ("follows", "bookings") else [cols[0]]
        parts.append(part(tag, stmt, day=cols[1], texts=texts, numbers=cols[3:] if len(texts) == 2 else cols[2:]))
    return parts + statistics.live_parts(lo, hi)


def _parted_activity(found: dict) -> list[dict]:
    def plain(tag, width):
        return [(r.texts[0], r.day, *r.texts[1:width], *r.numbers) for r in found.get(tag, [])]

    return _activity_rows([(c, d, e, n[0]) for c, d, e, *n in plain("follows", 2)],
                          [(c, d, n[0]) for c, d, *n in plain("bind", 1)],
                          [(c, d, n[0]) for c, d, *n in plain("unbind", 1)],
                          [(c, d, k, n[0], n[1]) for c, d, k, *n in plain("bookings", 2)])


def _from_rows(s: dict[str, Series], activity, money, channels: list[str]) -> None:
    """Add rollup-shaped rows to the series: ``activity`` per (day, channel), and ``money`` per
    (day, channel, kind) with what was paid in a paid state and what was refunded."""
    for row in activity:
        if row["channel"] in channels:
            for name in ACTIVITY:
                if row[name]:
                    s[name].add(row["channel"], row["day"], row[name])
    for day, channel, kind, paid_count, paid_fen, refund_fen in money:
        if channel not in channels:
            continue
        if refund_fen:
            s["refund_fen"].add(channel, day, refund_fen)
        if paid_count and kind in KINDS:
            s[f"amount_{kind}_fen"].add(channel, day, paid_fen)
            s[f"count_{kind}"].add(channel, day, paid_count)


def _money_of(stat_rows) -> list[tuple]:
    """交易统计 rows (day, channel, kind, state) as 数据分析 counts them: paid states only, refunds all."""
    grouped: dict[tuple, list[int]] = {}
    for r in stat_rows:
        g = grouped.setdefault((r.day, r.channel, r.kind), [0, 0, 0])
        if r.status in MONEY_TAKEN:
            g[0] += r.paid_count
            g[1] += r.paid_fen
        g[2] += r.refund_fen
    return [(*k, *v) for k, v in grouped.items()]


def compute(start: dt.date, end: dt.date, channel: str | None = None, *, rollups: bool = True) -> Analytics:
    """Every metric for [start, end] (inclusive, Beijing days), optionally one channel only.

    Closed days come from the daily rollups when they hold the day unchanged, the rest from the order
    tables (``rollups=False``: everything from the order tables, as the benchmark's baseline)."""
    from app.reports import rollups as daily

    if end < start:
        start, end = end, start
    channels = [channel] if channel else list(CHANNELS)
    s = {name: Series(name) for name in (*ACTIVITY, *MONEY)}
    if rollups:
        from app.reports import statistics

        _plan, found = daily.fetch(
            start, end, "analytics",
            lambda where: [daily.activity_part(where), daily.analytics_money_part(where, MONEY_TAKEN)], _live_parts)
        _from_rows(s, daily.activity_of(found), daily.analytics_money_of(found), channels)
        _from_rows(s, _parted_activity(found), _money_of(statistics.parted_stat_rows(found)), channels)
    else:  # the order tables only, one grouped query per figure: the benchmark's baseline
        lo, hi = _bounds(start, end)
        _live_activity(s, lo, hi, channels)
        _live_money(s, lo, hi, channels)

    days = [str(start + dt.timedelta(days=i)) for i in range((end - start).days + 1)]
    return Analytics(start=start, end=end, channel=channel, days=days, series=s)
