"""Audit trail: staff and system actions, and every staff view of personal data."""

from __future__ import annotations

import logging

from flask import has_request_context, request

from app.extensions import db
from app.models import AuditLog

log = logging.getLogger("audit")


def record(action: str, *, actor_type: str, actor_id: str | None = None, actor_name: str | None = None,
           target_type: str | None = None, target_id: str | int | None = None,
           detail: str | None = None) -> AuditLog:
    """Add an audit row to the current unit of work (the caller's commit makes it durable)."""
    # The address ProxyFix established from the configured trusted proxies (TRUSTED_PROXY_COUNT); a
    # client's own X-Forwarded-For is never believed.
    ip = request.remote_addr if has_request_context() else None
    row = AuditLog(action=action, actor_type=actor_type, actor_id=actor_id, actor_name=actor_name,
                   target_type=target_type, target_id=None if target_id is None else str(target_id),
                   detail=detail, ip=ip)
    db.session.add(row)
    log.info("audit action=%s actor=%s:%s target=%s:%s", action, actor_type, actor_id, target_type, target_id)
    return row


def record_staff(action: str, staff, *, target_type: str | None = None, target_id: str | int | None = None,
                 before: dict | None = None, after: dict | None = None, **extra) -> AuditLog:
    """Add a staff action to the current unit of work: who (``staff``, a back-office user), what, the
    values before and after, anything else worth keeping, and the request's IP."""
    import json

    detail = {k: v for k, v in (("before", before), ("after", after)) if v is not None}
    detail.update({k: v for k, v in extra.items() if v is not None})
    return record(action, actor_type="staff", actor_id=None if staff is None else str(staff.id),
                  actor_name=getattr(staff, "username", None), target_type=target_type, target_id=target_id,
                  detail=json.dumps(detail, ensure_ascii=False, default=str, sort_keys=True) if detail else None)


def staff_viewed(what: str, staff, *, target_type: str | None = None, target_id: str | int | None = None,
                 **extra) -> None:
    """Record, and commit at once, that a staff member saw personal data (a detail page, a search by
    name/card/phone, a download): reading leaves a trace even though nothing changed."""
    from app.services.uow import unit_of_work

    with unit_of_work():
        record_staff(what, staff, target_type=target_type, target_id=target_id, **extra)
