"""The notice machine's pure ``decide_notice``: every (state, event) pair, allowed or refused, written out
by hand so that a changed table fails here until it is agreed."""

from __future__ import annotations

import pytest

from app.payments.states import EventRefused
from app.services import states
from app.services.states import NoticeEvent as E
from app.services.states import NoticeStatus as N
from app.services.states import Refused, decide_notice

AGREED = {
    (N.PENDING, E.CLAIM): N.SENDING,
    (N.SENDING, E.PUSHED): N.SENT,
    (N.SENDING, E.RETRY): N.PENDING,
    (N.SENDING, E.GIVE_UP): N.FAILED,
    (N.SENDING, E.RELEASE): N.PENDING,
}


class _Notice:
    def __init__(self, status: str) -> None:
        self.status = status


@pytest.mark.parametrize("status,event", [(s, e) for s in N for e in E])
def test_decide_notice_walks_every_state_and_event(status, event):
    if (status, event) in AGREED:
        target = decide_notice(_Notice(str(status)), event)
        assert target == AGREED[status, event] and isinstance(target, N)
        assert states.allowed("notice", status, target), "decide never answers an edge the move refuses"
    else:
        with pytest.raises(Refused) as refused:
            decide_notice(status, event)
        assert (refused.value.machine, refused.value.status, refused.value.event) == ("notice", status, event)
        assert isinstance(refused.value, EventRefused)


def test_decide_notice_refuses_unknown_states_and_events():
    with pytest.raises(Refused):
        decide_notice("nonsense", E.CLAIM)
    with pytest.raises(Refused):
        decide_notice(N.PENDING, "nonsense")


def test_the_notice_events_cover_exactly_the_table():
    by_events = {(s, t) for moves in states.NOTICE_EVENTS.values() for s, t in moves.items()}
    assert by_events == {(s, t) for s, nxt in states.NOTICE.items() for t in nxt}
    assert states.MACHINES["notice"][1] is states.NOTICE
    assert states.NOTICE_OPEN == {N.PENDING, N.SENDING}
