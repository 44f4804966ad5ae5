"""The clinic session (出诊) as a named machine: ``decide_session``, and 停诊 (``stop_clinic``) saved through
the guarded move: one StateTransition row with who and why, and a second stop is a lost race, not two stops."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import AuditLog, Schedule, StateTransition
from app.registration import commands
from app.services import states
from app.services.states import Refused, SessionEvent, SessionStatus, decide_session
from tests import factories

AGREED = {(SessionStatus.OPEN, SessionEvent.STOP): SessionStatus.STOPPED}


@pytest.mark.parametrize("status,event", [(s, e) for s in SessionStatus for e in SessionEvent])
def test_decide_session_walks_every_state_and_event(status, event):
    if (status, event) in AGREED:
        target = decide_session(status, event)
        assert target == AGREED[status, event] and states.allowed("clinic_session", status, target)
    else:
        with pytest.raises(Refused) as refused:
            decide_session(status, event)
        assert (refused.value.machine, refused.value.status, refused.value.event) == ("clinic_session", status,
                                                                                      event)


def test_the_session_events_cover_exactly_the_table():
    by_events = {(s, t) for moves in states.SESSION_EVENTS.values() for s, t in moves.items()}
    assert by_events == {(s, t) for s, nxt in states.CLINIC_SESSION.items() for t in nxt}
    assert states.MACHINES["clinic_session"] == (Schedule, states.CLINIC_SESSION)
    with pytest.raises(Refused):
        decide_session("nonsense", SessionEvent.STOP)


def _session() -> Schedule:
    sched = factories.schedule(his_schedule_id="TSS1", clinic_date=dt.date(2026, 12, 1), slices=0)
    db.session.commit()
    assert sched.status == SessionStatus.OPEN
    return sched


def _moves(schedule_id: int) -> list[tuple]:
    rows = db.session.scalars(select(StateTransition).where(StateTransition.order_type == "clinic_session",
                                                            StateTransition.order_id == schedule_id))
    return [(r.from_status, r.to_status, r.actor, r.reason) for r in rows]


def test_a_stop_is_one_guarded_move_with_who_and_why(ctx):
    sched = _session()
    outcome = commands.stop_clinic("TSS1", "医生外出会诊", actor="his")
    assert outcome.known and outcome.newly_stopped
    row = db.session.get(Schedule, sched.id)
    assert row.status == SessionStatus.STOPPED and row.stop_reason == "医生外出会诊" and row.stopped_at
    assert _moves(sched.id) == [("open", "stopped", "system:his", "医生外出会诊")]
    again = commands.stop_clinic("TSS1", "重复推送", actor="system:sync")  # delivered again: nothing moves
    assert again.known and not again.newly_stopped
    assert db.session.get(Schedule, sched.id).stop_reason == "医生外出会诊" and len(_moves(sched.id)) == 1
    assert db.session.query(AuditLog).filter_by(action="schedule.stopped").count() == 1


def test_a_stop_that_loses_the_race_changes_nothing(ctx, monkeypatch):
    sched = _session()
    original = states.move

    def raced(machine, row_id, source, target, **kw):  # the other stop moves it between our read and our move
        if machine == "clinic_session" and not _moves(row_id):
            assert original(machine, row_id, source, target, actor="system:sync", reason="同步发现停诊",
                            stop_reason="同步发现停诊")
        return original(machine, row_id, source, target, **kw)

    monkeypatch.setattr(states, "move", raced)
    outcome = commands.stop_clinic("TSS1", "医生外出会诊", actor="his")
    assert outcome.known and not outcome.newly_stopped
    assert db.session.get(Schedule, sched.id).stop_reason == "同步发现停诊"
    assert [m[2] for m in _moves(sched.id)] == ["system:sync"]
    assert db.session.query(AuditLog).filter_by(action="schedule.stopped").count() == 0
