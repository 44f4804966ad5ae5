"""Booking tasks: the periodic HIS timetable sync and the sweep of interrupted holds (thin)."""

from __future__ import annotations

from huey import crontab

from app.tasks import app_context_task, huey


@huey.periodic_task(crontab(minute="*/5"))
@app_context_task
def sync_schedules_task() -> int:
    """Every 5 minutes: departments, doctors and sessions of the booking window from the HIS
    (a 停诊 seen here that no event announced is acted on too)."""
    from app.services.schedules import sync_from_his

    return sync_from_his().schedules


@huey.periodic_task(crontab(minute="*"))
@app_context_task
def release_stale_holds_task() -> int:
    """Every minute: give back places a killed process held without an HIS lock."""
    from app.services.booking import release_stale_holds

    return release_stale_holds()
