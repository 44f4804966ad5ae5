"""Report tasks: the nightly daily rollups behind 交易统计 and 数据分析."""

from __future__ import annotations

from huey import crontab

from app.tasks import app_context_task, huey


# The queue's clock is UTC: 16:25 UTC is 00:25 Beijing, once yesterday is over (late notifications of
# its last minutes are in; anything later is caught as a change), between two refreshes.
@huey.periodic_task(crontab(hour="16", minute="25"))
@huey.lock_task("rollups")  # one writer of the rollups at a time
@app_context_task
def roll_up_yesterday() -> int:
    """Nightly: yesterday's rollups, every closed day changed since, and any missing day of the week."""
    from app.reports import rollups

    return rollups.nightly().days


@huey.periodic_task(crontab(minute="*/10"))
@huey.lock_task("rollups")
@app_context_task
def refresh_rollups() -> int:
    """Every 10 minutes: rebuild the closed days changed since the last run (usually none or a few)."""
    from app.reports import rollups

    return rollups.refresh().days
