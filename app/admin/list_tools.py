"""What finance needs on every order list: date presets that set the list's own date filter, a
message for a date that cannot be read, the active conditions in words, and a 合计 of the filtered rows."""

from __future__ import annotations

from urllib.parse import urlencode

from flask import flash, request
from flask_babel import gettext as _

from app.services import date_ranges
from app.reports import exports
from app.services.formatting import yuan_grouped

#: date criteria -> (the list's column, filter index, what staff call it)
DATE_CRITERIA = {
    "created_from": ("created_at", 0), "created_to": ("created_at", 1),
    "clinic_date_from": ("clinic_date", 0), "clinic_date_to": ("clinic_date", 1),
    "confirmed_from": ("confirmed_at", 0), "confirmed_to": ("confirmed_at", 1),
    "paid_from": ("paid_at", 0), "paid_to": ("paid_at", 1),
    "succeeded_from": ("succeeded_at", 0), "succeeded_to": ("succeeded_at", 1),
}


def flash_bad_dates(criteria: dict[str, str], kind: str = "") -> None:
    """A date filter that cannot be read is said (named as the list ``kind`` names it), never silently dropped."""
    from app.services.errors import DomainError

    for key, value in criteria.items():
        if key in DATE_CRITERIA:
            try:
                date_ranges.parse_day(value, exports.condition_label(kind, key))
            except DomainError as exc:
                flash(exc.message + _("；此条件未生效"), "danger")


def preset_links(column: str) -> list[dict]:
    """Each preset (今天 … 上月) as the current list URL with its date filter on ``column`` replaced."""
    base = [(k, v) for k, v in request.args.items(multi=True)
            if k not in (f"_flt_0_{column}", f"_flt_1_{column}") and not k.startswith("page_")]
    links = []
    current = (request.args.get(f"_flt_0_{column}"), request.args.get(f"_flt_1_{column}"))
    for p in date_ranges.presets():
        args = base + [(f"_flt_0_{column}", p.start.isoformat()), (f"_flt_1_{column}", p.end.isoformat())]
        links.append({"key": p.key, "label": p.label, "url": "?" + urlencode(args),
                      "active": current == (p.start.isoformat(), p.end.isoformat())})
    return links


def custom_range(column: str) -> dict:
    """The 自定义 form of a date filter: the days now chosen, and every other argument of the list to keep."""
    keep = [(k, v) for k, v in request.args.items(multi=True)
            if k not in (f"_flt_0_{column}", f"_flt_1_{column}") and not k.startswith("page_")]
    return {"keep": keep, "start_name": f"_flt_0_{column}", "end_name": f"_flt_1_{column}",
            "start": request.args.get(f"_flt_0_{column}", ""), "end": request.args.get(f"_flt_1_{column}", "")}


def date_groups(filters) -> list[dict]:
    """For each (column, label) of a list's date filters: its presets and its 自定义 range."""
    return [{"column": column, "label": str(label), "presets": preset_links(column), "custom": custom_range(column)}
            for column, label in filters]


class DatePresets:
    """A list with a date (or several: 下单时间 and 就诊日期) offers 今天 … 上月 and a custom range for each,
    above the table. ``date_filters`` names them: (column, label); each column's search filters are
    从 (``_flt_0_``) and 至 (``_flt_1_``), see ``app.admin.filters.day_range``."""

    date_filters: tuple[tuple[str, object], ...] = ()
    list_template = "backoffice/order_list.html"

    def render_template(self, template, **kwargs):
        if template == self.list_template and self.date_filters:
            kwargs.setdefault("date_groups", date_groups(self.date_filters))
        return super().render_template(template, **kwargs)


def totals_row(totals: dict | None, columns: dict[str, str]) -> dict | None:
    """The 合计 row under the table: the count and each money column summed over every filtered row (not
    just the page), with thousand separators. ``columns``: list column -> key in ``totals``."""
    if totals is None:
        return None
    return {"label": _("合计（全部 %(n)s 笔）", n=f"{totals['count']:,}"),
            "cells": {column: yuan_grouped(totals[key]) for column, key in columns.items() if key in totals}}


def list_context(kind: str, criteria: dict[str, str], totals: dict | None) -> dict:
    """Template values for backoffice/_list_tools.html."""
    return {"conditions": exports.describe_conditions(kind, criteria), "totals": totals, "money": yuan_grouped}
