"""WeChat 服务号 template messages through wechatpy.

Since 2023 WeChat ignores ``first`` and ``remark``: everything the patient needs is in the keyword
fields, which the back-office maps per template (MessageTemplate.field_map_json).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from wechatpy import WeChatClient
from wechatpy.exceptions import WeChatClientException

from app.channels.messages import PushMessage, PushReceipt, PushRefused


class WechatTemplateSender:
    channel = "wechat"

    def __init__(self, client: Any) -> None:
        self.client = client  # a wechatpy WeChatClient (access token cached by its session storage)

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> WechatTemplateSender:
        return cls(WeChatClient(str(cfg["WECHAT_APPID"]), str(cfg["WECHAT_APPSECRET"]), timeout=8))

    def send(self, message: PushMessage) -> PushReceipt:
        data = {key: {"value": value} for key, value in message.fields.items()}  # fitted by delivery
        request = {"touser": message.recipient, "template_id": message.template_id, "url": message.url,
                   "data": data}
        try:
            result = self.client.message.send_template(message.recipient, message.template_id, data,
                                                       url=message.url)
        except WeChatClientException as exc:
            raise PushRefused(str(exc.errcode), str(exc.errmsg), request=request) from exc
        except OSError as exc:
            raise PushRefused("unavailable", str(exc), request=request) from exc
        return PushReceipt(str(result.get("msgid", "")), request)
