"""大数据分析: followers, card bindings, registrations, amounts, transaction counts and a summary,
per channel (服务号 wechat / 服务窗 alipay) and Beijing calendar day, for a date range.

Aggregation happens in the database (GROUP BY day), so a year of a busy hospital stays cheap.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import Date, and_, cast, func, select
from sqlalchemy.sql.elements import ColumnElement

from app.extensions import db
from app.models import AppointmentOrder, FollowEvent, Patient, PaymentOrder, Refund

CHANNELS = ("wechat", "alipay")
PAID_STATES = ("paid", "confirmed", "confirm_failed", "refunding", "refunded", "partially_refunded")
BOOKED_STATES = ("booked", "visited", "cancelled", "stopped", "refunded")  # once confirmed by the HIS


def _day(column) -> ColumnElement:
    """The Beijing calendar day of a naive-UTC timestamp column, in SQL for either database."""
    if db.engine.dialect.name == "sqlite":
        return func.date(column, "+8 hours")
    return cast(func.date_add(column, db.text("INTERVAL 8 HOUR")), Date)


def _bounds(start: dt.date, end: dt.date) -> tuple[dt.datetime, dt.datetime]:
    lo = dt.datetime.combine(start, dt.time()) - dt.timedelta(hours=8)
    hi = dt.datetime.combine(end + dt.timedelta(days=1), dt.time()) - dt.timedelta(hours=8)
    return lo, hi


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


def compute(start: dt.date, end: dt.date, channel: str | None = None) -> Analytics:
    """Every metric for [start, end] (inclusive, Beijing days), optionally one channel only."""
    if end < start:
        start, end = end, start
    lo, hi = _bounds(start, end)
    channels = [channel] if channel else list(CHANNELS)
    s = {name: Series(name) for name in (
        "follow", "unfollow", "bind", "unbind", "booking_advance", "booking_same_day", "booking_fee_fen",
        "amount_registration_fen", "amount_outpatient_fen", "amount_deposit_fen", "refund_fen",
        "count_registration", "count_outpatient", "count_deposit")}

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

    day = _day(PaymentOrder.paid_at)
    paid = and_(PaymentOrder.paid_at >= lo, PaymentOrder.paid_at < hi, PaymentOrder.status.in_(PAID_STATES),
                PaymentOrder.channel.in_(channels))
    for kind in ("registration", "outpatient", "deposit"):
        _grouped(s[f"amount_{kind}_fen"], select(PaymentOrder.channel, day, func.sum(PaymentOrder.amount_fen))
                 .where(paid, PaymentOrder.kind == kind).group_by(PaymentOrder.channel, day))
        _grouped(s[f"count_{kind}"], select(PaymentOrder.channel, day, func.count())
                 .where(paid, PaymentOrder.kind == kind).group_by(PaymentOrder.channel, day))

    day = _day(Refund.succeeded_at)
    _grouped(s["refund_fen"], select(PaymentOrder.channel, day, func.sum(Refund.amount_fen))
             .join(PaymentOrder, Refund.payment_id == PaymentOrder.id)
             .where(Refund.status == "success", Refund.succeeded_at >= lo, Refund.succeeded_at < hi,
                    PaymentOrder.channel.in_(channels)).group_by(PaymentOrder.channel, day))

    days = [str(start + dt.timedelta(days=i)) for i in range((end - start).days + 1)]
    return Analytics(start=start, end=end, channel=channel, days=days, series=s)
