"""Run-time settings operations staff may change (SystemSetting rows), read with typed defaults.

A missing or unreadable value falls back to its default (and is logged), so a typo in the
back-office never takes registration down.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass

from sqlalchemy import select

from app.extensions import db
from app.models import SystemSetting

log = logging.getLogger("settings")


def _raw(prefix: str) -> dict[str, str]:
    rows = db.session.execute(select(SystemSetting.key, SystemSetting.value)
                              .where(SystemSetting.key.like(f"{prefix}%"))).all()
    return {key: value for key, value in rows}


def _int(values: dict[str, str], key: str, default: int, minimum: int = 0) -> int:
    text = values.get(key)
    if text is None:
        return default
    try:
        number = int(str(text).strip())
    except ValueError:
        log.warning("setting %s=%r is not a whole number; using %s", key, text, default)
        return default
    return max(number, minimum)


def _bool(values: dict[str, str], key: str, default: bool) -> bool:
    text = values.get(key)
    if text is None:
        return default
    return str(text).strip().lower() in ("1", "true", "yes", "on", "是")


def _time(values: dict[str, str], key: str, default: dt.time) -> dt.time:
    text = values.get(key)
    if text is None:
        return default
    try:
        hour, minute = (int(part) for part in str(text).strip().split(":"))
        return dt.time(hour, minute)
    except ValueError:
        log.warning("setting %s=%r is not HH:MM; using %s", key, text, default)
        return default


@dataclass(frozen=True)
class BookingRules:
    """The configurable registration rules (keys ``booking.*``; defaults in brackets)."""

    days_ahead: int = 7                 # booking.days_ahead: advance booking up to N days ahead [7]
    release_time: dt.time = dt.time(8, 0)  # booking.release_time: the newest day opens at HH:MM [08:00]
    same_day: bool = True               # booking.same_day: 当天挂号 allowed [1]
    advance: bool = True                # booking.advance: 预约挂号 (future days) allowed [1]
    pay_minutes: int = 15               # booking.pay_minutes: time to pay before the slot is released [15]
    cancel_before_minutes: int = 60     # booking.cancel_before_minutes: cancel until N min before the slot [60]
    max_active: int = 3                 # booking.max_active_per_patient [3]
    no_show_limit: int = 3              # booking.no_show_limit: this many no-shows ... [3]
    no_show_window_days: int = 90       # booking.no_show_window_days: ... within N days ... [90]
    no_show_bar_days: int = 30          # booking.no_show_bar_days: ... bar booking for N days [30]
    attendance_grace_minutes: int = 60  # booking.attendance_grace_minutes: a session is over N min after
                                        # its last slice ends; only then is a booking 爽约 [60]
    attendance_lookback_days: int = 7   # booking.attendance_lookback_days: the sweep asks the HIS about
                                        # clinic days up to N days back [7]


def booking_rules() -> BookingRules:
    """The booking rules as configured now (one query)."""
    values = _raw("booking.")
    d = BookingRules()
    return BookingRules(
        days_ahead=_int(values, "booking.days_ahead", d.days_ahead, 0),
        release_time=_time(values, "booking.release_time", d.release_time),
        same_day=_bool(values, "booking.same_day", d.same_day),
        advance=_bool(values, "booking.advance", d.advance),
        pay_minutes=_int(values, "booking.pay_minutes", d.pay_minutes, 1),
        cancel_before_minutes=_int(values, "booking.cancel_before_minutes", d.cancel_before_minutes, 0),
        max_active=_int(values, "booking.max_active_per_patient", d.max_active, 1),
        no_show_limit=_int(values, "booking.no_show_limit", d.no_show_limit, 1),
        no_show_window_days=_int(values, "booking.no_show_window_days", d.no_show_window_days, 1),
        no_show_bar_days=_int(values, "booking.no_show_bar_days", d.no_show_bar_days, 0),
        attendance_grace_minutes=_int(values, "booking.attendance_grace_minutes", d.attendance_grace_minutes, 0),
        attendance_lookback_days=_int(values, "booking.attendance_lookback_days", d.attendance_lookback_days, 1),
    )


def set_value(key: str, value: str, by: str = "system") -> None:
    """Write one setting in the caller's unit of work (tests and the demo seed use it)."""
    row = db.session.scalar(select(SystemSetting).where(SystemSetting.key == key))
    if row is None:
        db.session.add(SystemSetting(key=key, value=value, updated_by=by))
    else:
        row.value, row.updated_by = value, by
_HOURS = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)-([01]?\d|2[0-3]):([0-5]\d)$")


def setting_text(key: str, default: str) -> str:
    """The stored value of ``key`` (stripped), or ``default`` when there is none."""
    value = db.session.scalar(select(SystemSetting.value).where(SystemSetting.key == key))
    return default if value is None or not value.strip() else value.strip()


def setting_fen(key: str, default_fen: int) -> int:
    """A money setting stored in yuan (e.g. "100" or "99.50"), as integer fen."""
    from app.services.money import parse_yuan

    raw = setting_text(key, "")
    if not raw:
        return default_fen
    fen = parse_yuan(raw)
    if fen is None:
        log.error("setting %s=%r is not an amount in yuan; using %s fen", key, raw, default_fen)
        return default_fen
    return fen


def setting_hours(key: str, default: str) -> tuple[dt.time, dt.time]:
    """A time window "HH:MM-HH:MM" (may wrap midnight, e.g. "22:00-08:00")."""
    raw = setting_text(key, default).replace(" ", "")
    match = _HOURS.match(raw)
    if match is None:
        log.error("setting %s=%r is not HH:MM-HH:MM; using %s", key, raw, default)
        match = _HOURS.match(default)
        assert match is not None, default
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    return dt.time(h1, m1), dt.time(h2, m2)


def in_window(moment: dt.time, window: tuple[dt.time, dt.time]) -> bool:
    """True when ``moment`` lies in [start, end), the window possibly wrapping past midnight."""
    start, end = window
    if start == end:
        return False
    if start < end:
        return start <= moment < end
    return moment >= start or moment < end
