"""Report-ready reminder: a thin periodic task over app/visits/queries.py."""

from __future__ import annotations

from huey import crontab

from app.tasks import app_context_task, huey


@huey.periodic_task(crontab(minute="*/5"))
@app_context_task
def remind_ready_reports() -> int:
    """Every 5 minutes: one 报告已出 notice per newly issued report (the outbox sweep pushes it)."""
    from app.visits.queries import remind_ready_reports as remind

    return remind()
