"""For mothers and children: the reminders and sweeps of issue 17, each a thin call of a command."""

from __future__ import annotations

from huey import crontab

from app.tasks import app_context_task, huey


@huey.periodic_task(crontab(minute="15", hour="*"))
@app_context_task
def remind_prenatal_checks_task() -> int:
    """Hourly (quiet hours skipped by the command): 产检提醒 a few days before each 产检 opens."""
    from app.maternity.commands import remind_prenatal_checks

    return remind_prenatal_checks()


@huey.periodic_task(crontab(minute="20", hour="*"))
@app_context_task
def remind_child_checks_task() -> int:
    """Hourly (quiet hours skipped by the command): 儿保提醒 before each check of the 儿保 plan."""
    from app.maternity.commands import remind_child_checks

    return remind_child_checks()


@huey.periodic_task(crontab(minute="*"))
@app_context_task
def waitlist_sweep_task() -> dict[str, int]:
    """Every minute (the net under the outbox rows written with each offer): offers made ready, places
    the HIS added given to waiting patients, cut-offs closed."""
    from app.waitlist.commands import sweep

    return sweep()


@huey.periodic_task(crontab(minute="*"))
@app_context_task
def remind_queue_task() -> int:
    """Every minute: 叫号提醒 when a ticket is N places from being called and when it is called."""
    from app.registration.commands import remind_queue

    return remind_queue()
