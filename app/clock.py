"""The platform's one "now", and Beijing <-> UTC at the borders.

Every part of the platform (services, tasks, pages, the HIS simulator and the sandbox channels) asks
this module for the time; nothing else calls ``datetime.now()``, ``date.today()`` or adds 8 hours.

Three kinds of time meet here:

* the database holds **naive UTC** (``utcnow()``);
* the HIS, the hospital's timetable and everything a patient or staff member reads speak **naive
  Beijing time** (``beijing_now()``, ``today()``, ``to_beijing()``, ``display()``);
* ``now()`` is the aware UTC moment, for code that wants an unambiguous value.

China has had no daylight saving since 1991, so Beijing is a fixed UTC+8 offset.

Tests move the clock with ``travel(moment)`` (it keeps ticking from there) or ``freeze(moment)``
(it stands still until ``advance()``), and ``reset()`` puts it back. The override is process-wide,
not per thread, so a live server thread and the test see the same time.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from contextlib import contextmanager

BEIJING = dt.timezone(dt.timedelta(hours=8), "Asia/Shanghai")
UTC = dt.UTC

_lock = threading.Lock()
_frozen: dt.datetime | None = None      # aware UTC: the clock stands still here
_offset: dt.timedelta | None = None     # the clock ticks, shifted by this much


def _real_now() -> dt.datetime:
    return dt.datetime.now(UTC)


def now() -> dt.datetime:
    """The current moment, aware, in UTC."""
    frozen, offset = _frozen, _offset
    if frozen is not None:
        return frozen
    if offset is not None:
        return _real_now() + offset
    return _real_now()


def utcnow() -> dt.datetime:
    """Naive UTC now: what the database stores."""
    return now().replace(tzinfo=None)


def beijing_now() -> dt.datetime:
    """Naive Beijing now, to the microsecond: what the HIS and the hospital's timetable speak."""
    return now().astimezone(BEIJING).replace(tzinfo=None)


def today() -> dt.date:
    """Today's date in Beijing (the hospital's day; it differs from the UTC date before 08:00)."""
    return beijing_now().date()


# --- conversions at the borders ------------------------------------------------------------------


def _as_aware(moment: dt.datetime, naive_zone: dt.tzinfo) -> dt.datetime:
    return moment.replace(tzinfo=naive_zone) if moment.tzinfo is None else moment


def to_beijing(moment: dt.datetime | None) -> dt.datetime | None:
    """Naive Beijing time of ``moment`` (a naive value is taken as UTC, as the database holds it)."""
    if moment is None:
        return None
    return _as_aware(moment, UTC).astimezone(BEIJING).replace(tzinfo=None)


def to_utc(moment: dt.datetime | None) -> dt.datetime | None:
    """Naive UTC of ``moment`` (a naive value is taken as Beijing time, as the HIS speaks it)."""
    if moment is None:
        return None
    return _as_aware(moment, BEIJING).astimezone(UTC).replace(tzinfo=None)


def beijing_day_start_utc(day: dt.date) -> dt.datetime:
    """Naive UTC of 00:00 Beijing on ``day`` (the start of the hospital's day in database terms)."""
    return to_utc(dt.datetime.combine(day, dt.time()))


def beijing_day_bounds_utc(first: dt.date, last: dt.date | None = None) -> tuple[dt.datetime, dt.datetime]:
    """Half-open naive UTC range [00:00 Beijing on ``first``, 00:00 Beijing the day after ``last``)."""
    return beijing_day_start_utc(first), beijing_day_start_utc((last or first) + dt.timedelta(days=1))


def beijing_date(moment: dt.datetime | None) -> dt.date | None:
    """The Beijing date of a database (naive UTC) timestamp."""
    local = to_beijing(moment)
    return None if local is None else local.date()


def sql_beijing_date(column, dialect_name: str):  # type: ignore[no-untyped-def]
    """SQL for the Beijing calendar date of a naive-UTC timestamp column (grouping by the hospital's day
    inside the database), for SQLite or MariaDB."""
    from sqlalchemy import Date, cast, func, literal_column

    hours = int(BEIJING.utcoffset(None).total_seconds() // 3600)
    if dialect_name == "sqlite":
        return func.date(column, f"+{hours} hours")
    return cast(func.date_add(column, literal_column(f"INTERVAL {hours} HOUR")), Date)


def display(moment: dt.datetime | None, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    """A database (naive UTC) timestamp as staff and patients read it: Beijing, no microseconds."""
    local = to_beijing(moment)
    return "" if local is None else local.strftime(fmt)


# --- tests and demos move the clock --------------------------------------------------------------


def _to_utc_aware(moment: dt.datetime | dt.date) -> dt.datetime:
    if not isinstance(moment, dt.datetime):
        moment = dt.datetime.combine(moment, dt.time(9, 0))  # a bare date: 09:00 Beijing that day
    return _as_aware(moment, BEIJING).astimezone(UTC)


def travel(moment: dt.datetime | dt.date) -> None:
    """Move the clock to ``moment`` (naive = Beijing time) and let it keep ticking from there."""
    global _frozen, _offset
    with _lock:
        _frozen, _offset = None, _to_utc_aware(moment) - _real_now()


def freeze(moment: dt.datetime | dt.date) -> None:
    """Stop the clock at ``moment`` (naive = Beijing time) until ``advance``, ``travel`` or ``reset``."""
    global _frozen, _offset
    with _lock:
        _frozen, _offset = _to_utc_aware(moment), None


def advance(delta: dt.timedelta) -> None:
    """Move the clock forward by ``delta`` (frozen or ticking)."""
    global _frozen, _offset
    with _lock:
        if _frozen is not None:
            _frozen = _frozen + delta
        else:
            _offset = (_offset or dt.timedelta()) + delta


def reset() -> None:
    """Back to the real time."""
    global _frozen, _offset
    with _lock:
        _frozen, _offset = None, None


def is_moved() -> bool:
    return _frozen is not None or _offset is not None


@contextmanager
def frozen_at(moment: dt.datetime | dt.date) -> Iterator[None]:
    """``freeze`` for the block, then back to the real time."""
    freeze(moment)
    try:
        yield
    finally:
        reset()
