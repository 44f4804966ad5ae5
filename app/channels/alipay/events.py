"""The 服务窗 gateway (``/alipay/gateway``): Alipay's signed form posts for the gateway check
(``alipay.service.check``) and user events (``alipay.mobile.public.message.notify``: follow,
unfollow), answered with a response signed by our application key.
"""

from __future__ import annotations

import datetime as dt
import xml.parsers.expat
from collections.abc import Mapping
from typing import Any

import xmltodict
from alipay import AliPay

from app import clock
from app.channels.events import ChannelEvent, EventRejected

EVENTS = {"follow": "subscribe", "unfollow": "unsubscribe"}


class AlipayGateway:
    def __init__(self, client: AliPay, app_public_key_b64: str) -> None:
        self.client = client
        self.app_public_key_b64 = app_public_key_b64

    def verify(self, form: Mapping[str, str]) -> dict[str, str]:
        data = {k: v for k, v in form.items()}
        sign = data.pop("sign", "")
        if not sign or data.get("sign_type", "RSA2") != "RSA2":
            raise EventRejected("missing or unsupported signature", 403)
        try:
            ok = self.client.verify(dict(data), sign)
        except Exception as exc:  # malformed base64, wrong key size, ...
            raise EventRejected(f"bad signature: {type(exc).__name__}", 403) from exc
        if not ok:
            raise EventRejected("bad signature", 403)
        return data

    def parse_event(self, data: Mapping[str, str]) -> ChannelEvent | None:
        """The follow/unfollow event in a verified notify, or None for other messages."""
        try:
            doc = xmltodict.parse(data.get("biz_content", ""), disable_entities=True)
        except (xml.parsers.expat.ExpatError, ValueError) as exc:
            raise EventRejected(f"unreadable biz_content: {type(exc).__name__}") from exc
        except Exception as exc:  # entity declarations and other hostile XML
            raise EventRejected(f"unreadable biz_content: {type(exc).__name__}") from exc
        root: Any = next(iter((doc or {}).values()), None)
        if not isinstance(root, dict):
            raise EventRejected("biz_content is not an XML message")
        kind = EVENTS.get(str(root.get("EventType") or "").lower())
        uid = root.get("FromAlipayUserId") or root.get("FromUserId")
        if root.get("MsgType") != "event" or not kind or not uid:
            return None
        try:
            at = dt.datetime.fromtimestamp(int(root.get("CreateTime")) / 1000, dt.UTC).replace(tzinfo=None)
        except (TypeError, ValueError):
            at = clock.utcnow()
        return ChannelEvent("alipay", str(uid)[:64], kind, at)

    def signed_response(self, inner: str) -> str:
        """``<alipay><response>…</response><sign>…</sign>…</alipay>`` signed with our app key."""
        response = f"<response>{inner}</response>"
        sign = self.client._sign(response)
        return (f'<?xml version="1.0" encoding="UTF-8"?><alipay>{response}<sign>{sign}</sign>'
                f"<sign_type>RSA2</sign_type></alipay>")

    def check_response(self) -> str:
        return self.signed_response(f"<success>true</success><biz_content>{self.app_public_key_b64}"
                                    f"</biz_content>")

    def ack_response(self) -> str:
        return self.signed_response("<success>true</success>")


def gateway_from_config(cfg: Mapping[str, Any]) -> AlipayGateway:
    """Live keys when ALIPAY_PRIVATE_KEY is configured, else the sandbox's generated keys."""
    from pathlib import Path

    from app.channels.alipay.pay import alipay_key_pem

    if cfg.get("ALIPAY_PRIVATE_KEY"):
        def read(value: str) -> str:
            return value if "BEGIN" in value or len(value) > 300 else Path(value).read_text(encoding="utf-8")

        private = alipay_key_pem(read(str(cfg["ALIPAY_PRIVATE_KEY"])), private=True)
        alipay_public = alipay_key_pem(read(str(cfg["ALIPAY_PUBLIC_KEY"])), private=False)
        app_id = str(cfg["ALIPAY_APPID"])
    else:
        from app.channels import PAYMENT_MODES

        sandbox = PAYMENT_MODES.get("sandbox")
        if sandbox is None or sandbox.alipay_keys is None:
            raise ValueError("ALIPAY_PRIVATE_KEY is not set and no sandbox keys are plugged in")
        private, alipay_public, app_id = sandbox.alipay_keys(cfg)
    client = AliPay(appid=app_id, app_notify_url=None, app_private_key_string=private,
                    alipay_public_key_string=alipay_public, sign_type="RSA2")
    from Cryptodome.PublicKey import RSA

    public_b64 = "".join(RSA.import_key(private).public_key().export_key("PEM").decode()
                         .splitlines()[1:-1])
    return AlipayGateway(client, public_b64)
