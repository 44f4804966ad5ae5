"""Outpatient bill tasks: thin wrappers over app.billing.bills."""

from __future__ import annotations

from huey import crontab

from app.tasks import app_context_task, huey


@huey.periodic_task(crontab(minute="*/10"))
@app_context_task
def remind_pending_bills_task() -> int:
    """Every 10 minutes: remind accounts of new pending bills once each (not in quiet hours)."""
    from app.billing.bills import remind_pending_bills

    return remind_pending_bills()
