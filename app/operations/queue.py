"""The task queue seen by operations: each task carries the request id of the request that enqueued
it, and every run is counted by outcome (the metrics' task failures and the "queue stuck" alert)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

from huey import Huey
from huey import signals as S

from app.operations import logs

log = logging.getLogger("tasks")

TASK_KWARG = logs.TASK_KWARG


def install(huey: Huey) -> None:
    """Hand the current request id to every task enqueued (the signal runs before the task is
    serialised, so the id travels with it through Redis to whichever node's consumer runs it)."""

    @huey.signal(S.SIGNAL_ENQUEUED)
    def _carry_request_id(signal, task, *args) -> None:
        rid = logs.current_request_id()
        if rid and task.kwargs is not None and TASK_KWARG not in task.kwargs:
            task.kwargs[TASK_KWARG] = rid


@contextmanager
def running(name: str, request_id: str | None) -> Iterator[None]:
    """Run one task under its request id (or a new one for a periodic task); count the outcome."""
    from app.operations import metrics

    started = time.perf_counter()
    with logs.bound(request_id, task=name):
        try:
            yield
        except Exception:
            metrics.TASK_RUNS.labels(task=name, outcome="error").inc()
            log.exception("task failed task=%s after %.2f s", name, time.perf_counter() - started)
            raise
        metrics.TASK_RUNS.labels(task=name, outcome="ok").inc()
        metrics.TASK_SECONDS.labels(task=name).observe(time.perf_counter() - started)
