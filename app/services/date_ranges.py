"""Date ranges staff pick on lists and reports: presets (今天, 昨天, 本周, 本月, 上月) and custom dates.

A date that cannot be read, or a range that ends before it starts, is a message for the person who
typed it (``DomainError``), never silently dropped.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app import clock
from app.services.errors import DomainError

PRESETS = (("today", _l("今天")), ("yesterday", _l("昨天")), ("this_week", _l("本周")),
           ("this_month", _l("本月")), ("last_month", _l("上月")))


@dataclass(frozen=True)
class Preset:
    key: str
    label: str
    start: dt.date
    end: dt.date


def presets(today: dt.date | None = None) -> list[Preset]:
    """The preset ranges around ``today`` (Beijing); weeks start on Monday."""
    today = today or clock.today()
    first_of_month = today.replace(day=1)
    last_month_end = first_of_month - dt.timedelta(days=1)
    spans = {
        "today": (today, today),
        "yesterday": (today - dt.timedelta(days=1), today - dt.timedelta(days=1)),
        "this_week": (today - dt.timedelta(days=today.weekday()), today),
        "this_month": (first_of_month, today),
        "last_month": (last_month_end.replace(day=1), last_month_end),
    }
    return [Preset(key, str(label), *spans[key]) for key, label in PRESETS]


def parse_day(text: str | None, field: str) -> dt.date | None:
    """``2026-11-25`` -> date; blank -> None; anything else -> DomainError naming the field."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text.replace("/", "-"))
    except ValueError:
        raise DomainError(_("%(field)s“%(text)s”不是有效日期，请按 YYYY-MM-DD 填写", field=field, text=text[:20]),
                          code="bad_date") from None


def parse_range(start: str | None, end: str | None, *, default_days: int = 30,
                max_days: int = 366) -> tuple[dt.date, dt.date]:
    """The range typed (either end may be blank), or the last ``default_days`` days ending today."""
    last = parse_day(end, _("结束日期")) or clock.today()
    first = parse_day(start, _("开始日期")) or last - dt.timedelta(days=default_days - 1)
    if last < first:
        raise DomainError(_("结束日期不能早于开始日期"), code="bad_range")
    if (last - first).days >= max_days:
        raise DomainError(_("日期范围不能超过 %(n)s 天", n=max_days), code="bad_range")
    return first, last


def active_preset(first: dt.date, last: dt.date, today: dt.date | None = None) -> str | None:
    """Which preset the range is, if any (to highlight it)."""
    return next((p.key for p in presets(today) if (p.start, p.end) == (first, last)), None)
