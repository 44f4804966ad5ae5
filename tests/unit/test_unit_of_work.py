"""The unit of work is re-entrant (the outermost one commits, once), dispatches the outbox only after
that commit, and refuses to let a use case that calls the outside join another unit of work."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app import outbox
from app.extensions import db
from app.models import OutboxTask, StateTransition
from app.payments import commands
from app.services import uow
from app.payments import commands as payments
from app.services.uow import NestedOutsideCall, active, outermost, transaction, unit_of_work


@pytest.fixture()
def enqueued(monkeypatch):
    """What the dispatcher hands the queue (nothing runs)."""
    handed: list[tuple[str, str]] = []
    monkeypatch.setattr(outbox, "_enqueue", lambda kind, ref: handed.append((kind, ref)))
    return handed


def _note(why: str) -> None:
    """A plain row written in the unit beside its outbox rows."""
    db.session.add(StateTransition(order_type="test", order_id=0, from_status="-", to_status="-", actor="test",
                                   reason=why))
    db.session.flush()


def _tasks() -> int:
    return db.session.scalar(select(func.count()).select_from(OutboxTask))


def _other_session_sees() -> int:
    """Rows committed, as another connection sees them."""
    with db.engine.connect() as conn:
        return conn.scalar(select(func.count()).select_from(OutboxTask))


def test_a_nested_unit_joins_the_outer_one_and_the_outer_commits_once(ctx, enqueued):
    with unit_of_work():
        _note("outer")
        outbox.add("test.outer", "A", {})
        with unit_of_work():
            assert active()
            outbox.add("test.inner", "B", {})
        assert _other_session_sees() == 0, "the inner unit must not commit on its own"
        assert enqueued == [], "nothing is dispatched before the outermost commit"
    assert not active()
    assert _other_session_sees() == 2
    assert enqueued == [("test.outer", "A"), ("test.inner", "B")]


def test_a_failure_inside_rolls_everything_back_and_dispatches_nothing(ctx, enqueued):
    with pytest.raises(RuntimeError):
        with unit_of_work():
            _note("outer")
            outbox.add("test.outer", "A", {})
            with unit_of_work():
                raise RuntimeError("refused")
    assert not active() and _tasks() == 0 and enqueued == []


def test_transaction_decorator_is_the_same_unit(ctx, enqueued):
    @transaction
    def write(ref: str) -> str:
        outbox.add("test.kind", ref, {})
        return ref

    with unit_of_work():
        write("X")
        write("Y")
        assert enqueued == []
    assert enqueued == [("test.kind", "X"), ("test.kind", "Y")]


def test_dispatch_inside_a_unit_of_work_waits_for_its_commit(ctx, enqueued):
    with unit_of_work():
        outbox.add("test.kind", "Z", {})
        db.session.commit()  # a caller that commits on its own (booking does) ...
        outbox.dispatch()    # ... and dispatches: the outermost unit does it, after its commit
        assert enqueued == []
    assert enqueued == [("test.kind", "Z")]


def test_without_a_queue_the_rows_wait_for_the_sweep(ctx, monkeypatch):
    monkeypatch.setattr(outbox, "_enqueue", None)
    with unit_of_work():
        outbox.add("test.kind", "Q", {})
    assert _other_session_sees() == 1
    assert db.session.scalar(select(OutboxTask.status)) == outbox.OutboxStatus.PENDING


def test_a_use_case_that_calls_the_outside_refuses_to_join(ctx):
    outermost("alone")  # fine on its own
    with unit_of_work():
        with pytest.raises(NestedOutsideCall):
            outermost("sending a refund")
        with pytest.raises(NestedOutsideCall):
            payments.confirm_payment("GH-none")
        with pytest.raises(NestedOutsideCall):
            payments.process_refund("TK-none")
        with pytest.raises(NestedOutsideCall):
            outbox.run("test.kind", "none")


def test_create_app_plugs_in_the_payment_kinds_and_outbox_kinds(app):
    for kind in ("registration", "outpatient", "deposit", "prenatal_class"):
        assert payments.kind_handler(kind) is not None
    assert {commands.CONFIRM_AT_HIS, commands.SEND_REFUND, "his.cancel_registration", "his.release_lock",
            "waitlist.offer", "notice.push", "export.build"} <= set(outbox._HANDLERS)
    assert outbox._enqueue is not None, "the factory hands the outbox its queue"
    assert uow._AFTER_COMMIT == [outbox.dispatch], "one dispatcher, after the outermost commit"


def test_a_savepoint_as_the_first_write_is_rolled_back_with_its_unit(ctx, enqueued):
    """A unit of work whose first write is a savepoint (outbox.add, notify take one) keeps it inside
    the unit's transaction: pysqlite's own transaction handling used to commit such a savepoint on its
    own (the notice of a booking that failed stayed), so the engine now opens SQLite's transaction."""
    with pytest.raises(RuntimeError):
        with unit_of_work():
            outbox.add("test.first", "A", {})
            raise RuntimeError("the use case failed after its first write")
    assert _other_session_sees() == 0, "the savepoint must go with the failed unit of work"
    assert enqueued == []
