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


# The queue's clock is UTC: 16:45 UTC is 00:45 Beijing, after the nightly rollups (00:25), a quiet hour.
@huey.periodic_task(crontab(hour="16", minute="45"))
@huey.lock_task("outbox-purge")  # one purge at a time
@app_context_task
def purge_done_outbox() -> int:
    """Nightly: delete done outbox tasks older than ``outbox.retention_days`` (pending and failed are kept)."""
    from app import outbox

    return outbox.purge_done()
