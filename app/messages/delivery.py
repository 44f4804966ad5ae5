"""Sending notices through the channels: ``deliver`` is the outbox's handler for ``notice.push`` (written by
``notify`` in the caller's transaction, run after its commit), and ``sweep`` (Huey, every minute) the safety
net for retries with backoff and for pushes a crash or a lost enqueue left.

A notice moves pending -> sending -> sent, or back to pending with a later ``next_attempt_at``
(backoff 1, 5, 30, 120 minutes), or to failed: when retrying cannot help (daily quota 45009,
patient not following 43004 / PUB.MSG_SD_NOFOLLOW, no template configured) or after MAX_ATTEMPTS.
Every move is ``decide_notice`` saved through the guarded ``states.move`` (machine "notice"), so two
workers never push one notice and each move leaves a StateTransition row.
Every attempt leaves a MessagePush row that staff can inspect. The notice stays readable in the
patient's message centre whatever happens here.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable
from typing import Any

from flask import current_app
from sqlalchemy import or_, select

from app import clock, outbox
from app.channels.messages import MessageSender, PushMessage, PushRefused, make_sender
from app.channels.wechat.keywords import fit
from app.extensions import db
from app.links import absolute, patient_url
from app.messages.notifications import PUSH
from app.models import ChannelUser, MessagePush, MessageTemplate, Notification
from app.models.base import utcnow
from app.services import states
from app.services.configuration import link_allowed
from app.services.states import NoticeEvent, NoticeStatus, decide_notice
from app.services.uow import unit_of_work

log = logging.getLogger(__name__)

BACKOFF_MINUTES = (1, 5, 30, 120)
MAX_ATTEMPTS = len(BACKOFF_MINUTES) + 1
STALE_SENDING = dt.timedelta(minutes=10)
REASON_TEXT = {"quota": "推送额度已用完", "not_following": "用户未关注服务号/服务窗",
               "bad_recipient": "接收人无效", "bad_template": "模板无效", "no_template": "未配置消息模板"}

ACTOR = "system:delivery"
N = NoticeStatus

SenderFactory = Callable[[str], MessageSender]


def _default_sender(channel: str) -> MessageSender:
    return make_sender(current_app.config, channel)


def render_fields(notice: Notification, template: MessageTemplate) -> dict[str, str]:
    """Template keyword fields from the back-office mapping: field -> 'title' | 'body' | 'payload.x'
    | a literal in quotes. Since 2023 WeChat ignores first/remark, so keywords carry everything."""
    mapping: dict[str, str] = json.loads(template.field_map_json or "{}") or {"thing1": "title",
                                                                              "thing2": "body"}
    payload: dict[str, Any] = json.loads(notice.payload_json or "{}")
    values = {"title": notice.title, "body": notice.body, "time": clock.to_beijing(notice.created_at)}
    fields = {}
    for key, source in mapping.items():
        if source.startswith("payload."):
            value = payload.get(source[len("payload."):], "")
        elif len(source) >= 2 and source[0] == source[-1] == "'":
            value = source[1:-1]
        else:
            value = values.get(source, "")
        # each value fitted to its keyword's type: WeChat refuses the whole push otherwise (47003)
        fields[key] = fit(key, value) if notice.channel == "wechat" else _plain(value)[:200]
    return fields


def _plain(value: Any) -> str:
    return f"{value:%Y-%m-%d %H:%M}" if isinstance(value, dt.datetime) else str(value)


def _link(notice: Notification, template: MessageTemplate) -> str | None:
    link = notice.link or ""
    if template.link_pattern:
        link = template.link_pattern.replace("{link}", link).replace("{id}", str(notice.id))
    if link and not link_allowed(link):  # a template saved before the domain rule, or a hostile link
        log.warning("message link refused (not ours nor a configured domain): notice %s", notice.id)
        link = ""
    return absolute(link or patient_url("h5.message_detail", notice_id=notice.id))


def _claim(notice_id: int) -> bool:
    now = utcnow()
    due = or_(Notification.next_attempt_at.is_(None), Notification.next_attempt_at <= now)
    with unit_of_work():
        return states.move("notice", notice_id, N.PENDING, decide_notice(N.PENDING, NoticeEvent.CLAIM),
                           actor=ACTOR, where=(due,), attempts=Notification.attempts + 1, next_attempt_at=now)


def deliver(notice_id: int, sender_for: SenderFactory | None = None) -> str:
    """Try to push one due notice; returns its new status. A notice not due (or taken) is left alone."""
    if not _claim(notice_id):
        notice = db.session.get(Notification, notice_id)
        return notice.status if notice else "missing"
    notice = db.session.get(Notification, notice_id)
    db.session.refresh(notice)
    owner = db.session.get(ChannelUser, notice.owner_id)
    template = db.session.scalar(select(MessageTemplate).where(
        MessageTemplate.kind == notice.kind, MessageTemplate.channel == notice.channel,
        MessageTemplate.is_active.is_(True)))
    push = MessagePush(notification_id=notice.id, channel=notice.channel,
                       template_id=template.template_id if template else None)
    event, error, retry_at = NoticeEvent.GIVE_UP, None, None
    if template is None or owner is None:
        push.error_code, push.error_message = "no_template", REASON_TEXT["no_template"]
        error = "no_template"
    else:
        message = PushMessage(notice.channel, owner.channel_uid, template.template_id,
                              render_fields(notice, template), _link(notice, template), notice.title)
        push.request_json = json.dumps({"touser": message.recipient, "fields": dict(message.fields),
                                        "url": message.url}, ensure_ascii=False)
        try:
            receipt = (sender_for or _default_sender)(notice.channel).send(message)
            push.ok, event = True, NoticeEvent.PUSHED
            if receipt.request:
                push.request_json = json.dumps(receipt.request, ensure_ascii=False, default=str)[:65000]
            push.error_message = f"msgid={receipt.message_id}"[:255]
        except PushRefused as exc:
            push.error_code, push.error_message = exc.code[:64], (exc.message or "")[:255]
            reason = exc.reason
            if reason:
                error = reason
            elif notice.attempts >= MAX_ATTEMPTS:
                error = f"gave_up:{exc.code}"
            else:
                event, error = NoticeEvent.RETRY, f"retry:{exc.code}"
                retry_at = utcnow() + dt.timedelta(minutes=BACKOFF_MINUTES[notice.attempts - 1])
    status = decide_notice(N.SENDING, event)  # from the state our claim left it in, whatever happened since
    notice_id, channel = notice.id, notice.channel
    with unit_of_work():
        db.session.add(push)
        moved = states.move("notice", notice_id, N.SENDING, status, actor=ACTOR, reason=error[:255] if error else None,
                            last_error=error[:255] if error else None, next_attempt_at=retry_at,
                            **({"sent_at": utcnow()} if status == N.SENT else {}))
    if not moved:  # released as stale and taken by another worker meanwhile: its answer stands
        current = db.session.get(Notification, notice_id)
        log.warning("notification push id=%s: the notice moved on while sending (now %s)", notice_id,
                    current.status if current else "missing")
        return current.status if current else "missing"
    log.info("notification push id=%s channel=%s status=%s error=%s", notice_id, channel, status, error)
    return status


def register_outbox_kind() -> None:
    """Called by ``create_app`` (not on import): the outbox carries out ``notice.push`` with ``deliver``.

    ``deliver`` claims the notice with a guarded move, so a push the sweep made first is not made twice; a
    refused or failed push is the notice's own business (its backoff, ``sweep``): the outbox row is done."""
    outbox.handler(PUSH)(lambda payload: deliver(int(payload["notice_id"])))


def due_notifications(limit: int = 200) -> list[int]:
    """Ids of pending notices whose time has come (oldest first); releases sends killed mid-way.

    The release moves each stale notice on its own (one guarded move and one StateTransition row
    each): a send that finishes meanwhile wins and is not released."""
    now = utcnow()
    stale = Notification.next_attempt_at < now - STALE_SENDING
    with unit_of_work():
        for notice_id in list(db.session.scalars(select(Notification.id).where(Notification.status == N.SENDING,
                                                                               stale))):
            states.move("notice", notice_id, N.SENDING, decide_notice(N.SENDING, NoticeEvent.RELEASE), actor=ACTOR,
                        reason="stale sending released", where=(stale,))
    return list(db.session.scalars(
        select(Notification.id).where(Notification.status == N.PENDING,
                                      or_(Notification.next_attempt_at.is_(None),
                                          Notification.next_attempt_at <= now))
        .order_by(Notification.id).limit(limit)))


def sweep(sender_for: SenderFactory | None = None) -> dict[str, int]:
    """Deliver every due notice; returns counts per resulting status."""
    counts: dict[str, int] = {}
    for notice_id in due_notifications():
        status = deliver(notice_id, sender_for)
        counts[status] = counts.get(status, 0) + 1
    return counts
