"""The appointment machine's pure ``decide``: every (state, event) pair, allowed or refused, and the
derived sets, written out by hand so that a changed table fails here until it is agreed."""

from __future__ import annotations

import pytest

from app.registration import states
from app.registration.states import AppointmentEvent as E
from app.registration.states import AppointmentStatus as A
from app.registration.states import RefusedEvent, decide
from app.services import states as order_states

# the edges the booking rules agree, one event each
AGREED = {
    (A.HOLDING, E.HIS_LOCKED): A.PENDING_PAYMENT,
    (A.HOLDING, E.FREE_CONFIRMED): A.BOOKED,
    (A.HOLDING, E.LOCK_FAILED): A.LOCK_FAILED,
    (A.PENDING_PAYMENT, E.PAID): A.PAID,
    (A.PENDING_PAYMENT, E.CANCEL): A.CANCELLED,
    (A.PENDING_PAYMENT, E.EXPIRE): A.EXPIRED,
    (A.PENDING_PAYMENT, E.STOP): A.STOPPED,
    (A.PAID, E.HIS_CONFIRMED): A.BOOKED,
    (A.PAID, E.HIS_REFUSED): A.FAILED,
    (A.PAID, E.STOP): A.STOPPED,
    (A.PAID, E.CANCEL): A.CANCELLED,
    (A.BOOKED, E.CANCEL): A.CANCELLED,
    (A.BOOKED, E.STOP): A.STOPPED,
    (A.BOOKED, E.VISIT): A.VISITED,
    (A.BOOKED, E.NO_SHOW): A.NO_SHOW,
    (A.FAILED, E.REFUND): A.REFUNDED,
    (A.CANCELLED, E.REFUND): A.REFUNDED,
    (A.STOPPED, E.REFUND): A.REFUNDED,
    (A.NO_SHOW, E.VISIT): A.VISITED,
}
PAIRS = [(s, e) for s in A for e in E]


class _Order:
    def __init__(self, status: str) -> None:
        self.status = status


@pytest.mark.parametrize("status,event", PAIRS)
def test_decide_walks_every_state_and_event(status, event):
    if (status, event) in AGREED:
        target = decide(_Order(str(status)), event)
        assert target == AGREED[status, event] and isinstance(target, A)
        assert order_states.allowed("appointment", status, target), "decide never answers an edge the move refuses"
    else:
        with pytest.raises(RefusedEvent) as refused:
            decide(status, event)
        assert refused.value.status == status and refused.value.event == event


def test_decide_refuses_unknown_states_and_events():
    with pytest.raises(RefusedEvent):
        decide("nonsense", E.CANCEL)
    with pytest.raises(RefusedEvent):
        decide(A.BOOKED, "nonsense")


def test_the_events_cover_exactly_the_table():
    by_events = {(s, t) for moves in states.EVENTS.values() for s, t in moves.items()}
    by_table = {(s, t) for s, nxt in states.APPOINTMENT.items() for t in nxt}
    assert by_events == by_table
    assert order_states.MACHINES["appointment"][1] is states.APPOINTMENT


def test_the_derived_sets():
    assert states.LIVE == {A.HOLDING, A.PENDING_PAYMENT, A.PAID, A.BOOKED}
    assert states.FINAL == {A.LOCK_FAILED, A.EXPIRED, A.REFUNDED, A.VISITED}
    assert states.CANCELLABLE == states.STOPPABLE == {A.PENDING_PAYMENT, A.PAID, A.BOOKED}
    assert states.REFUNDABLE == {A.FAILED, A.CANCELLED, A.STOPPED}
    assert not states.LIVE & states.FINAL
