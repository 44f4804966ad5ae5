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


# --- the patient's message centre (消息中心): every notice, pushed or not ------------------------

def inbox(owner_id: int, limit: int = 100) -> list[Notification]:
    """The account's notices, newest first."""
    return list(db.session.scalars(select(Notification).where(Notification.owner_id == owner_id)
                                   .order_by(Notification.created_at.desc(), Notification.id.desc())
                                   .limit(limit)))


def unread_count(owner_id: int) -> int:
    from sqlalchemy import func

    return int(db.session.scalar(select(func.count()).select_from(Notification).where(
        Notification.owner_id == owner_id, Notification.read_at.is_(None))) or 0)


def read_notice(owner_id: int, notice_id: int | str) -> Notification:
    """One notice of this account, marked read; another account's id is NotFound (404)."""
    from flask_babel import gettext as _

    from app.models.base import utcnow
    from app.services.errors import Forbidden
    from app.services.uow import unit_of_work

    try:
        nid = int(notice_id)
    except (TypeError, ValueError):
        raise Forbidden(_("消息不存在")) from None
    with unit_of_work():
        notice = db.session.scalar(select(Notification).where(Notification.id == nid,
                                                              Notification.owner_id == owner_id))
        if notice is None:
            raise Forbidden(_("消息不存在"))
        if notice.read_at is None:
            notice.read_at = utcnow()
    return notice


def read_all(owner_id: int) -> int:
    """Mark every unread notice of this account read; returns how many."""
    from sqlalchemy import update

    from app.models.base import utcnow
    from app.services.uow import unit_of_work

    with unit_of_work():
        result = db.session.execute(update(Notification).where(
            Notification.owner_id == owner_id, Notification.read_at.is_(None)).values(read_at=utcnow()))
    return int(result.rowcount or 0)
