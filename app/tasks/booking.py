"""Booking tasks: the periodic HIS timetable sync, the sweep of interrupted holds and the attendance
sweep (已就诊 / 爽约) (thin)."""

from __future__ import annotations

from huey import crontab

from app.tasks import app_context_task, huey


@huey.periodic_task(crontab(minute="*/5"))
@app_context_task
def sync_schedules_task() -> int:
    """Every 5 minutes: departments, doctors and sessions of the booking window from the HIS
    (a 停诊 seen here that no event announced is acted on too)."""
    from app.registration.schedules import sync_from_his

    return sync_from_his().schedules


@huey.periodic_task(crontab(minute="*"))
@app_context_task
def release_stale_holds_task() -> int:
    """Every minute: give back places a killed process held without an HIS lock."""
    from app.registration.commands import release_stale_holds

    return release_stale_holds()


# 10:00 UTC is 18:00 Beijing: the evening before, when a patient can still cancel in time.
@huey.periodic_task(crontab(minute="0", hour="10"))
@app_context_task
def remind_tomorrows_visits_task() -> int:
    """Daily at 18:00 Beijing: 就诊提醒 for every booked order of tomorrow, once each."""
    from app.registration.commands import remind_tomorrows_visits

    return remind_tomorrows_visits()


# The queue's clock is UTC (Huey's default): 14:30 UTC is 22:30 Beijing, after the 夜诊 (18:00-21:00)
# and its grace are over; 23:30 UTC is 07:30 Beijing, to retry what the night could not reach.
@huey.periodic_task(crontab(minute="30", hour="14,23"))
@app_context_task
def sweep_attendance_task() -> dict[str, int]:
    """Nightly and each morning: booked orders of finished sessions become 已就诊 or 爽约 from the
    HIS's attendance (the service logs the counts; a date the HIS did not answer waits for the next run)."""
    from app.registration.commands import sweep_attendance

    result = sweep_attendance()
    return {"visited": result.visited, "no_show": result.no_show, "unknown": len(result.unknown),
            "his_failed_dates": len(result.failed_dates), "errors": result.errors}
