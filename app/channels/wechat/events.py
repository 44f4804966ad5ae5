"""The 服务号 message/event push (``/wechat/events``): URL verification, signature check, safe-mode
(AES) decryption and the passive reply, through wechatpy.

WeChat waits 5 seconds for an answer: parsing happens here, the work is a Huey task.
"""

from __future__ import annotations

import datetime as dt
import time
import xml.parsers.expat
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from wechatpy import parse_message
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.replies import TextReply
from wechatpy.utils import check_signature

from app.channels.events import ChannelEvent, EventRejected

EVENTS = {"subscribe": "subscribe", "unsubscribe": "unsubscribe"}
MAX_BODY = 64 * 1024


@dataclass(frozen=True)
class WechatPush:
    event: ChannelEvent | None
    message: Any  # the wechatpy message, for the reply
    encrypted: bool


#: a push whose signed timestamp is further than this from our clock is refused (a replay); WeChat
#: retries within 15 seconds, so five minutes is generous
MAX_SKEW_SECONDS = 300


class WechatEventEndpoint:
    def __init__(self, token: str, appid: str, aes_key: str | None = None,
                 now: Callable[[], float] = time.time) -> None:
        self.token, self.appid, self.aes_key = token, appid, aes_key or None
        self._now = now

    def _check(self, args: Mapping[str, str]) -> None:
        """The signature (token, timestamp, nonce) and the timestamp window: a genuine push replayed
        days later is refused like a forged one."""
        timestamp = args.get("timestamp", "")
        try:
            check_signature(self.token, args.get("signature", ""), timestamp, args.get("nonce", ""))
        except InvalidSignatureException as exc:
            raise EventRejected("bad signature", 403) from exc
        if not timestamp.isdigit() or abs(self._now() - int(timestamp)) > MAX_SKEW_SECONDS:
            raise EventRejected("timestamp outside the allowed window", 403)

    def verify_url(self, args: Mapping[str, str]) -> str:
        """GET: WeChat checks the URL; we answer its echostr only when the signature is ours."""
        self._check(args)
        return args.get("echostr", "")

    def parse(self, args: Mapping[str, str], body: bytes) -> WechatPush:
        self._check(args)
        if len(body) > MAX_BODY:
            raise EventRejected("body too large")
        encrypted = args.get("encrypt_type") == "aes"
        text = body.decode("utf-8", "replace")
        if encrypted:
            if not self.aes_key:
                raise EventRejected("encrypted push but no EncodingAESKey configured")
            try:
                text = WeChatCrypto(self.token, self.aes_key, self.appid).decrypt_message(
                    text, args.get("msg_signature", ""), args.get("timestamp", ""), args.get("nonce", ""))
            except (InvalidSignatureException, InvalidAppIdException) as exc:
                raise EventRejected("bad message signature", 403) from exc
            except Exception as exc:  # hostile XML raises far more than ExpatError
                raise EventRejected(f"unreadable encrypted body: {type(exc).__name__}") from exc
        try:
            message = parse_message(text)
        except (xml.parsers.expat.ExpatError, ValueError, TypeError, KeyError, AttributeError) as exc:
            raise EventRejected(f"unreadable XML: {type(exc).__name__}") from exc
        except Exception as exc:  # entity declarations and friends
            raise EventRejected(f"unreadable XML: {type(exc).__name__}") from exc
        if message is None:
            raise EventRejected("empty body")
        event = None
        kind = EVENTS.get(getattr(message, "event", "") or "")
        if message.type == "event" and kind and message.source:
            at = message.create_time.astimezone(dt.UTC).replace(tzinfo=None)
            event = ChannelEvent("wechat", str(message.source)[:64], kind, at)
        return WechatPush(event, message, encrypted)

    def reply_text(self, push: WechatPush, args: Mapping[str, str], content: str) -> str:
        xml = TextReply(message=push.message, content=content).render()
        if push.encrypted and self.aes_key:
            crypto = WeChatCrypto(self.token, self.aes_key, self.appid)
            return crypto.encrypt_message(xml, args.get("nonce", ""), args.get("timestamp"))
        return xml
