"""The waitlist entry's state machine and its guarded move (as app/services/states.py does for orders)."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import update
from sqlalchemy.orm.util import identity_key

from app.extensions import db
from app.models import StateTransition, WaitlistEntry


class WaitlistStatus(StrEnum):
    WAITING = "waiting"    # in the queue
    OFFERED = "offered"    # a freed place was given: a booking was made for her, to pay in the normal window
    BOOKED = "booked"      # she paid (or the place was free): done
    EXPIRED = "expired"    # the offered booking was not paid in time (or the HIS refused it): the next one gets it
    LEFT = "left"          # she left the queue
    CLOSED = "closed"      # the session's cut-off passed or the clinic stopped while she waited


S = WaitlistStatus
TRANSITIONS: dict[WaitlistStatus, frozenset[WaitlistStatus]] = {
    S.WAITING: frozenset({S.OFFERED, S.LEFT, S.CLOSED}),
    S.OFFERED: frozenset({S.BOOKED, S.EXPIRED, S.LEFT}),
    S.BOOKED: frozenset(),
    S.EXPIRED: frozenset(),
    S.LEFT: frozenset(),
    S.CLOSED: frozenset(),
}
LIVE = frozenset({S.WAITING, S.OFFERED})
FINAL = frozenset(s for s, nxt in TRANSITIONS.items() if not nxt)


class IllegalWaitlistMove(Exception):
    """A move the table does not allow (a programming error, never a race)."""


def allowed(source: str, target: str) -> bool:
    return WaitlistStatus(target) in TRANSITIONS.get(WaitlistStatus(source), frozenset())


def move(entry_id: int, source: str, target: str, *, actor: str, reason: str | None = None, **values) -> bool:
    """``UPDATE waitlist_entry SET status = :target WHERE id = :id AND status = :source``; False when another
    process moved it first (nothing changes). Leaving a live state clears ``active_key``. The caller commits."""
    if not allowed(source, target):
        raise IllegalWaitlistMove(f"waitlist: {source} -> {target} is not allowed")
    if WaitlistStatus(target) not in LIVE:
        values.setdefault("active_key", None)
    result = db.session.execute(update(WaitlistEntry).where(WaitlistEntry.id == entry_id,
                                                            WaitlistEntry.status == source)
                                .values(status=target, **values).execution_options(synchronize_session=False))
    if result.rowcount != 1:
        return False
    db.session.add(StateTransition(order_type="waitlist", order_id=entry_id, from_status=source, to_status=target,
                                   actor=actor, reason=(reason or "")[:255] or None))
    obj = db.session.identity_map.get(identity_key(WaitlistEntry, entry_id))
    if obj is not None:
        db.session.expire(obj)
    return True
