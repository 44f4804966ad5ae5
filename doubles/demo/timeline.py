"""Demo rows inserted in the order they happened, so their ids grow with time as in production.

The back-office lists (预约订单, 缴费订单, 退费记录, 消息通知 …) show the newest id first. A seeder that
inserted a month of orders day by day, then today's, then the worklist's of yesterday would show a clerk
20 November above 28 November. So a seeder first decides every row (all its random draws in their usual
order, so the demo's figures never change) and hands each row to a ``Timeline`` with the moment it
happened; ``run`` inserts them oldest first, rows of the same moment in the order they were handed over.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from app.extensions import db


class Timeline:
    def __init__(self) -> None:
        self._steps: list[tuple[dt.datetime, int, Callable[[], object]]] = []

    def __len__(self) -> int:
        return len(self._steps)

    def add(self, at: dt.datetime, step: Callable[[], object]) -> None:
        """Run ``step`` (it inserts what happened at ``at``, naive UTC) in its turn."""
        self._steps.append((at, len(self._steps), step))

    def insert(self, at: dt.datetime, row: object, links: dict[str, object] | None = None,
               then: Callable[[object], object] | None = None) -> None:
        """Insert ``row`` in its turn: ``links`` name columns that take the id of a row inserted before it
        (a payment's ``appointment_id``); ``then(row)`` writes what follows from it (its state transitions)."""

        def step() -> None:
            for column, other in (links or {}).items():
                if other is not None and other.id is None:
                    raise RuntimeError(f"{row!r}.{column}: {other!r} comes later in the timeline")
                setattr(row, column, None if other is None else other.id)
            db.session.add(row)
            db.session.flush()
            if then is not None:
                then(row)

        self.add(at, step)

    def run(self) -> None:
        """Insert everything handed over, oldest first (flushed, not committed)."""
        steps, self._steps = sorted(self._steps, key=lambda s: (s[0], s[1])), []
        for _at, _n, step in steps:
            step()
        db.session.flush()
