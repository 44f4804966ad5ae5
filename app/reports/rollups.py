"""Daily rollups for 交易统计 and 数据分析: closed Beijing days read from small tables, today and any
day changed since its rollup computed from the order tables, so a year answers in well under a second
at a busy hospital's volume and the figures stay those of the order tables to the fen.

- ``build(first, last)`` writes the rollups of closed days by running the very queries the pages run
  for today on the order tables (``statistics.live_rows``, ``analytics.live_activity_rows``), a month
  per transaction;
  ``flask rollups rebuild --from --to`` calls it for any range.
- ``nightly()`` (Huey, after midnight Beijing) builds yesterday, every closed day changed since the
  previous run and any missing day of the last week, then records the moment up to which every
  change is in (``RollupRun.consistent_at``); ``refresh()`` (Huey, every 10 minutes) rebuilds the
  closed days changed since (a refund of last week's payment), so few days are ever read live.
- ``plan(start, end)`` tells a page which days it may read from the rollups: built, before today and
  unchanged since built. A day changes when an order row of it is updated (every table involved keeps
  ``updated_at``, indexed) or when a card's binding moves (``RollupStaleDay``, marked in the same
  flush by ``app.models.rollups.mark_stale_days``: the day it moved away from is in no row any more).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from sqlalchemy import (Date, DateTime, Select, and_, bindparam, case, delete, func, insert, literal, null, or_,
                        select, union_all)

from app import clock
from app.extensions import db
from app.models import (ActivityDayRollup, AppointmentOrder, Patient, PaymentDayRollup, PaymentOrder,
                        Refund, RollupDay, RollupPartial, RollupRun, RollupStaleDay)
from app.models.rollups import MARGIN
from app.services.uow import transaction, unit_of_work
from app.payments.states import RefundStatus

CHUNK_DAYS = 31  # days built per transaction
CATCH_UP_DAYS = 7  # the nightly run fills missing days this far back (a night the queue was down)


@dataclass
class Plan:
    """Which days of a range come from the rollups and which runs of days from the order tables."""

    start: dt.date
    end: dt.date
    rollup_days: set[dt.date] = field(default_factory=set)
    live_runs: list[tuple[dt.date, dt.date]] = field(default_factory=list)
    # today read from its partial rollup up to this moment (naive UTC) and from the orders after it
    partial: tuple[dt.date, dt.datetime] | None = None


def _days(first: dt.date, last: dt.date) -> Iterator[dt.date]:
    for i in range((last - first).days + 1):
        yield first + dt.timedelta(days=i)


def _runs(days: Iterable[dt.date]) -> list[tuple[dt.date, dt.date]]:
    """Consecutive days grouped into (first, last) runs."""
    runs: list[list[dt.date]] = []
    for day in sorted(days):
        if runs and day - runs[-1][1] == dt.timedelta(days=1):
            runs[-1][1] = day
        else:
            runs.append([day, day])
    return [(a, b) for a, b in runs]


def _beijing_day(column):
    """SQL for the Beijing calendar day of a naive-UTC timestamp, per database dialect."""
    return clock.sql_beijing_date(column, db.engine.dialect.name)


def _as_date(value) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))


def consistent_at() -> dt.datetime | None:
    """Every change stamped before this moment is in the rollups (the last run's claim)."""
    return db.session.scalar(select(func.max(RollupRun.consistent_at)))  # only nightly and refresh runs claim


def changed_days(since: dt.datetime, first: dt.date, last: dt.date) -> dict[dt.date, dt.datetime]:
    """Days in [first, last] whose figures may have moved since ``since``: the latest change of each.

    Every query starts from an ``updated_at`` index, so it reads the rows changed since the last run
    (ten minutes' worth), not the range."""
    found: dict[dt.date, dt.datetime] = {}
    # one round trip: a page asks this on every view
    for day, latest in db.session.execute(union_all(*_change_statements(since, first, last))):
        if day is None or latest is None:
            continue
        day = _as_date(day)
        latest = _as_moment(latest)
        if first <= day <= last:
            found[day] = max(found.get(day, latest), latest)
    return found


def _change_statements(since, first, last, lo=None, hi=None) -> list[Select]:
    """(day, latest change) per day of [first, last] with a change stamped since ``since``, per source,
    among the rows whose moment is in [lo, hi) (default: those days); values or bind parameters."""
    if lo is None:
        lo, hi = clock.beijing_day_bounds_utc(first, last)

    def by_day(stamp, moment, *where, join=None):
        day = _beijing_day(moment)
        stmt = select(day.label("day"), func.max(stamp).label("latest"))
        if join is not None:
            stmt = stmt.select_from(join)
        return stmt.where(stamp >= since, moment >= lo, moment < hi, *where).group_by(day)

    return [
        by_day(PaymentOrder.updated_at, PaymentOrder.paid_at),
        by_day(Refund.updated_at, Refund.succeeded_at),
        # a refund counts under its payment's current state: the payment's change moves the refund's day
        by_day(PaymentOrder.updated_at, Refund.succeeded_at, Refund.status == RefundStatus.SUCCESS,
               join=Refund.__table__.join(PaymentOrder.__table__, PaymentOrder.id == Refund.payment_id)),
        by_day(AppointmentOrder.updated_at, AppointmentOrder.confirmed_at),
        by_day(Patient.updated_at, Patient.bound_at),
        by_day(Patient.updated_at, Patient.unbound_at),
        select(RollupStaleDay.day.label("day"), func.max(RollupStaleDay.marked_at).label("latest"))
        .where(RollupStaleDay.marked_at >= since, RollupStaleDay.day >= first, RollupStaleDay.day <= last)
        .group_by(RollupStaleDay.day),
    ]


def plan(start: dt.date, end: dt.date) -> Plan:
    """Split [start, end] into days read from the rollups and runs of days computed live."""
    result = Plan(start=start, end=end)
    closed_last = min(end, clock.today() - dt.timedelta(days=1))
    built: dict[dt.date, dt.datetime] = {}
    if start <= closed_last:
        built = {_as_date(d): at for d, at in db.session.execute(
            select(RollupDay.day, RollupDay.built_at).where(RollupDay.day >= start, RollupDay.day <= closed_last))}
    if built:
        night = consistent_at()
        # a day holds every change stamped before max(its built_at, the last night's claim)
        oldest = min(built.values())
        since = max(oldest, night) if night else oldest
        changes = changed_days(since, min(built), max(built))
        for day, built_at in built.items():
            holds_until = max(built_at, night) if night else built_at
            if day not in changes or changes[day] < holds_until:
                result.rollup_days.add(day)
    result.live_runs = _runs(d for d in _days(start, end) if d not in result.rollup_days)
    return result


# -- one view's read in one round trip -------------------------------------------------------------
#
# A page used to ask which days are built, the last claim, which days changed, then the rollup rows,
# then today from the order tables: seven to eleven round trips, each a few milliseconds of driver and
# ORM work that cost more than the small reads themselves. ``fetch`` sends all of them as one UNION ALL
# and, in the usual case (every closed day of the range built and unchanged), nothing else. Each part
# is padded to the same columns: tag, day, moment, three texts, seven numbers.

_TEXTS, _NUMBERS = 3, 7
# A lower bound of the last claim (``consistent_at``) seen by this process: the changed days are asked
# for since then in the same round trip as the claim itself. Claims only grow, so an older bound finds
# a few more changed rows, never fewer; a bound above the claim read (another database, a clock moved
# back in a test) is not used.
_claim_seen: dict[str, dt.datetime] = {}
# Today's partial rollup as this process saw it last: (day, upto). The first round trip reads the
# rollups up to that moment and the order tables from it; when the refresh has moved it on since, a
# second round trip reads today whole from the order tables (and the next view uses the new one).
_partial_seen: dict[str, tuple[dt.date, dt.datetime]] = {}

Part = tuple[str, Select]


def _padded(tag: str, stmt: Select, *, day=None, moment=None, texts=(), numbers=()) -> Select:
    """``stmt``'s columns laid out as every part of the union: tag, day, moment, texts, numbers."""
    texts, numbers = list(texts), list(numbers)
    columns = [literal(tag).label("tag"),
               (day if day is not None else null()).label("day"),
               (moment if moment is not None else null()).label("moment"),
               *[(texts[i] if i < len(texts) else null()).label(f"t{i}") for i in range(_TEXTS)],
               *[(numbers[i] if i < len(numbers) else null()).label(f"n{i}") for i in range(_NUMBERS)]]
    return stmt.with_only_columns(*columns, maintain_column_froms=True)


def part(tag: str, stmt: Select, *, day=None, texts=(), numbers=()) -> Part:
    """A grouped read of a view, laid out for ``fetch``: ``stmt`` gives FROM, WHERE and GROUP BY; ``day``,
    ``texts`` and ``numbers`` are its columns (at most three texts and seven numbers)."""
    return tag, _padded(tag, stmt, day=day, texts=texts, numbers=numbers)


@dataclass
class Row:
    """One row of a part: its day, texts and numbers (ints; a missing sum is 0)."""

    day: dt.date | None
    texts: tuple
    numbers: tuple[int, ...]


def _as_moment(value) -> dt.datetime | None:
    if value is None or isinstance(value, dt.datetime):
        return value
    return dt.datetime.fromisoformat(str(value))  # SQLite answers a compound select's values as text


def _row(raw) -> Row:
    day = raw[1]
    return Row(day if day is None or type(day) is dt.date else _as_date(day), tuple(raw[3:3 + _TEXTS]),
               tuple([0 if v is None else int(v) for v in raw[3 + _TEXTS:]]))


def _run(parts: list[Part]) -> dict[str, list[Row]]:
    found: dict[str, list[Row]] = {tag: [] for tag, _ in parts}
    if parts:
        for raw in db.session.execute(union_all(*(stmt for _, stmt in parts))):
            found[raw[0]].append(raw)
    return found


def _param(name: str, type_):
    return bindparam(name, type_=type_)


def _first_trip(view: str, shape: tuple[bool, bool, bool, bool, bool], rollup_parts, live_parts):
    """The first round trip of a view for one shape (closed days in the range, a claim seen, a partial
    seen, today in the range, the range reaching today), with bind parameters for every date and moment:
    built once per process, so a view neither builds nor compiles it again (that was most of its CPU)."""
    key = (db.engine.dialect.name, view, shape)  # the Beijing day is written per dialect
    found = _trips.get(key)
    if found is not None:
        return found
    closed, hinted, partial, today_in, reaches = shape
    start, closed_last, today = _param("r_start", Date), _param("r_closed_last", Date), _param("r_today", Date)
    parts: list[Part] = []
    rollup_tags: set[str] = set()
    if closed:
        # how many days of the range are built and the latest build: when every one is and none was
        # built after the claim, each holds every change before the claim (one row, not one a day)
        parts.append(("built", _padded("built", select(func.count(RollupDay.day)).where(
            RollupDay.day >= start, RollupDay.day <= closed_last), moment=func.max(RollupDay.built_at),
            numbers=[func.count(RollupDay.day)])))
        parts.append(("claim", _padded("claim", select(func.max(RollupRun.consistent_at)),
                                       moment=func.max(RollupRun.consistent_at))))
        if hinted:
            parts += [("changed", _padded("changed", stmt, day=stmt.selected_columns[0],
                                          moment=stmt.selected_columns[1]))
                      for stmt in _change_statements(_param("r_hint", DateTime), start, closed_last,
                                                     _param("r_closed_lo", DateTime), _param("r_closed_hi", DateTime))]
    if today_in:
        parts.append(("partial", _padded("partial", select(RollupPartial.day).where(RollupPartial.day == today),
                                         day=RollupPartial.day, moment=RollupPartial.upto)))
    if partial:  # the rows under it changed since it was built?
        upto = _param("r_upto", DateTime)
        parts += [("changed_today", _padded("changed_today", stmt, day=stmt.selected_columns[0],
                                            moment=stmt.selected_columns[1]))
                  for stmt in _change_statements(upto, today, today, _param("r_today_lo", DateTime), upto)]
    if closed or partial:
        def held(column):
            if closed and partial:
                return or_(and_(column >= start, column <= closed_last), column == today)
            return and_(column >= start, column <= closed_last) if closed else column == today
        rollup = rollup_parts(held)
        rollup_tags = {tag for tag, _ in rollup}
        parts += rollup
    if reaches:
        parts += live_parts(_param("r_tail_lo", DateTime), _param("r_tail_hi", DateTime))
    found = _trips[key] = (union_all(*(stmt for _, stmt in parts)), {tag for tag, _ in parts}, rollup_tags)
    return found


_trips: dict = {}


def fetch(start: dt.date, end: dt.date, view: str, rollup_parts, live_parts) -> tuple[Plan, dict[str, list[Row]]]:
    """Everything a view reads for [start, end], usually in one round trip: the rollups of the days they
    hold unchanged (``rollup_parts(where)``, ``where(day_column)`` selecting those days), the rest from
    the order tables (``live_parts(lo, hi)`` for the moments [lo, hi)), and the plan. ``view`` names
    the pair of builders (the statement of a first round trip is kept per view and shape).

    The first round trip asks the plan (days built, the last claim, the days changed since the claim
    this process saw last, today's partial rollup as this process saw it last and its changes), the
    rollups of every built closed day of the range and of today up to the partial's moment, and from
    the order tables what came after. Only when a day must be read otherwise (a closed day changed
    since built or never built, today's partial moved on or changed) does a second one ask the
    rollups of exactly the days they hold and those days from the order tables."""
    today = clock.today()
    closed_last = min(end, today - dt.timedelta(days=1))
    key = str(db.engine.url)
    hint = _claim_seen.get(key)
    seen = _partial_seen.get(key)
    partial = seen[1] if seen is not None and seen[0] == today and start <= today <= end else None
    closed = start <= closed_last
    shape = (closed, closed and hint is not None, partial is not None, start <= today <= end, end >= today)
    stmt, tags, rollup_tags = _first_trip(view, shape, rollup_parts, live_parts)
    tail_lo = clock.beijing_day_start_utc(max(start, today))
    params = {"r_start": start, "r_closed_last": closed_last, "r_today": today, "r_hint": hint,
              "r_closed_lo": clock.beijing_day_start_utc(start),
              "r_closed_hi": clock.beijing_day_start_utc(closed_last + dt.timedelta(days=1)),
              "r_upto": partial, "r_today_lo": clock.beijing_day_start_utc(today),
              "r_tail_lo": max(tail_lo, partial) if partial else tail_lo,
              "r_tail_hi": clock.beijing_day_start_utc(end + dt.timedelta(days=1))}
    rows: dict[str, list] = {tag: [] for tag in tags}
    for raw in db.session.execute(stmt, params):
        rows[raw[0]].append(raw)

    result = Plan(start=start, end=end)
    built: dict[dt.date, dt.datetime] = {}
    night = None
    if closed:
        claims = rows["claim"]
        night = _as_moment(claims[0][2]) if claims else None
        count, latest_build = int(rows["built"][0][3 + _TEXTS] or 0), _as_moment(rows["built"][0][2])
        if count == (closed_last - start).days + 1 and night is not None and latest_build <= night:
            built = dict.fromkeys(_days(start, closed_last), latest_build)
        elif count:  # some day missing or built after the claim: each day's own build
            built = {_as_date(d): at for d, at in db.session.execute(
                select(RollupDay.day, RollupDay.built_at).where(RollupDay.day >= start,
                                                                RollupDay.day <= closed_last))}
    if built:
        if hint is not None and night is not None and hint <= night:
            changes: dict[dt.date, dt.datetime] = {}
            for r in rows["changed"]:
                if r[1] is not None and r[2] is not None:
                    day, latest = _as_date(r[1]), _as_moment(r[2])
                    changes[day] = max(changes.get(day, latest), latest)
        else:  # no usable bound: ask as plan() does, from the oldest day built or the claim
            oldest = min(built.values())
            changes = changed_days(max(oldest, night) if night else oldest, min(built), max(built))
        if night is not None:
            _claim_seen[key] = night
        for day, built_at in built.items():
            holds_until = max(built_at, night) if night else built_at
            if day not in changes or changes[day] < holds_until:
                result.rollup_days.add(day)
    current = [_as_moment(r[2]) for r in rows.get("partial", [])]
    if current:
        _partial_seen[key] = (today, current[0])
    partial_ok = (partial is not None and current == [partial]
                  and not any(r[1] is not None and r[2] is not None for r in rows.get("changed_today", [])))
    if partial_ok:
        result.partial = (today, partial)
    result.live_runs = _runs(d for d in _days(start, end) if d not in result.rollup_days)

    plan_tags = ("built", "claim", "changed", "partial", "changed_today")
    found = {tag: [_row(r) for r in got] for tag, got in rows.items() if tag not in plan_tags}
    closed_live = [(a, min(b, closed_last)) for a, b in result.live_runs if a <= closed_last]
    if closed_live or (partial is not None and not partial_ok):
        # some days are read otherwise: the rollups of exactly the days they hold, and the rest live
        held_days = set(result.rollup_days) | ({today} if partial_ok else set())
        again = rollup_parts(lambda column: _among(column, held_days)) if held_days else []
        for tag in rollup_tags:
            found[tag] = []
        if partial is not None and not partial_ok:  # today's rows after the partial's moment: today whole
            for tag in [t for t in found if t not in rollup_tags]:
                found[tag] = []
            again += live_parts(clock.beijing_day_start_utc(max(start, today)), params["r_tail_hi"])
        for a, b in closed_live:
            again += live_parts(*clock.beijing_day_bounds_utc(a, b))
        for tag, got in _run(again).items():
            found.setdefault(tag, []).extend(_row(r) for r in got)
    return result, found


def _among(column, days: set[dt.date]):
    """SQL: ``column`` is one of ``days`` (a range less the days between that are read live)."""
    first, last = min(days), max(days)
    holes = [d for d in _days(first, last) if d not in days]
    return and_(column >= first, column <= last, *([column.notin_(holes)] if holes else []))


def payment_rows(days: set[dt.date]):
    """The rollup rows (day, channel, kind, state) of ``days``, as plain rows."""
    if not days:
        return []
    return db.session.execute(select(*PaymentDayRollup.__table__.c).where(_among(PaymentDayRollup.day, days))).all()


def payment_grain(days: set[dt.date], dims: tuple[str, ...]) -> list:
    """The rollups of ``days`` summed in SQL over every dimension not in ``dims`` (rows with the
    StatRow attributes), so a year's page reads a few hundred rows."""
    from app.reports.statistics import StatRow

    if not days:
        return []
    t = PaymentDayRollup
    columns = [getattr(t, d) for d in dims]
    rows = db.session.execute(
        select(*columns, func.sum(t.paid_count), func.sum(t.paid_fen), func.sum(t.refund_count),
               func.sum(t.refund_fen)).where(_among(t.day, days)).group_by(*columns))
    out = []
    for row in rows:
        keys = dict(zip(dims, row[:len(dims)], strict=True))
        if "day" in keys:
            keys["day"] = _as_date(keys["day"])
        out.append(StatRow(**keys, paid_count=int(row[-4]), paid_fen=int(row[-3]), refund_count=int(row[-2]),
                           refund_fen=int(row[-1])))
    return out


def _grain_tag(dims: tuple[str, ...]) -> str:
    return "grain:" + ",".join(dims)


def payment_grain_part(dims: tuple[str, ...], where) -> Part:
    """``payment_grain`` as a part of a view's one round trip (``fetch``)."""
    t = PaymentDayRollup
    texts = [getattr(t, d) for d in dims if d != "day"]
    stmt = select(t.day).where(where(t.day)).group_by(*(getattr(t, d) for d in dims))
    return part(_grain_tag(dims), stmt, day=t.day if "day" in dims else None, texts=texts,
                numbers=[func.sum(t.paid_count), func.sum(t.paid_fen), func.sum(t.refund_count),
                         func.sum(t.refund_fen)])


def grain_rows(dims: tuple[str, ...], found: dict[str, list[Row]]) -> list:
    """The rows of ``payment_grain_part(dims)`` in a ``fetch`` answer, as StatRows."""
    from app.reports.statistics import StatRow

    out = []
    for r in found.get(_grain_tag(dims), []):
        texts = iter(r.texts)
        keys = {d: (r.day if d == "day" else next(texts)) for d in dims}
        paid_count, paid_fen, refund_count, refund_fen = r.numbers[:4]
        out.append(StatRow(**keys, paid_count=paid_count, paid_fen=paid_fen, refund_count=refund_count,
                           refund_fen=refund_fen))
    return out


def analytics_money_rows(days: set[dt.date], paid_states) -> list[tuple]:
    """(day, channel, kind, paid count, paid fen, refunded fen) of ``days``, summed over the states in
    SQL: what was paid counts in ``paid_states`` only, refunds in every state."""
    if not days:
        return []
    t = PaymentDayRollup
    paid = t.status.in_(tuple(paid_states))
    rows = db.session.execute(
        select(t.day, t.channel, t.kind, func.sum(case((paid, t.paid_count), else_=0)),
               func.sum(case((paid, t.paid_fen), else_=0)), func.sum(t.refund_fen))
        .where(_among(t.day, days)).group_by(t.day, t.channel, t.kind))
    return [(_as_date(day), channel, kind, int(count), int(fen), int(refund))
            for day, channel, kind, count, fen, refund in rows]


def activity_rows(days: set[dt.date]) -> list[dict]:
    """The rollup rows (day, channel) of followers, bindings and registrations of ``days``."""
    if not days:
        return []
    return [dict(r) for r in db.session.execute(
        select(*ActivityDayRollup.__table__.c).where(_among(ActivityDayRollup.day, days))).mappings()]


def activity_part(where) -> Part:
    """``activity_rows`` as a part of a view's one round trip (``fetch``)."""
    t = ActivityDayRollup
    return part("activity", select(t.day).where(where(t.day)), day=t.day, texts=[t.channel],
                numbers=[getattr(t, name) for name in _ACTIVITY])


def activity_of(found: dict[str, list[Row]]) -> list[dict]:
    """The rows of ``activity_part`` in a ``fetch`` answer, as ``activity_rows`` gives them."""
    return [{"day": r.day, "channel": r.texts[0], **dict(zip(_ACTIVITY, r.numbers, strict=False))}
            for r in found.get("activity", [])]


_MONEY_KINDS = ("registration", "outpatient", "deposit")  # 数据分析's kinds (analytics.KINDS)


def analytics_money_part(where, paid_states) -> Part:
    """``analytics_money_rows`` as a part of a view's one round trip (``fetch``), one row per day and
    channel (the kinds side by side: a year is 730 rows, not 2,190): fen paid per kind, payments per
    kind (in ``paid_states``), fen refunded (every kind and state)."""
    t = PaymentDayRollup
    paid = t.status.in_(tuple(paid_states))
    fen = [func.sum(case((and_(paid, t.kind == kind), t.paid_fen), else_=0)) for kind in _MONEY_KINDS]
    count = [func.sum(case((and_(paid, t.kind == kind), t.paid_count), else_=0)) for kind in _MONEY_KINDS]
    stmt = select(t.day).where(where(t.day)).group_by(t.day, t.channel)
    return part("money", stmt, day=t.day, texts=[t.channel], numbers=[*fen, *count, func.sum(t.refund_fen)])


def analytics_money_of(found: dict[str, list[Row]]) -> list[tuple]:
    """The rows of ``analytics_money_part`` in a ``fetch`` answer as ``analytics_money_rows`` gives them,
    (day, channel, kind, paid count, paid fen, refunded fen), the day's refunds on its first kind."""
    out = []
    for r in found.get("money", []):
        channel, refund = r.texts[0], r.numbers[6]
        for i, kind in enumerate(_MONEY_KINDS):
            out.append((r.day, channel, kind, r.numbers[3 + i], r.numbers[i], refund if i == 0 else 0))
    return out


_ACTIVITY = ("follow", "unfollow", "bind", "unbind", "booking_advance", "booking_same_day", "booking_fee_fen")


# --- writing ------------------------------------------------------------------------------------


@transaction
def _build_chunk(first: dt.date, last: dt.date) -> None:
    from app.reports import analytics, statistics

    built_at = clock.utcnow() - MARGIN
    stat_rows = statistics.live_rows(first, last)
    activity = analytics.live_activity_rows(first, last)
    days = list(_days(first, last))
    db.session.execute(delete(PaymentDayRollup).where(PaymentDayRollup.day >= first, PaymentDayRollup.day <= last))
    db.session.execute(delete(ActivityDayRollup).where(ActivityDayRollup.day >= first,
                                                       ActivityDayRollup.day <= last))
    db.session.execute(delete(RollupDay).where(RollupDay.day >= first, RollupDay.day <= last))
    if stat_rows:
        db.session.execute(insert(PaymentDayRollup), [
            {"day": r.day, "channel": r.channel, "kind": r.kind, "status": r.status, "paid_count": r.paid_count,
             "paid_fen": r.paid_fen, "refund_count": r.refund_count, "refund_fen": r.refund_fen}
            for r in stat_rows])
    if activity:
        db.session.execute(insert(ActivityDayRollup), activity)
    db.session.execute(insert(RollupDay), [{"day": d, "built_at": built_at} for d in days])


@transaction
def _build_partial(day: dt.date, upto: dt.datetime) -> None:
    """Roll ``day`` (today) up to ``upto``: the rows whose moment is before it, as committed ``MARGIN``
    before this run started (so ``upto`` is also the stamp before which every change is in). Earlier
    days' partials go: the night has replaced them, or will, with whole days."""
    from app.reports import analytics, statistics

    db.session.execute(delete(RollupPartial))
    lo = clock.beijing_day_start_utc(day)
    if upto > lo:
        stat_rows = statistics.live_rows(day, day, until=upto)
        activity = analytics.live_activity_rows(day, day, until=upto)
        db.session.execute(delete(PaymentDayRollup).where(PaymentDayRollup.day == day))
        db.session.execute(delete(ActivityDayRollup).where(ActivityDayRollup.day == day))
        if stat_rows:
            db.session.execute(insert(PaymentDayRollup), [
                {"day": r.day, "channel": r.channel, "kind": r.kind, "status": r.status,
                 "paid_count": r.paid_count, "paid_fen": r.paid_fen, "refund_count": r.refund_count,
                 "refund_fen": r.refund_fen} for r in stat_rows])
        if activity:
            db.session.execute(insert(ActivityDayRollup), activity)
        db.session.add(RollupPartial(day=day, upto=upto))


def build(first: dt.date, last: dt.date, trigger: str = "rebuild", progress=None) -> RollupRun:
    """Write the rollups of the closed days in [first, last] (days from today on are skipped: they are
    always computed live), a month per transaction."""
    run = RollupRun(trigger=trigger, started_at=clock.utcnow(), days=0)
    last = min(last, clock.today() - dt.timedelta(days=1))
    run.first_day, run.last_day = (first, last) if first <= last else (None, None)
    day = first
    while day <= last:
        chunk_last = min(last, day + dt.timedelta(days=CHUNK_DAYS - 1))
        _build_chunk(day, chunk_last)
        run.days += (chunk_last - day).days + 1
        if progress:
            progress(day, chunk_last)
        day = chunk_last + dt.timedelta(days=1)
    run.finished_at = clock.utcnow()
    with unit_of_work():
        db.session.add(run)
    return run


def _catch_up(trigger: str, due: set[dt.date]) -> RollupRun:
    """Rebuild ``due`` and every closed day changed since the last claim, then claim consistency up
    to this run's start (less the margin)."""
    started = clock.utcnow()
    yesterday = clock.today() - dt.timedelta(days=1)
    built = {_as_date(d): at for d, at in db.session.execute(select(RollupDay.day, RollupDay.built_at))}
    if built:
        since = consistent_at() or min(built.values())
        changes = changed_days(since, min(built), min(max(built), yesterday))
        due |= {d for d, at in changes.items() if d in built and at >= built[d]}
    run = RollupRun(trigger=trigger, started_at=started, days=0)
    for first, last in _runs(due):
        for chunk in range((last - first).days // CHUNK_DAYS + 1):
            a = first + dt.timedelta(days=chunk * CHUNK_DAYS)
            b = min(last, a + dt.timedelta(days=CHUNK_DAYS - 1))
            _build_chunk(a, b)
            run.days += (b - a).days + 1
    run.first_day, run.last_day = (min(due), max(due)) if due else (None, None)
    _build_partial(clock.today(), started - MARGIN)
    run.finished_at = clock.utcnow()
    run.consistent_at = started - MARGIN
    with unit_of_work():
        db.session.add(run)
        # marks older than the claim are in the days just rebuilt
        db.session.execute(delete(RollupStaleDay).where(RollupStaleDay.marked_at < run.consistent_at))
    return run


def nightly() -> RollupRun:
    """After midnight Beijing: yesterday, every closed day changed since the last run, and any missing
    day of the last week."""
    yesterday = clock.today() - dt.timedelta(days=1)
    week = set(_days(yesterday - dt.timedelta(days=CATCH_UP_DAYS - 1), yesterday))
    have = set(map(_as_date, db.session.scalars(select(RollupDay.day).where(RollupDay.day >= min(week),
                                                                            RollupDay.day < yesterday))))
    run = _catch_up("nightly", {yesterday} | (week - have))
    # the refreshes that found nothing to do say nothing the newest claim does not
    with unit_of_work():
        db.session.execute(delete(RollupRun).where(RollupRun.trigger == "refresh", RollupRun.days == 0,
                                                   RollupRun.started_at < run.started_at - dt.timedelta(days=2)))
    return run


def refresh() -> RollupRun:
    """During the day: the closed days changed since the last run (a refund of last week's payment, a
    late confirmation), so pages read at most the last few minutes' changed days from the orders; and
    yesterday if the night has not built it yet."""
    yesterday = clock.today() - dt.timedelta(days=1)
    missing = db.session.get(RollupDay, yesterday) is None
    return _catch_up("refresh", {yesterday} if missing else set())
