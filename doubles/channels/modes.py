"""What the sandbox modes build: the unchanged channel adapters pointed at the sandbox gateways
(PAYMENT_MODE=sandbox), the local authorisation page's codes (OAUTH_MODE=sandbox) and the recorded push
channel (MESSAGE_MODE=sandbox). app/doubles_switch.py registers these with the product."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.channels import AlipayChannel, PaymentChannel, PaymentMode, WechatPayChannel
from app.channels.identity import OAuthProvider
from app.channels.messages import MessageSender
from doubles.channels.core import (
    DEFAULT_ALIPAY_APPID,
    DEFAULT_ALIPAY_SELLER_ID,
    DEFAULT_WECHAT_APPID,
    DEFAULT_WECHAT_MCHID,
)
from doubles.channels.keys import ensure_sandbox_keys


def sandbox_channels(cfg: Mapping[str, Any], timeout: float) -> dict[str, PaymentChannel]:
    """The unchanged WeChat Pay and Alipay adapters pointed at the sandbox (SANDBOX_BASE_URL), with its keys."""
    base = str(cfg.get("SANDBOX_BASE_URL") or "http://127.0.0.1:5000/sandbox").rstrip("/")
    keys = ensure_sandbox_keys(cfg.get("SANDBOX_KEYS_DIR") or "instance/sandbox_keys")
    # The sandbox signs with the WeChat Pay public key by default; certificate mode is kept for
    # tests of the migration case (SANDBOX_WECHAT_VERIFY="certificate").
    use_public_key = cfg.get("SANDBOX_WECHAT_VERIFY", "public_key") == "public_key"
    wechat = WechatPayChannel(
        appid=str(cfg.get("WECHAT_APPID") or DEFAULT_WECHAT_APPID),
        mchid=str(cfg.get("WECHAT_MCHID") or DEFAULT_WECHAT_MCHID),
        private_key=keys.read(keys.wechat_merchant_key),
        cert_serial_no=keys.wechat_merchant_serial,
        apiv3_key=keys.wechat_apiv3_key,
        public_key=keys.read(keys.wechat_public_key) if use_public_key else None,
        public_key_id=keys.wechat_public_key_id if use_public_key else None,
        gateway=f"{base}/wechatpay",
        refund_notify_url=cfg.get("WECHAT_REFUND_NOTIFY_URL"),
        sandbox_cashier_url=f"{base}/wechatpay/cashier",
        timeout=(5.0, timeout),
    )
    alipay = AlipayChannel(
        app_id=str(cfg.get("ALIPAY_APPID") or DEFAULT_ALIPAY_APPID),
        app_private_key=keys.read(keys.alipay_app_key),
        alipay_public_key=keys.read(keys.alipay_public_key),
        seller_id=str(cfg.get("ALIPAY_SELLER_ID") or DEFAULT_ALIPAY_SELLER_ID),
        gateway=f"{base}/alipay/gateway.do",
        timeout=timeout,
    )
    return {wechat.name: wechat, alipay.name: alipay}


def sandbox_alipay_keys(cfg: Mapping[str, Any]) -> tuple[str, str, str]:
    """The Alipay app private key, the (sandbox) Alipay public key and the app id, for the 服务窗 gateway."""
    keys = ensure_sandbox_keys(cfg.get("SANDBOX_KEYS_DIR") or "instance/sandbox_keys")
    return (keys.read(keys.alipay_app_key), keys.read(keys.alipay_public_key),
            str(cfg.get("ALIPAY_APPID") or DEFAULT_ALIPAY_APPID))


SANDBOX_PAYMENTS = PaymentMode(build=sandbox_channels, alipay_keys=sandbox_alipay_keys)


def sandbox_oauth(cfg: Mapping[str, Any], channel: str) -> OAuthProvider:
    """Codes issued by the local authorisation page (h5/routes/auth.py) instead of WeChat's and Alipay's."""
    from doubles.channels.oauth import SandboxOAuth

    return SandboxOAuth(channel, secret=str(cfg["SECRET_KEY"]),
                        authorize_base=str(cfg.get("SANDBOX_OAUTH_URL") or "/h5/auth/sandbox"))


def sandbox_sender(cfg: Mapping[str, Any], channel: str) -> MessageSender:
    """A push channel that refuses what the real one would and answers SANDBOX_PUSH_FAILURES' codes."""
    from doubles.channels.messages import SandboxSender

    return SandboxSender(channel, failures=cfg.get("SANDBOX_PUSH_FAILURES") or {})
