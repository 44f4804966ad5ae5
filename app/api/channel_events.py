"""What WeChat and Alipay push to us: ``/wechat/events`` (服务号) and ``/alipay/gateway`` (服务窗).

Both answer within the channels' 5 seconds: verify, parse, enqueue the recording in Huey, reply.
Anything unsigned or unreadable is refused (403 / 400) without touching the database.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, current_app, request

from app import clock
from app.channels.events import ChannelEvent, EventRejected

log = logging.getLogger(__name__)
channel_events_bp = Blueprint("channel_events", __name__)


def _enqueue(event: ChannelEvent) -> None:
    from app.tasks.messages import record_channel_event

    record_channel_event(event.channel, event.uid, event.event, event.at.isoformat())


def _wechat_endpoint():
    from app.channels.wechat.events import WechatEventEndpoint

    cfg = current_app.config
    return WechatEventEndpoint(str(cfg["WECHAT_TOKEN"]), str(cfg["WECHAT_APPID"]),
                               cfg.get("WECHAT_ENCODING_AES_KEY") or None, now=lambda: clock.now().timestamp())


def _refused(exc: EventRejected) -> Response:
    log.warning("channel push refused path=%s reason=%s", request.path, exc.reason)
    return Response("", status=exc.status)


@channel_events_bp.get("/wechat/events")
def wechat_verify():
    try:
        return Response(_wechat_endpoint().verify_url(request.args), mimetype="text/plain")
    except EventRejected as exc:
        return _refused(exc)


@channel_events_bp.post("/wechat/events")
def wechat_events():
    from app.identity.follows import welcome_text

    endpoint = _wechat_endpoint()
    try:
        push = endpoint.parse(request.args, request.get_data(cache=False))
    except EventRejected as exc:
        return _refused(exc)
    if push.event is None:
        return Response("success", mimetype="text/plain")
    _enqueue(push.event)
    if push.event.event == "subscribe":
        return Response(endpoint.reply_text(push, request.args, welcome_text()), mimetype="application/xml")
    return Response("success", mimetype="text/plain")


@channel_events_bp.post("/alipay/gateway")
def alipay_gateway():
    from app.channels.alipay.events import gateway_from_config

    gateway = gateway_from_config(current_app.config)
    try:
        data = gateway.verify(request.form)
        if data.get("service") == "alipay.service.check":
            return Response(gateway.check_response(), mimetype="application/xml")
        if data.get("service") != "alipay.mobile.public.message.notify":
            raise EventRejected("unknown service")
        event = gateway.parse_event(data)
    except EventRejected as exc:
        return _refused(exc)
    if event is not None:
        _enqueue(event)
    return Response(gateway.ack_response(), mimetype="application/xml")
