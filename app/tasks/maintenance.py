"""Housekeeping tasks: prune replay guards."""

from __future__ import annotations

from huey import crontab

from app.tasks import app_context_task, huey


@huey.periodic_task(crontab(minute="17", hour="*"))
@app_context_task
def prune_api_nonces() -> int:
    """Forget inbound-call nonces older than the signature window (they can no longer replay)."""
    from app.services.signing import prune_nonces

    return prune_nonces()
