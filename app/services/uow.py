"""Unit of work: one place that commits or rolls back, and hands the outbox its rows after the commit.

Re-entrant (Superset's ``@transaction``): a command that runs another command inside its own unit of
work joins it, so the outer one commits once, all or nothing. Only the outermost unit commits, and
only after that commit are its after-commit hooks run: ``create_app`` makes ``outbox.dispatch`` one,
so the calls to the outside the transaction decided are made only once its rows are committed and
its locks released.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from app.extensions import db

T = TypeVar("T")

_DEPTH = "unit_of_work_depth"
#: run after the outermost commit, in order (create_app adds ``outbox.dispatch``)
_AFTER_COMMIT: list[Callable[[], object]] = []


def after_commit(hook: Callable[[], object]) -> None:
    """Called by ``create_app``: run ``hook`` after every outermost commit (once, however often added)."""
    if hook not in _AFTER_COMMIT:
        _AFTER_COMMIT.append(hook)


def active() -> bool:
    """True inside a unit of work (a command run from another command joins it)."""
    return db.session.info.get(_DEPTH, 0) > 0


class NestedOutsideCall(RuntimeError):
    """A use case that calls the HIS or a channel between its units of work was run inside another one,
    whose locks it would hold during the call (run it through the outbox, or on its own)."""


def outermost(what: str) -> None:
    """Refuse to run ``what`` (which calls the outside between its own units of work) inside a unit of work."""
    if active():
        raise NestedOutsideCall(f"{what} calls the outside: it cannot join another unit of work")


@contextmanager
def unit_of_work() -> Iterator[None]:
    """Commit what the block did (the outermost block only), or roll all of it back and re-raise.

    A failure anywhere rolls the whole transaction back, nested or not: the outer block cannot
    commit half of what an inner one decided. After the outermost commit the outbox rows the
    transaction wrote are dispatched.
    """
    info = db.session.info
    depth = info.get(_DEPTH, 0)
    info[_DEPTH] = depth + 1
    try:
        yield
        if depth == 0:
            db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    finally:
        info[_DEPTH] = depth
    if depth == 0:
        for hook in _AFTER_COMMIT:
            hook()


@contextmanager
def savepoint() -> Iterator[None]:
    """``db.session.begin_nested()`` that stays inside the unit's transaction on SQLite too: pysqlite
    opens its transaction only at the first INSERT/UPDATE/DELETE, so a SAVEPOINT sent before one started
    its own transaction there and its RELEASE committed it, whatever the unit of work decided after (the
    notice of a booking that then failed stayed). The transaction is opened first, as the first write
    would have opened it; MariaDB needs nothing."""
    connection = db.session.connection()
    if connection.dialect.name == "sqlite" and not connection.connection.dbapi_connection.in_transaction:
        connection.exec_driver_sql("BEGIN")
    with db.session.begin_nested():
        yield


def transaction(fn: Callable[..., T]) -> Callable[..., T]:
    """Decorator form of ``unit_of_work`` for commands and service functions."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs) -> T:
        with unit_of_work():
            return fn(*args, **kwargs)

    return wrapper


def execute(statement, params: dict | None = None):
    """Run a Core statement (of a table's columns, not an ORM entity) in the session's transaction, the
    one the unit of work commits, on its connection: what is pending is flushed first, as
    ``Session.execute`` does, but the session's per-statement layers (bind lookup, ORM execution state,
    events; about 0.3 ms of CPU a statement) are skipped. For the hot paths (the booking); the ORM's
    ``db.session.execute`` stays right everywhere else."""
    session = db.session()
    if session.autoflush:
        session.flush()  # returns at once when nothing is pending
    return session.connection().execute(statement, params)
