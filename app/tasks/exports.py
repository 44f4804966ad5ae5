"""Report exports: build one .xlsx (thin: the service does the work), and a sweep that re-runs jobs
a killed worker left behind (the ExportJob row is the truth)."""

from __future__ import annotations

from huey import crontab

from app.tasks import app_context_task, huey


@huey.task()
@app_context_task
def build_export(job_id: int) -> None:
    from app.reports.exports import run_export

    run_export(job_id)


@huey.periodic_task(crontab(minute="*/10"))
@app_context_task
def resume_stale_exports() -> int:
    """Re-run exports still queued or running long after their last progress (worker killed)."""
    from app.reports.exports import stale_jobs

    stale = stale_jobs()
    for job_id in stale:
        build_export(job_id)
    return len(stale)
