"""The HIS gateway contract's shared checks and finds: money fields are ints all the way down, an open
slice of a future day, a card with pending bills in the simulator."""

from __future__ import annotations

import dataclasses
import datetime as dt

from sqlalchemy import select

from app.his.interface import ClinicSession, HisGateway, TimeSlice
from doubles.his.simulator import SimulatorHis
from doubles.his.simulator.models import BillRow


def walk_money(value: object) -> None:
    """Every *_fen field anywhere in a result is an int (never a float or a string)."""
    if dataclasses.is_dataclass(value):
        for f in dataclasses.fields(value):
            inner = getattr(value, f.name)
            if f.name.endswith("_fen"):
                assert type(inner) is int, (f.name, inner)
            walk_money(inner)
    elif isinstance(value, (tuple, list)):
        for v in value:
            walk_money(v)
    elif isinstance(value, dict):
        for v in value.values():
            walk_money(v)


def open_slice(
    his: HisGateway, today: dt.date, min_remaining: int = 1
) -> tuple[ClinicSession, TimeSlice]:
    """An open slice of a future day with at least ``min_remaining`` places."""
    sessions = his.list_schedules(today + dt.timedelta(days=1), today + dt.timedelta(days=7))
    for session in sessions:
        if session.status != "open":
            continue
        for slc in session.slices:
            if slc.remaining >= min_remaining:
                return session, slc
    raise AssertionError("no open slice in the seed")


def card_with_bills(sim: SimulatorHis) -> str:
    with sim.unit() as s:
        return s.scalars(
            select(BillRow.card_no).where(BillRow.status == "pending").order_by(BillRow.bill_no)
        ).first()  # type: ignore[return-value]
