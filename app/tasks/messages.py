"""Notices and channel events: thin tasks calling app/messages/delivery.py and app/identity/follows.py.

A new notice is pushed by the outbox (``notice.push``, run by ``app.tasks.outbox.run_outbox_task`` after the
commit that wrote it); the minute's sweep here retries and finishes what a crash left."""

from __future__ import annotations

import datetime as dt

from huey import crontab

from app.tasks import app_context_task, huey


@huey.periodic_task(crontab(minute="*"))
@app_context_task
def send_due_notifications() -> dict[str, int]:
    """Every minute: push every pending notice whose time has come (new ones and retries)."""
    from app.messages.delivery import sweep

    return sweep()


@huey.task()
@app_context_task
def record_channel_event(channel: str, uid: str, event: str, at_iso: str) -> None:
    """Record a follow/unfollow pushed by WeChat or Alipay (the endpoint answered within 5 s)."""
    from app.channels.events import ChannelEvent
    from app.identity.follows import record_follow_event

    record_follow_event(ChannelEvent(channel, uid, event, dt.datetime.fromisoformat(at_iso)))
