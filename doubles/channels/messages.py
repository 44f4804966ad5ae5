"""The sandbox push channel: accepts every message the real channel would and refuses what it would
refuse: a WeChat keyword value that breaks its type's rule (thing ≤ 20 characters, phrase ≤ 5 汉字 ...)
is errcode 47003, as on the 服务号. It answers with the channel's own error code for recipients
configured to fail (SANDBOX_PUSH_FAILURES, uid -> code), so demos and tests can show a quota or
'not following' failure. Deliveries are recorded by the
delivery service in MessagePush, where staff inspect them."""

from __future__ import annotations

import secrets
from collections.abc import Mapping

from app.channels.messages import PushMessage, PushReceipt, PushRefused
from app.channels.wechat.keywords import violation


class SandboxSender:
    def __init__(self, channel: str, failures: Mapping[str, str] | None = None) -> None:
        self.channel = channel
        self.failures = dict(failures or {})

    def send(self, message: PushMessage) -> PushReceipt:
        request = {"channel": self.channel, "touser": message.recipient, "template_id": message.template_id,
                   "url": message.url, "title": message.title, "data": dict(message.fields)}
        if not message.recipient or not message.template_id:
            raise PushRefused("40003" if self.channel == "wechat" else "isv.invalid-parameter",
                              "recipient and template are required", request=request)
        if self.channel == "wechat":
            for key, value in message.fields.items():
                wrong = violation(key, value)
                if wrong:
                    raise PushRefused("47003", f"argument invalid! {wrong}", request=request)
        code = self.failures.get(message.recipient)
        if code:
            raise PushRefused(code, "sandbox: configured failure", request=request)
        return PushReceipt(f"sandbox-{secrets.token_hex(8)}", request)
