"""Notices to patients: written to the outbox in the caller's transaction, sent later by Huey.

Every notice also shows in the patient's message centre, so nothing depends on the push arriving.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from app.extensions import db
from app.models import ChannelUser, Notification


def notify(owner_id: int, kind: str, title: str, body: str, *, dedupe_key: str, link: str | None = None,
           payload: dict[str, Any] | None = None) -> Notification:
    """Add one notice for ``owner_id`` to the current unit of work; the same ``dedupe_key`` twice
    yields the first notice (a replayed event notifies once). The caller commits."""
    existing = db.session.scalar(select(Notification).where(Notification.dedupe_key == dedupe_key))
    if existing is not None:
        return existing
    owner = db.session.get(ChannelUser, owner_id)
    notice = Notification(owner_id=owner_id, channel=owner.channel if owner else "wechat", kind=kind,
                          title=title, body=body, link=link, dedupe_key=dedupe_key,
                          payload_json=json.dumps(payload or {}, ensure_ascii=False))
    with db.session.begin_nested():
        db.session.add(notice)
    return notice
