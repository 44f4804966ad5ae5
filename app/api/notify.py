"""Payment and refund notifications from WeChat Pay and Alipay (stable URLs registered at the channels).

Each endpoint only checks the envelope (size, content type) and hands the raw bytes to the
``ApplyChannelNotification`` command, which verifies, deduplicates, applies and commits before we answer.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, request

from app.payments.commands import ApplyChannelNotification, channels

log = logging.getLogger("payments.notify")
notify_bp = Blueprint("notify", __name__)

MAX_BODY = 64 * 1024
EXPECTED_TYPES = {"wechat": "application/json", "alipay": "application/x-www-form-urlencoded"}


def _answer(body: str, status: int, content_type: str) -> Response:
    return Response(body, status=status, content_type=content_type)


def _receive(channel: str) -> Response:
    adapter = channels()[channel]
    if (request.content_length or 0) > MAX_BODY:
        log.warning("%s notification refused: body too large (%s bytes)", channel, request.content_length)
        return _answer(*adapter.notification_ack(False, "body too large"))
    if (request.mimetype or "") != EXPECTED_TYPES[channel]:
        log.warning("%s notification refused: content type %r", channel, request.mimetype)
        return _answer(*adapter.notification_ack(False, "unsupported content type"))
    body = request.get_data(cache=False)[:MAX_BODY + 1]
    if not body or len(body) > MAX_BODY:
        return _answer(*adapter.notification_ack(False, "empty or oversized body"))
    return _answer(*ApplyChannelNotification(channel, request.headers, body).run())


@notify_bp.post("/notify/wechatpay")
@notify_bp.post("/notify/wechatpay/refund")
def wechatpay():
    return _receive("wechat")


@notify_bp.post("/notify/alipay")
def alipay():
    return _receive("alipay")
