"""Pushing a notice to a patient through their channel: WeChat template messages, Alipay
life-account (生活号/服务窗) messages, or the sandbox that records them for staff to inspect (a double in
doubles/channels/, registered by app/doubles_switch.py).

Senders take a ``PushMessage`` (plain data) and return the channel's message id or raise
``PushRefused``, which says whether trying again can help: a daily quota (45009) or a patient who
does not follow the account (43004 / PUB.MSG_SD_NOFOLLOW) is final for this notice.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

# channel error code -> our reason; these are not retried
FINAL_CODES = {
    "45009": "quota", "45047": "quota", "43004": "not_following", "43101": "not_following",
    "40003": "bad_recipient", "40037": "bad_template", "47003": "bad_template",
    "PUB.MSG_SD_NOFOLLOW": "not_following", "PUB.MSG_SD_QUOTA_LIMIT": "quota",
    "PUB.MSG_SD_TEMPLATE_NOT_EXIST": "bad_template", "isv.invalid-template": "bad_template",
}


@dataclass(frozen=True)
class PushMessage:
    channel: str
    recipient: str  # openid / Alipay user id
    template_id: str
    fields: Mapping[str, str]
    url: str | None = None
    title: str = ""  # Alipay shows a head line; WeChat ignores it since 2023


@dataclass(frozen=True)
class PushReceipt:
    message_id: str
    request: Mapping[str, Any] = field(default_factory=dict)


class PushRefused(Exception):
    def __init__(self, code: str, message: str = "", *, request: Mapping[str, Any] | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = str(code)
        self.message = message
        self.request = dict(request or {})

    @property
    def reason(self) -> str | None:
        """'quota', 'not_following', … when retrying cannot help; None for a passing failure."""
        return FINAL_CODES.get(self.code)


class MessageSender(Protocol):
    channel: str

    def send(self, message: PushMessage) -> PushReceipt: ...


#: MESSAGE_MODE -> builder of a sender for a channel, for modes the product does not build itself (the
#: sandbox, registered by app/doubles_switch.py; a production image has none)
MESSAGE_MODES: dict[str, Callable[[Mapping[str, Any], str], MessageSender]] = {}


def register_message_mode(mode: str, builder: Callable[[Mapping[str, Any], str], MessageSender]) -> None:
    """Let ``make_sender`` build MESSAGE_MODE ``mode`` (idempotent)."""
    MESSAGE_MODES[mode] = builder


def make_sender(cfg: Mapping[str, Any], channel: str) -> MessageSender:
    """MESSAGE_MODE 'sandbox' (default; needs the doubles) records pushes locally; 'live' talks to the channel."""
    mode = cfg.get("MESSAGE_MODE") or "sandbox"
    if mode in MESSAGE_MODES:
        return MESSAGE_MODES[mode](cfg, channel)
    if mode == "sandbox":
        raise ValueError("MESSAGE_MODE=sandbox needs the doubles package (doubles/channels), which is not "
                         "plugged in: set MESSAGE_MODE=live")
    if mode != "live":
        raise ValueError(f"MESSAGE_MODE must be 'sandbox' or 'live', not {mode!r}")
    if channel == "wechat":
        from app.channels.wechat.messages import WechatTemplateSender

        return WechatTemplateSender.from_config(cfg)
    from app.channels.alipay.messages import AlipayLifeSender

    return AlipayLifeSender.from_config(cfg)
