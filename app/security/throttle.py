"""Failure throttles kept in the database (every app node sees the same counts; tests move the clock).

A throttle counts *failures only* of one kind (``scope``) per key (an account, a client address, a card)
in fixed windows; once a key reaches its limit it is refused until the window ends, without even
trying (no password check, no HIS call). Successes never count, so a busy clerk is never throttled.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from app import clock
from app.extensions import db
from app.models import AttemptCounter
from app.services.uow import unit_of_work


@dataclass(frozen=True)
class Throttle:
    scope: str      # e.g. "login.account" (at most 24 characters)
    limit: int      # failures allowed per window
    window: dt.timedelta

    @classmethod
    def from_config(cls, scope: str, name: str, default: str) -> Throttle:
        """The throttle configured as "failures/seconds" in ``name`` (e.g. LOGIN_FAILURES_PER_ACCOUNT)."""
        from flask import current_app

        limit, seconds = str(current_app.config.get(name, default)).split("/")
        return cls(scope, int(limit), dt.timedelta(seconds=int(seconds)))

    def _window_start(self, now: dt.datetime) -> dt.datetime:
        seconds = int(self.window.total_seconds())
        epoch = int(now.replace(tzinfo=dt.UTC).timestamp())
        return dt.datetime.fromtimestamp(epoch - epoch % seconds, dt.UTC).replace(tzinfo=None)

    @staticmethod
    def _key(key: str) -> str:
        # Keys may be card numbers or login names: keep a digest, never the value itself.
        return hashlib.sha256(key.strip().lower().encode()).hexdigest()[:64]

    def blocked_until(self, key: str) -> dt.datetime | None:
        """When ``key`` may try again (naive UTC), or None when it may try now."""
        now = clock.utcnow()
        start = self._window_start(now)
        count = db.session.scalar(select(AttemptCounter.count).where(
            AttemptCounter.scope == self.scope, AttemptCounter.key == self._key(key),
            AttemptCounter.window_start == start))
        return start + self.window if (count or 0) >= self.limit else None

    def seen_recently(self, key: str) -> bool:
        """True when ``key`` reached the limit in this window or the one before (at least one whole
        window back, whatever the moment): a single-use token is refused for that long."""
        start = self._window_start(clock.utcnow())
        count = db.session.scalar(select(func.sum(AttemptCounter.count)).where(
            AttemptCounter.scope == self.scope, AttemptCounter.key == self._key(key),
            AttemptCounter.window_start.in_((start, start - self.window))))
        return (count or 0) >= self.limit

    def failed(self, key: str) -> int:
        """Count one failure of ``key`` and commit it at once (the caller's own work may roll back);
        returns the failures in this window."""
        start = self._window_start(clock.utcnow())
        digest = self._key(key)
        where = (AttemptCounter.scope == self.scope, AttemptCounter.key == digest,
                 AttemptCounter.window_start == start)
        with db.engine.begin() as conn:
            if conn.execute(update(AttemptCounter).where(*where)
                            .values(count=AttemptCounter.count + 1)).rowcount == 0:
                try:
                    with conn.begin_nested():
                        conn.execute(AttemptCounter.__table__.insert().values(
                            scope=self.scope, key=digest, window_start=start, count=1))
                except IntegrityError:  # another node counted the first failure at the same moment
                    conn.execute(update(AttemptCounter).where(*where).values(count=AttemptCounter.count + 1))
            return conn.execute(select(AttemptCounter.count).where(*where)).scalar_one()

    def clear(self, key: str) -> None:
        """Forget ``key``'s failures (an administrator unlocked the account)."""
        db.session.execute(delete(AttemptCounter).where(AttemptCounter.scope == self.scope,
                                                        AttemptCounter.key == self._key(key)))


def purge_counters(older_than: dt.timedelta = dt.timedelta(days=2)) -> int:
    """Delete windows long over (the maintenance task runs it)."""
    with unit_of_work():
        result = db.session.execute(delete(AttemptCounter)
                                    .where(AttemptCounter.window_start < clock.utcnow() - older_than))
    return result.rowcount or 0


def minutes_left(until: dt.datetime) -> int:
    """Whole minutes (at least 1) until ``until`` (naive UTC), for the message the person reads."""
    return max(1, -(-int((until - clock.utcnow()).total_seconds()) // 60))
