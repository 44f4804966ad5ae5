"""The appointment order (号源预约) as a state machine: its states, its transition table, the sets derived
from the table, and a pure ``decide(order, event)``.

The platform's slot counter is taken first (``holding``), then the HIS lock; the fee goes through the
payment core. A command asks ``decide`` where an event takes the order and saves the answer through the
guarded move (``app.services.states.move``), which records who, when and why, and loses a race politely.
Nothing here touches the database.
"""

from __future__ import annotations

from enum import StrEnum


class AppointmentStatus(StrEnum):
    HOLDING = "holding"                  # our counter taken, asking the HIS for its lock
    LOCK_FAILED = "lock_failed"          # the HIS refused (or never answered) the lock: place given back
    PENDING_PAYMENT = "pending_payment"  # place held at the HIS while the patient pays
    PAID = "paid"                        # money in, HIS confirmation pending
    BOOKED = "booked"                    # confirmed by the HIS (or a free slice)
    FAILED = "failed"                    # the HIS refused to confirm: fee refunded
    CANCELLED = "cancelled"              # by the patient or staff; fee refunded when paid
    STOPPED = "stopped"                  # the doctor stopped the clinic (停诊)
    EXPIRED = "expired"                  # unpaid past the deadline
    REFUNDED = "refunded"
    VISITED = "visited"                  # 已就诊
    NO_SHOW = "no_show"                  # 爽约: booked, never came


A = AppointmentStatus
APPOINTMENT: dict[AppointmentStatus, frozenset[AppointmentStatus]] = {
    A.HOLDING: frozenset({A.PENDING_PAYMENT, A.BOOKED, A.LOCK_FAILED}),
    A.LOCK_FAILED: frozenset(),
    A.PENDING_PAYMENT: frozenset({A.PAID, A.CANCELLED, A.EXPIRED, A.STOPPED}),
    A.PAID: frozenset({A.BOOKED, A.FAILED, A.STOPPED, A.CANCELLED}),
    A.BOOKED: frozenset({A.CANCELLED, A.STOPPED, A.VISITED, A.NO_SHOW}),
    A.FAILED: frozenset({A.REFUNDED}),
    A.CANCELLED: frozenset({A.REFUNDED}),
    A.STOPPED: frozenset({A.REFUNDED}),
    A.EXPIRED: frozenset(),
    A.REFUNDED: frozenset(),
    A.VISITED: frozenset(),
    A.NO_SHOW: frozenset({A.VISITED}),  # staff correct a 爽约 when the patient did come
}

#: an order in one of these holds a place in its slice (and counts towards the patient's limits)
LIVE = frozenset({A.HOLDING, A.PENDING_PAYMENT, A.PAID, A.BOOKED})
#: nothing moves an order out of these
FINAL = frozenset(s for s, nxt in APPOINTMENT.items() if not nxt)
#: what a cancel (patient: unpaid or booked; staff: also paid) or a 停诊 ends
CANCELLABLE = frozenset(s for s, nxt in APPOINTMENT.items() if A.CANCELLED in nxt)
STOPPABLE = frozenset(s for s, nxt in APPOINTMENT.items() if A.STOPPED in nxt)
#: ended with the fee still to go back
REFUNDABLE = frozenset(s for s, nxt in APPOINTMENT.items() if A.REFUNDED in nxt)
#: the two outcomes of a finished clinic session (就诊情况)
ATTENDANCE = (A.VISITED, A.NO_SHOW)


class AppointmentEvent(StrEnum):
    HIS_LOCKED = "his_locked"            # the HIS holds the slot: the patient may pay
    FREE_CONFIRMED = "free_confirmed"    # a zero-fee slice confirmed at the HIS at once
    LOCK_FAILED = "lock_failed"          # the HIS refused the lock, or the hold was interrupted
    PAID = "paid"                        # the channel has the money
    HIS_CONFIRMED = "his_confirmed"
    HIS_REFUSED = "his_refused"          # the HIS will not register the paid order
    CANCEL = "cancel"
    EXPIRE = "expire"                    # the payment deadline passed
    STOP = "stop"                        # 停诊
    REFUND = "refund"                    # the fee is back with the patient
    VISIT = "visit"                      # 已就诊 (from the HIS, or staff correcting a 爽约)
    NO_SHOW = "no_show"                  # 爽约


E = AppointmentEvent
#: event -> {source: target}; together these are exactly the edges of APPOINTMENT (a test checks it)
EVENTS: dict[AppointmentEvent, dict[AppointmentStatus, AppointmentStatus]] = {
    E.HIS_LOCKED: {A.HOLDING: A.PENDING_PAYMENT},
    E.FREE_CONFIRMED: {A.HOLDING: A.BOOKED},
    E.LOCK_FAILED: {A.HOLDING: A.LOCK_FAILED},
    E.PAID: {A.PENDING_PAYMENT: A.PAID},
    E.HIS_CONFIRMED: {A.PAID: A.BOOKED},
    E.HIS_REFUSED: {A.PAID: A.FAILED},
    E.CANCEL: {s: A.CANCELLED for s in CANCELLABLE},
    E.EXPIRE: {A.PENDING_PAYMENT: A.EXPIRED},
    E.STOP: {s: A.STOPPED for s in STOPPABLE},
    E.REFUND: {s: A.REFUNDED for s in REFUNDABLE},
    E.VISIT: {A.BOOKED: A.VISITED, A.NO_SHOW: A.VISITED},
    E.NO_SHOW: {A.BOOKED: A.NO_SHOW},
}


class RefusedEvent(Exception):
    """The event does not apply to an order in this state (the order has moved on, or a programming error)."""

    def __init__(self, status: str, event: str) -> None:
        super().__init__(f"appointment: {event} does not apply to a {status} order")
        self.status, self.event = status, event


def decide(order: object, event: str) -> AppointmentStatus:
    """Where ``event`` takes an order (anything with a ``status``, or the status itself); raises
    ``RefusedEvent`` when it does not apply. Pure: the caller saves the answer through the guarded move."""
    status = str(getattr(order, "status", order))
    try:
        return EVENTS[AppointmentEvent(event)][AppointmentStatus(status)]
    except (KeyError, ValueError):
        raise RefusedEvent(status, str(event)) from None
