"""Search filters that speak the services' criteria, and a model view that audits every change.

``CriteriaInterface`` lets a ModelView's search offer filters backed by app/backoffice/orders.py
conditions (patient card, phone, doctor, a date range …), so the list page and its .xlsx export
select exactly the same rows.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import g
from flask_appbuilder import ModelView
from flask_appbuilder.models.filters import BaseFilter
from flask_appbuilder.models.sqla.filters import SQLAFilterConverter
from flask_appbuilder.models.sqla.interface import SQLAInterface
from sqlalchemy import inspect as sa_inspect

from app import clock
from app.services import audit
from app.backoffice import orders


def _condition_tables() -> dict:
    from app.backoffice import operators

    return {**orders.CRITERIA, "operator": operators.CRITERIA}


class CriterionFilter(BaseFilter):
    """One service criterion (``order_type``/``criterion``, see app/backoffice/orders.py) as a FAB filter."""

    order_type = "appointment"
    criterion = ""
    arg_name = "criterion"

    def apply(self, query, value):
        build = _condition_tables()[self.order_type].get(self.criterion)
        cond = None if build is None or value is None else build(str(value))
        return query if cond is None else query.filter(cond)


def criterion(order_type: str, key: str, name) -> type[CriterionFilter]:
    return type(f"Criterion_{order_type}_{key}", (CriterionFilter,),
                {"order_type": order_type, "criterion": key, "name": name, "arg_name": key})


class CriteriaInterface(SQLAInterface):
    """SQLAInterface whose search filters for the listed columns are the given criterion filters."""

    def __init__(self, obj, criteria: dict[str, list[type[BaseFilter]]] | None = None, session=None) -> None:
        super().__init__(obj, session)
        table = criteria or {}

        class Converter(SQLAFilterConverter):
            def convert(self, col_name: str):
                if col_name in table:
                    return [flt(col_name, self.datamodel) for flt in table[col_name]]
                return super().convert(col_name)

        self.filter_converter_class = Converter
        self._criteria_columns = list(table)

    def get_filters(self, search_columns=None, search_filters=None):
        """FAB only accepts URL filters on real columns (``_all_filters``); add the criterion columns."""
        filters = super().get_filters(search_columns, search_filters)
        filters._all_filters = {**filters._all_filters, **filters._get_filters(self._criteria_columns)}
        return filters


class BeijingDayFilter(BaseFilter):
    """One end of a date range on a timestamp (naive UTC, compared by Beijing day) or a date column.
    A date that cannot be read is said next to the list and the condition left out, never silently."""

    bound = "from"
    as_utc = True
    field_label = ""
    column: tuple = ()  # (another table's column,) with ``through``; else the view's own column of that name
    through = None  # (this table's key, the other table's key) when the date is on a related row

    def apply(self, query, value):
        from flask import flash
        from flask_babel import gettext as _

        from app.services import date_ranges
        from app.services.errors import DomainError

        text = str(value or "").strip()
        if len(text) > 10 and text[10] in " T":  # a date-time picker's value: its day
            text = text[:10]
        try:
            day = date_ranges.parse_day(text, str(self.field_label or _("日期")))
        except DomainError as exc:
            said = g.__dict__.setdefault("_bad_dates_said", set())
            if exc.message not in said:  # the list applies its filters twice (count, rows): say it once
                said.add(exc.message)
                flash(exc.message + _("；此条件未生效"), "danger")
            return query
        return query if day is None else query.filter(self.condition(day))

    def condition(self, day: dt.date):
        column = self.column[0] if self.column else getattr(self.model, self.column_name)
        if self.bound == "from":
            return column >= (clock.beijing_day_start_utc(day) if self.as_utc else day)
        if self.as_utc:
            return column < clock.beijing_day_start_utc(day + dt.timedelta(days=1))
        return column <= day

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.through is not None:  # e.g. a reconciliation difference filtered by its run's 账单日期
            own, other = self.through
            inner = self.condition

            def condition(day: dt.date):
                from sqlalchemy import select

                return own.in_(select(other).where(inner(day)))

            self.condition = condition


def day_range(field_label, *, as_utc: bool = True, column=None, through=None) -> list[type[BeijingDayFilter]]:
    """从 / 至 filters for a date column: _flt_0_<column> is the first day, _flt_1_<column> the last (the
    date presets above each list set exactly these). Timestamps compare by Beijing day (``as_utc``)."""
    from flask_babel import lazy_gettext as _l

    return [type(f"BeijingDay_{bound}", (BeijingDayFilter,),
                 {"name": name, "bound": bound, "as_utc": as_utc, "arg_name": f"day_{bound}",
                  "field_label": field_label, "column": (column,) if column is not None else (),
                  "through": through})
            for bound, name in (("from", _l("从")), ("to", _l("至")))]


def criteria_of(filters) -> dict[str, str]:
    """The criteria a view's current search filters stand for (for exports and audit)."""
    found: dict[str, str] = {}
    for flt, values in filters.get_filters_values():
        if not isinstance(flt, CriterionFilter):
            continue
        for value in values if isinstance(values, list) else [values]:
            if value not in (None, "") and str(value).strip():
                found[flt.criterion] = str(value).strip()
    return found


def beijing_time(value: dt.datetime | None) -> str:
    """Naive UTC from the database as Beijing time for staff pages."""
    return clock.display(value)


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if hasattr(value, "id") and hasattr(value, "__table__"):
        # Audit trails name things (a role "Finance", not "Role:5"); rows without a name keep their id.
        name = getattr(value, "name", None) or getattr(value, "username", None)
        return str(name) if name else f"{value.__class__.__name__}:{value.id}"
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


class AuditedModelView(ModelView):
    """A ModelView whose add/edit/delete leave an audit row (before/after, who, IP) in the same commit
    as the change itself (FAB's datamodel commits both)."""

    audit_target = ""
    audit_exclude = ("password", "updated_at", "created_at", "changed_on", "created_on")

    def _snapshot(self, item) -> dict[str, Any]:
        state = sa_inspect(item)
        return {attr.key: _plain(attr.value) for attr in state.attrs
                if attr.key not in self.audit_exclude and not attr.key.startswith("_")
                and attr.key in state.mapper.columns}

    def _changes(self, item) -> tuple[dict, dict]:
        before, after = {}, {}
        state = sa_inspect(item)
        for attr in state.attrs:
            if attr.key in self.audit_exclude:
                continue
            hist = attr.history
            if hist.has_changes():
                before[attr.key] = _plain(hist.deleted[0] if len(hist.deleted) == 1 else list(hist.deleted))
                after[attr.key] = _plain(hist.added[0] if len(hist.added) == 1 else list(hist.added))
        return before, after

    def pre_add(self, item) -> None:
        self.datamodel.session.add(item)
        self.datamodel.session.flush()
        audit.record_staff(f"staff.{self.audit_target}_add", g.user, target_type=self.audit_target,
                           target_id=getattr(item, "id", None), after=self._snapshot(item))

    def pre_update(self, item) -> None:
        before, after = self._changes(item)
        if after:
            audit.record_staff(f"staff.{self.audit_target}_edit", g.user, target_type=self.audit_target,
                               target_id=getattr(item, "id", None), before=before, after=after)

    def pre_delete(self, item) -> None:
        audit.record_staff(f"staff.{self.audit_target}_delete", g.user, target_type=self.audit_target,
                           target_id=getattr(item, "id", None), before=self._snapshot(item))
