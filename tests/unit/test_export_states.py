"""The export job as a named machine: ``decide_export`` over every (state, event) pair, and ``run_export``
saving each move through the guarded move (a StateTransition row each; a second worker loses). A request
is built through the outbox (``export.build``); a stale run is released to QUEUED before it is built again."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from app import clock, outbox
from app.extensions import db
from app.models import ExportJob, OutboxTask, StateTransition
from app.reports import exports
from app.services import states
from app.services.states import ExportEvent as E
from app.services.states import ExportStatus as X
from app.services.states import Refused, decide_export

AGREED = {
    (X.QUEUED, E.START): X.RUNNING,
    (X.RUNNING, E.START): X.RUNNING,      # a killed worker's job: built again in place, nothing moves
    (X.FAILED, E.START): X.RUNNING,
    (X.DONE, E.START): X.RUNNING,         # its file is gone
    (X.RUNNING, E.FINISH): X.DONE,
    (X.RUNNING, E.FAIL): X.FAILED,
    (X.RUNNING, E.RELEASE): X.QUEUED,     # the sweep: its worker was killed
}


@pytest.fixture(autouse=True)
def no_worker(monkeypatch):
    """The outbox writes its rows but hands none to the queue: the tests run the build by hand."""
    monkeypatch.setattr(outbox, "_enqueue", None)


@pytest.mark.parametrize("status,event", [(s, e) for s in X for e in E])
def test_decide_export_walks_every_state_and_event(status, event):
    if (status, event) in AGREED:
        target = decide_export(status, event)
        assert target == AGREED[status, event] and isinstance(target, X)
        assert target == status or states.allowed("export", status, target)
    else:
        with pytest.raises(Refused) as refused:
            decide_export(status, event)
        assert (refused.value.machine, refused.value.status, refused.value.event) == ("export", status, event)


def test_a_done_job_whose_file_is_there_is_not_built_again():
    assert decide_export(X.DONE, E.START, file_present=True) == X.DONE
    with pytest.raises(Refused):
        decide_export("nonsense", E.START)


def test_the_export_events_cover_exactly_the_table():
    by_events = {(s, t) for moves in states.EXPORT_EVENTS.values() for s, t in moves.items()}
    assert by_events == {(s, t) for s, nxt in states.EXPORT.items() for t in nxt}
    assert states.MACHINES["export"][1] is states.EXPORT
    assert states.EXPORT_UNFINISHED == {X.QUEUED, X.RUNNING}


def _job() -> ExportJob:
    today = clock.today().isoformat()
    job = exports.request_export("statistics", {"start": today, "end": today}, None)
    assert job.status == X.QUEUED
    return job


def _moves(job_id: int) -> list[tuple]:
    rows = db.session.scalars(select(StateTransition).where(StateTransition.order_type == "export",
                                                            StateTransition.order_id == job_id)
                              .order_by(StateTransition.id))
    return [(r.from_status, r.to_status, r.actor, r.reason) for r in rows]


def test_a_run_moves_queued_running_done_and_records_each_move(app, ctx):
    job = exports.run_export(_job().id)
    assert job.status == X.DONE and job.progress == 100
    assert _moves(job.id) == [("queued", "running", "system:export", None), ("running", "done", "system:export", None)]
    assert exports.run_export(job.id).status == X.DONE and len(_moves(job.id)) == 2  # the file is there: no run


def test_a_failed_run_is_recorded_with_its_error_and_may_run_again(app, ctx, monkeypatch):
    job = _job()

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(exports, "write_statistics", broken)
    with pytest.raises(RuntimeError):
        exports.run_export(job.id)
    assert db.session.get(ExportJob, job.id).status == X.FAILED
    assert _moves(job.id)[-1] == ("running", "failed", "system:export", "disk full")
    monkeypatch.undo()
    assert exports.run_export(job.id).status == X.DONE
    assert [m[3] for m in _moves(job.id)][-2:] == ["run again", None]


def test_a_second_start_from_the_same_read_loses(app, ctx):
    job = _job()
    assert states.move("export", job.id, X.QUEUED, X.RUNNING, actor="worker-1", reason="first")
    assert not states.move("export", job.id, X.QUEUED, X.RUNNING, actor="worker-2"), "a second start loses"
    assert db.session.get(ExportJob, job.id).status == X.RUNNING
    assert [m[2] for m in _moves(job.id)] == ["worker-1"]


def test_a_run_whose_job_was_taken_meanwhile_builds_nothing(app, ctx, monkeypatch):
    job = _job()
    built: list[int] = []
    monkeypatch.setattr(exports, "write_statistics", lambda *a, **k: built.append(1) or 0)
    original = states.move

    def raced(machine, job_id, source, target, **kw):  # another worker starts it between our read and our move
        if target == X.RUNNING and source == X.QUEUED and not built:
            assert original(machine, job_id, source, target, actor="worker-1")
        return original(machine, job_id, source, target, **kw)

    monkeypatch.setattr(states, "move", raced)
    assert exports.run_export(job.id).status == X.RUNNING
    assert built == [] and [m[2] for m in _moves(job.id)] == ["worker-1"]


def test_stale_jobs_are_the_unfinished_ones(ctx):
    old = dt.datetime(2026, 1, 1)
    db.session.add_all([ExportJob(kind="statistics", status=s, updated_at=old, created_at=old) for s in X])
    db.session.commit()
    assert {db.session.get(ExportJob, i).status for i in exports.stale_jobs()} == {X.QUEUED, X.RUNNING}


def test_a_request_writes_its_build_to_the_outbox_and_the_outbox_builds_it(app, ctx):
    job = _job()
    task = db.session.scalar(select(OutboxTask).where(OutboxTask.kind == exports.BUILD))
    assert (task.ref, task.status) == (str(job.id), "pending")
    assert outbox.run(exports.BUILD, str(job.id)) == "done"
    assert db.session.get(ExportJob, job.id).status == X.DONE
    assert outbox.run(exports.BUILD, str(job.id)) == "done" and len(_moves(job.id)) == 2  # once


def test_with_a_worker_the_request_is_built_after_its_commit(app, ctx, monkeypatch):
    from app.tasks.outbox import run_outbox_task

    monkeypatch.setattr(outbox, "_enqueue", run_outbox_task)  # what create_app gives it
    today = clock.today().isoformat()
    job = exports.request_export("statistics", {"start": today, "end": today}, None)  # huey runs inline
    assert db.session.get(ExportJob, job.id).status == X.DONE
    assert db.session.scalar(select(OutboxTask.status).where(OutboxTask.ref == str(job.id))) == "done"


def test_a_build_that_raises_fails_its_job_and_its_outbox_task_at_once(app, ctx, monkeypatch):
    job = _job()
    monkeypatch.setattr(exports, "write_statistics", lambda *a, **k: (_ for _ in ()).throw(OSError("disk full")))
    assert outbox.run(exports.BUILD, str(job.id)) == "failed"  # not retried every minute
    assert db.session.get(ExportJob, job.id).status == X.FAILED


def _stuck(job_id: int, minutes: int) -> None:
    at = clock.utcnow() - dt.timedelta(minutes=minutes)
    assert states.move("export", job_id, X.QUEUED, X.RUNNING, actor="worker-killed")
    db.session.execute(ExportJob.__table__.update().where(ExportJob.id == job_id).values(updated_at=at))
    db.session.commit()


def test_a_stale_run_is_released_then_started_again_each_by_a_guarded_move(app, ctx):
    job = _job()
    _stuck(job.id, minutes=30)
    assert exports.resume_stale() == 1
    assert db.session.get(ExportJob, job.id).status == X.DONE
    assert _moves(job.id) == [("queued", "running", "worker-killed", None),
                              ("running", "queued", "system:export", "stale run released"),
                              ("queued", "running", "system:export", None),
                              ("running", "done", "system:export", None)]


def test_a_run_still_moving_is_neither_released_nor_built_twice(app, ctx, monkeypatch):
    job = _job()
    _stuck(job.id, minutes=2)  # its worker wrote progress two minutes ago
    built: list[int] = []
    monkeypatch.setattr(exports, "write_statistics", lambda *a, **k: built.append(1) or 0)
    assert exports.resume_stale() == 0
    assert exports.run_export(job.id).status == X.RUNNING and built == []  # another worker's: left alone
    assert [m[2] for m in _moves(job.id)] == ["worker-killed"]


def test_a_release_loses_to_a_run_that_moved_meanwhile(app, ctx, monkeypatch):
    job = _job()
    _stuck(job.id, minutes=30)
    original = states.move

    def raced(machine, job_id, source, target, **kw):  # the killed worker was only slow: it finishes first
        if target == X.QUEUED:
            assert original(machine, job_id, X.RUNNING, X.DONE, actor="worker-slow")
        return original(machine, job_id, source, target, **kw)

    monkeypatch.setattr(states, "move", raced)
    assert exports.release_stale_runs() == []
    assert [m[:2] for m in _moves(job.id)][-1] == ("running", "done")
