"""The outbox: calls to the outside decided in a transaction and made only after it commits.

No external call ever happens while a row lock is held. A use case that must tell the HIS or a
channel something (confirm a payment, send a refund, cancel a registration, release a lock whose
answer was lost) writes an ``outbox_task`` row with ``add`` in its own unit of work; after the
commit the unit of work runs ``dispatch()`` (the factory makes it the unit of work's after-commit
hook and hands the outbox its queue with ``use_queue``), which hands the rows it wrote to Huey; a
periodic sweep (``run_due``) carries out whatever a crash or an unreachable HIS left, with backoff.
Handlers are registered per kind and must be idempotent: a row may run twice. ``done`` rows are kept for
``outbox.retention_days`` and then deleted nightly by ``purge_done``; pending and failed rows are never.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable
from enum import StrEnum

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from app import clock
from app.extensions import db
from app.his.errors import HisBusinessError, HisError
from app.models import OutboxTask
from app.services.uow import active, outermost, savepoint, unit_of_work

log = logging.getLogger("outbox")

#: minutes between attempts; after the last the task is ``failed`` and shows in the back-office
BACKOFF_MINUTES = (1, 5, 30, 120, 360)
#: rows ``purge_done`` deletes per transaction: MariaDB's undo log and lock set stay small, and the
#: workers writing new rows meanwhile never wait long
PURGE_BATCH = 5000


class OutboxStatus(StrEnum):
    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"   # gave up (a refusal, or no answer after every backoff step): staff look at it


class Refused(Exception):
    """The other side refused for good: retrying cannot help (the task fails at once)."""


_HANDLERS: dict[str, Callable[[dict], None]] = {}
#: session.info key: the (kind, ref) of rows written since the last dispatch
WRITTEN = "outbox_written"
#: hands one task to the queue (Huey's ``run_outbox_task``), set by the factory; None: the sweep does it
_enqueue: Callable[[str, str], object] | None = None


def use_queue(enqueue: Callable[[str, str], object] | None) -> None:
    """Called by ``create_app``: how a written task reaches the workers (the outbox never imports tasks)."""
    global _enqueue
    _enqueue = enqueue


def handler(kind: str) -> Callable[[Callable[[dict], None]], Callable[[dict], None]]:
    """Register the function that carries out tasks of ``kind`` (takes the payload)."""

    def register(fn: Callable[[dict], None]) -> Callable[[dict], None]:
        _HANDLERS[kind] = fn
        return fn

    return register


def add(kind: str, ref: str, payload: dict) -> None:
    """Record a call to make after the caller's transaction commits (idempotent on ``(kind, ref)``)."""
    try:
        with savepoint():
            db.session.add(OutboxTask(kind=kind, ref=ref[:96], payload=json.dumps(payload, ensure_ascii=False),
                                      status=OutboxStatus.PENDING, next_attempt_at=clock.utcnow()))
    except IntegrityError:
        return  # the same effect was recorded before
    db.session.info.setdefault(WRITTEN, []).append((kind, ref[:96]))


def dispatch() -> None:
    """After a commit: hand the tasks the committed transaction wrote to Huey (inline in tests).

    The unit of work calls this after its commit; without a queue the periodic sweep runs them. Inside
    a unit of work (a caller that committed on its own) it waits: the outermost unit dispatches after
    its commit, so no task runs (inline in tests) under the locks of a transaction still open."""
    if active():
        return
    written = db.session.info.pop(WRITTEN, [])
    if _enqueue is None:
        return
    for kind, ref in written:
        try:
            _enqueue(kind, ref)
        except Exception:  # the periodic sweep carries it out
            log.exception("could not enqueue outbox task %s %s", kind, ref)


