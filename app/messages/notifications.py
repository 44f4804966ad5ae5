"""Notices to patients: written in the caller's transaction with an outbox row ``notice.push``, pushed
after the commit (``app.messages.delivery.deliver``, the outbox's handler for the kind).

Every notice also shows in the patient's message centre, so nothing depends on the push arriving.
"""

from __future__ import annotations

import json
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from app import outbox
from app.extensions import db
from app.models import ChannelUser, Notification
from app.services.uow import savepoint

#: the outbox kind that pushes one notice after the transaction that wrote it commits
PUSH = "notice.push"

#: every kind of notice the platform sends, as staff choose it for a 服务号/服务窗 template (消息模板);
#: a notice of a kind with no active template stays in the message centre only
NOTICE_KINDS = {
    "booking_success": _l("预约成功通知"),
    "booking_failed": _l("预约失败通知"),
    "stop_clinic": _l("停诊通知"),
    "refund_success": _l("退款成功通知"),
    "refund_failed": _l("退款失败通知"),
    "bill_paid": _l("缴费成功通知（含导诊）"),
    "bill_failed": _l("缴费失败通知"),
    "bill_reminder": _l("待缴费提醒"),
    "deposit_paid": _l("押金缴纳成功通知"),
    "deposit_failed": _l("押金缴纳失败通知"),
    "report_ready": _l("报告出具提醒"),
    "visit_reminder": _l("就诊提醒"),
    "no_show": _l("爽约提醒"),
    "survey": _l("满意度调查邀请"),
    "welcome": _l("关注欢迎语"),
    # for mothers and children (issue 17)
    "queue_reminder": _l("叫号提醒"),
    "waitlist_booked": _l("候补成功通知"),
    "waitlist_ended": _l("候补结束通知"),
    "prenatal_reminder": _l("产检提醒"),
    "child_health_reminder": _l("儿保提醒"),
    "class_booked": _l("孕妇学校报名成功通知"),
}


def notify(owner_id: int, kind: str, title: str, body: str, *, dedupe_key: str, link: str | None = None,
           payload: dict[str, Any] | None = None) -> Notification:
    """Add one notice for ``owner_id`` to the current unit of work; the same ``dedupe_key`` twice
    yields the first notice (a replayed event notifies once). The caller commits; the push is an outbox
    row (``PUSH``) written in the same transaction, so it is made only once the notice is committed."""
    if kind not in NOTICE_KINDS:  # a kind staff could not give a template would never be pushed
        raise ValueError(f"unknown notice kind {kind!r}: add it to NOTICE_KINDS")
    if link is not None and not (link.startswith("/") and not link.startswith("//")):
        # the message centre offers only site links; pushes make them absolute (app.links)
        raise ValueError(f"a notice links to a site path built by app.links.patient_url, not {link!r}")
    existing = db.session.scalar(select(Notification).where(Notification.dedupe_key == dedupe_key))
    if existing is not None:
        return existing
    owner = db.session.get(ChannelUser, owner_id)
    notice = Notification(owner_id=owner_id, channel=owner.channel if owner else "wechat", kind=kind,
                          title=title, body=body, link=link, dedupe_key=dedupe_key,
                          payload_json=json.dumps(payload or {}, ensure_ascii=False))
    with savepoint():
        db.session.add(notice)
        db.session.flush()  # the push names the notice by its id
    outbox.add(PUSH, str(notice.id), {"notice_id": notice.id})
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
