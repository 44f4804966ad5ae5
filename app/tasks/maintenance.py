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


@huey.periodic_task(crontab(minute="41", hour="3"))
@app_context_task
def purge_security_records() -> int:
    """Audit rows past their retention (never younger than 180 days) and finished failure windows."""
    from app.security.audit_trail import purge_expired
    from app.security.throttle import purge_counters

    return purge_expired() + purge_counters()
