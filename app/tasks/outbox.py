"""Outbox tasks: carry out one recorded call, and the sweep that finishes what a crash or an
unreachable HIS left (thin; see app/outbox.py)."""

from __future__ import annotations

from huey import crontab

from app.tasks import app_context_task, huey


@huey.task()
@app_context_task
def run_outbox_task(kind: str, ref: str) -> str:
    from app import outbox

    return outbox.run(kind, ref)


@huey.periodic_task(crontab(minute="*"))
@app_context_task
def sweep_outbox() -> int:
    """Every minute: outbox tasks due (first tries a crash left, retries with backoff)."""
    from app import outbox

    return outbox.run_due()
