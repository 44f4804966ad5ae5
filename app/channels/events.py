"""Events the channels push to us (关注 / 取消关注), as plain data for the follow service."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True)
class ChannelEvent:
    channel: str  # wechat | alipay
    uid: str  # openid / Alipay user id
    event: str  # subscribe | unsubscribe | other (ignored)
    at: dt.datetime  # naive UTC, as every timestamp in the database


class EventRejected(Exception):
    """Unsigned, forged or unreadable input: answered 400 (or 403 for a bad signature)."""

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