def run(kind: str, ref: str) -> str:
    """Carry out one pending task now (idempotent); returns its status afterwards.

    Never inside another unit of work: nothing is held while the outside is called."""
    outermost(f"the outbox task {kind}")
    with unit_of_work():
        task = db.session.scalar(select(OutboxTask).where(OutboxTask.kind == kind, OutboxTask.ref == ref))
        if task is None or task.status != OutboxStatus.PENDING:
            return task.status if task else "missing"
        task_id, attempts, payload = task.id, task.attempts + 1, json.loads(task.payload or "{}")
    try:
        _HANDLERS[kind](payload)
    except (Refused, HisBusinessError) as exc:
        return _finish(task_id, OutboxStatus.FAILED, attempts, f"refused: {exc}")
    except HisError as exc:
        if attempts > len(BACKOFF_MINUTES):
            return _finish(task_id, OutboxStatus.FAILED, attempts, f"no answer after {attempts} attempts: {exc}")
        later = clock.utcnow() + dt.timedelta(minutes=BACKOFF_MINUTES[attempts - 1])
        with unit_of_work():
            db.session.execute(update(OutboxTask)
                               .where(OutboxTask.id == task_id, OutboxTask.status == OutboxStatus.PENDING)
                               .values(attempts=attempts, last_error=str(exc)[:255], next_attempt_at=later))
        log.warning("outbox %s %s: attempt %s failed (%s); retried later", kind, ref, attempts, exc)
        return OutboxStatus.PENDING
    return _finish(task_id, OutboxStatus.DONE, attempts, None)


def _finish(task_id: int, status: OutboxStatus, attempts: int, error: str | None) -> str:
    with unit_of_work():
        db.session.execute(update(OutboxTask).where(OutboxTask.id == task_id, OutboxTask.status == OutboxStatus.PENDING)
                           .values(status=status, attempts=attempts, last_error=error and error[:255],
                                   done_at=clock.utcnow()))
    (log.info if status == OutboxStatus.DONE else log.error)("outbox task %s: %s %s", task_id, status, error or "")
    return status


def run_due(limit: int = 200) -> int:
    """Carry out every pending task whose time has come (the periodic sweep); returns how many ran."""
    outermost("the outbox sweep")
    with unit_of_work():
        due = db.session.execute(select(OutboxTask.kind, OutboxTask.ref).where(
            OutboxTask.status == OutboxStatus.PENDING, OutboxTask.next_attempt_at <= clock.utcnow())
            .order_by(OutboxTask.next_attempt_at).limit(limit)).all()
    for kind, ref in due:
        run(kind, ref)
    return len(due)


def retention_days() -> int:
    """How many days a done task is kept (setting ``outbox.retention_days``)."""
    from app.services.settings import setting_int

    return setting_int("outbox.retention_days")


def purge_done(before: dt.datetime | None = None, batch: int = PURGE_BATCH) -> int:
    """Delete ``done`` tasks finished before ``before`` (naive UTC; default: now less the retention), at most
    ``batch`` rows a transaction until none is left; returns how many. Pending and failed rows are never
    deleted: one is still to run, the other is evidence staff look at.

    Each batch is its own unit of work (it refuses to run inside another, which would make the batches one
    transaction again). Deleting a row does not let its
    effect run twice: every writer of ``add`` writes it with a guarded state move that cannot happen again,
    and handlers are idempotent anyway."""
    if active():
        raise RuntimeError("the outbox purge commits batch by batch: it cannot join another unit of work")
    if before is None:
        before = clock.utcnow() - dt.timedelta(days=retention_days())
    removed, after_id = 0, 0
    while True:
        # Keyset on the primary key: each batch starts where the last stopped (no rescan of what was
        # skipped or just deleted); the DELETE names its rows by key and locks only those.
        with unit_of_work():
            ids = db.session.scalars(select(OutboxTask.id).where(
                OutboxTask.id > after_id, OutboxTask.status == OutboxStatus.DONE, OutboxTask.done_at < before)
                .order_by(OutboxTask.id).limit(batch)).all()
            if ids:
                removed += db.session.execute(delete(OutboxTask).where(
                    OutboxTask.id.in_(ids), OutboxTask.status == OutboxStatus.DONE)
                    .execution_options(synchronize_session=False)).rowcount or 0
        if len(ids) < batch:
            break
        after_id = ids[-1]
    log.info("outbox purge: %s done tasks finished before %s UTC deleted", removed,
             before.isoformat(timespec="seconds"))
    return removed
