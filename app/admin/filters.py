"""Search filters that speak the services' criteria, and a model view that audits every change.

``CriteriaInterface`` lets a ModelView's search offer filters backed by app/services/orders.py
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

from app.services import audit, orders

BEIJING = dt.timedelta(hours=8)


def _condition_tables() -> dict:
    from app.services import operators

    return {**orders.CRITERIA, "operator": operators.CRITERIA}


class CriterionFilter(BaseFilter):
    """One service criterion (``order_type``/``criterion``, see app/services/orders.py) as a FAB filter."""

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
    return "" if value is None else (value + BEIJING).strftime("%Y-%m-%d %H:%M:%S")


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if hasattr(value, "id") and hasattr(value, "__table__"):
        return f"{value.__class__.__name__}:{value.id}"
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
