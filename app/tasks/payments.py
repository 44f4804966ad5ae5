"""Payment tasks: thin; each runs one command of app.payments.commands, plus the sweeps that finish lost work.

The HIS confirmation and the refund sending are outbox rows (app/tasks/outbox.py runs them); the two tasks
below only carry out messages a worker may still hold from before the outbox took them over.
"""

from __future__ import annotations

import datetime as dt

from flask import current_app
from huey import crontab

from app import clock
from app.tasks import app_context_task, huey


@huey.task()
@app_context_task
def confirm_payment_task(order_no: str) -> str:
    from app.payments.commands import ConfirmAtHis

    return ConfirmAtHis(order_no).run()


@huey.task()
@app_context_task
def process_refund_task(refund_no: str) -> str:
    from app.payments.commands import SendRefund

    return SendRefund(refund_no).run()


@huey.periodic_task(crontab(minute="*"))
@app_context_task
def close_expired_payments() -> int:
    """Every minute: unpaid orders past their deadline are closed here and at the channel."""
    from app.payments.commands import CloseUnpaid

    return CloseUnpaid().run()


@huey.periodic_task(crontab(minute="*"))
@app_context_task
def sweep_payments() -> tuple[int, int]:
    """Every minute: confirmations due (retries with backoff) and refunds a lost task left."""
    from app.payments.commands import SweepPayments

    return SweepPayments().run()


@huey.periodic_task(crontab(minute="*"))
@app_context_task
def sandbox_redeliver_notifications() -> int:
    """Sandbox only: retry unanswered notifications on the channels' real schedules."""
    sandbox = current_app.extensions.get("payment_sandbox")
    return len(sandbox.deliver_due()) if sandbox is not None else 0


# The queue's clock is UTC (Huey's default): 02:05 UTC is 10:05 Beijing, when both channels' bills are out.
@huey.periodic_task(crontab(hour="2", minute="5"))
@app_context_task
def reconcile_yesterday() -> list[int]:
    """Daily: reconcile yesterday (Beijing) for every channel, once the channels' bills are ready."""
    from app.reconciliation.runs import reconcile

    yesterday = clock.today() - dt.timedelta(days=1)
    return [reconcile(channel, yesterday).id for channel in ("wechat", "alipay")]
