"""Alipay 生活号 (服务窗) template messages: ``alipay.open.public.message.single.send``."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from alipay.exceptions import AliPayException, AliPayValidationError

from app.channels.alipay.errors import alipay_error
from app.channels.messages import PushMessage, PushReceipt, PushRefused


class AlipayLifeSender:
    channel = "alipay"

    def __init__(self, client: Any) -> None:
        self.client = client  # a python-alipay-sdk AliPay

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> AlipayLifeSender:
        from app.channels.alipay.oauth import AlipayOAuth

        return cls(AlipayOAuth.from_config(cfg).client)

    def send(self, message: PushMessage) -> PushReceipt:
        context: dict[str, Any] = {"head_color": "#e8507b", "action_name": "查看详情",
                                   "url": message.url or "",
                                   "first": {"color": "#333333", "value": message.title}}
        for key, value in message.fields.items():
            context[key] = {"color": "#333333", "value": value}
        biz = {"to_user_id": message.recipient,
               "template": {"template_id": message.template_id, "context": context}}
        request = json.loads(json.dumps(biz, ensure_ascii=False))
        try:
            result = self.client.server_api("alipay.open.public.message.single.send", biz_content=biz)
        except AliPayValidationError as exc:
            raise PushRefused("bad_signature", "response signature did not verify", request=request) from exc
        except AliPayException as exc:
            raw = alipay_error(exc)[1]
            code = "PUB.MSG_SD_NOFOLLOW" if "NOFOLLOW" in raw else str(alipay_error(exc)[0] or "refused")
            if code != "PUB.MSG_SD_NOFOLLOW":
                try:
                    body = json.loads(raw)
                    code = next(iter(body.values())).get("sub_code") or code
                except (ValueError, AttributeError, StopIteration):
                    pass
            raise PushRefused(code, raw[:200], request=request) from exc
        except OSError as exc:
            raise PushRefused("unavailable", str(exc), request=request) from exc
        return PushReceipt(str(result.get("msg_id", "")), request)
