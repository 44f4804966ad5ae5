"""Run-time settings operations staff edit (SystemSetting), read with a safe default.

A missing or malformed value never breaks a patient's page: the default applies and the problem is
logged for operations to fix.
"""

from __future__ import annotations

import datetime as dt
import logging
import re

from sqlalchemy import select

from app.extensions import db
from app.models import SystemSetting

log = logging.getLogger("settings")
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
