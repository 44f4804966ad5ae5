"""Report exports: the sweep that re-runs jobs a killed worker or a lost enqueue left behind (thin: the
ExportJob row is the truth). A new job is built by the outbox (``export.build``, run by
``app.tasks.outbox.run_outbox_task`` after the request commits)."""

from __future__ import annotations

from huey import crontab

from app.tasks import app_context_task, huey


@huey.periodic_task(crontab(minute="*/10"))
@app_context_task
def resume_stale_exports() -> int:
    """Release runs that stopped moving (worker killed) and build every job still owed a file."""
    from app.reports.exports import resume_stale

    return resume_stale()
