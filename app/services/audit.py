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
    ip = None
    if has_request_context():
        ip = (request.headers.get("X-Forwarded-For", "").split(",")[0].strip() or request.remote_addr)
    row = AuditLog(action=action, actor_type=actor_type, actor_id=actor_id, actor_name=actor_name,
                   target_type=target_type, target_id=None if target_id is None else str(target_id),
                   detail=detail, ip=ip)
    db.session.add(row)
    log.info("audit action=%s actor=%s:%s target=%s:%s", action, actor_type, actor_id, target_type, target_id)
    return row
