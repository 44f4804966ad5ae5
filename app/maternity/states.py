"""The 孕妇学校 class booking's state machine and its guarded move."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import update
from sqlalchemy.orm.util import identity_key

from app.extensions import db
from app.models import ClassBooking, StateTransition


class PregnancyStatus(StrEnum):
    """A registered pregnancy (建档): the reminders follow an ACTIVE one."""

    ACTIVE = "active"
    ENDED = "ended"


class PrenatalClassStatus(StrEnum):
    """A 孕妇学校 class: OPEN for booking until staff cancel it."""

    OPEN = "open"
    CANCELLED = "cancelled"


class ClassBookingStatus(StrEnum):
    PENDING_PAYMENT = "pending_payment"  # a paid class: the place is held while she pays
    BOOKED = "booked"                    # free, or paid
    CANCELLED = "cancelled"              # she cancelled (refunded in full when paid)
    EXPIRED = "expired"                  # not paid in time: the place went back


S = ClassBookingStatus
TRANSITIONS: dict[ClassBookingStatus, frozenset[ClassBookingStatus]] = {
    S.PENDING_PAYMENT: frozenset({S.BOOKED, S.CANCELLED, S.EXPIRED}),
    S.BOOKED: frozenset({S.CANCELLED}),
    S.CANCELLED: frozenset(),
    S.EXPIRED: frozenset(),
}
HOLDS_PLACE = frozenset({S.PENDING_PAYMENT, S.BOOKED})


def allowed(source: str, target: str) -> bool:
    return ClassBookingStatus(target) in TRANSITIONS.get(ClassBookingStatus(source), frozenset())


def move(booking_id: int, source: str, target: str, *, actor: str, reason: str | None = None) -> bool:
    """Guarded ``UPDATE … WHERE status = :source``; leaving the states that hold a place clears the active
    key. False when another process moved it first. The caller commits."""
    if not allowed(source, target):
        raise ValueError(f"class booking: {source} -> {target} is not allowed")
    values: dict = {"status": target}
    if ClassBookingStatus(target) not in HOLDS_PLACE:
        values["active_key"] = None
    result = db.session.execute(update(ClassBooking).where(ClassBooking.id == booking_id,
                                                           ClassBooking.status == source)
                                .values(**values).execution_options(synchronize_session=False))
    if result.rowcount != 1:
        return False
    db.session.add(StateTransition(order_type="class_booking", order_id=booking_id, from_status=source,
                                   to_status=target, actor=actor, reason=(reason or "")[:255] or None))
    obj = db.session.identity_map.get(identity_key(ClassBooking, booking_id))
    if obj is not None:
        db.session.expire(obj)
    return True
