"""Payment channels: one ``PaymentChannel`` interface, WeChat Pay and Alipay adapters, and
local sandbox doubles of both.

``make_channels(app.config)`` is the only constructor the rest of the app needs.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from app.channels.alipay.pay import AlipayChannel
from app.channels.base import (
    BillRow,
    ChannelError,
    ChannelUnavailable,
    NotificationIgnored,
    NotificationRejected,
    OrderAlreadyPaid,
    PaymentChannel,
    PaymentNotification,
    PaymentStart,
    PaymentStatus,
    RefundNotification,
    RefundResult,
)
from app.channels.money import fen_to_yuan, yuan_to_fen
from app.channels.wechat.pay import WechatPayChannel

__all__ = [
    "AlipayChannel",
    "BillRow",
    "ChannelError",
    "ChannelUnavailable",
    "NotificationIgnored",
    "NotificationRejected",
    "OrderAlreadyPaid",
    "PaymentChannel",
    "PaymentNotification",
    "PaymentStart",
    "PaymentStatus",
    "RefundNotification",
    "RefundResult",
    "WechatPayChannel",
    "fen_to_yuan",
    "make_channels",
    "yuan_to_fen",
]


def _read(path: str | Path) -> str:
    return Path(path).expanduser().read_text(encoding="utf-8")


def _require(cfg: Mapping[str, Any], *keys: str) -> None:
    missing = [key for key in keys if not cfg.get(key)]
    if missing:
        raise ValueError(f"PAYMENT_MODE=live needs these settings: {', '.join(missing)}")


def make_channels(cfg: Mapping[str, Any]) -> dict[str, PaymentChannel]:
    """Build ``{"wechat": ..., "alipay": ...}`` from configuration.

    ``PAYMENT_MODE="sandbox"`` (the default) talks to the sandbox at ``SANDBOX_BASE_URL`` with
    the keys in ``SANDBOX_KEYS_DIR`` (generated on first use, shared with the sandbox);
    ``"live"`` reads the merchant credentials (key files are paths). Nothing here opens a
    connection: the WeChat client downloads platform certificates on first use.
    """
    mode = cfg.get("PAYMENT_MODE", "sandbox")
    timeout = float(cfg.get("PAYMENT_HTTP_TIMEOUT", 15))
    if mode == "sandbox":
        return _sandbox_channels(cfg, timeout)
    if mode != "live":
        raise ValueError(f"PAYMENT_MODE must be 'sandbox' or 'live', not {mode!r}")
    _require(cfg, "WECHAT_APPID", "WECHAT_MCHID", "WECHAT_PAY_PRIVATE_KEY", "WECHAT_PAY_CERT_SERIAL",
             "WECHAT_PAY_APIV3_KEY", "ALIPAY_APPID", "ALIPAY_PRIVATE_KEY", "ALIPAY_PUBLIC_KEY")
    public_key_path = cfg.get("WECHAT_PAY_PUBLIC_KEY")
    public_key_id = cfg.get("WECHAT_PAY_PUBLIC_KEY_ID")
    if bool(public_key_path) != bool(public_key_id):
        raise ValueError("set both WECHAT_PAY_PUBLIC_KEY and WECHAT_PAY_PUBLIC_KEY_ID, or neither")
    wechat = WechatPayChannel(
        appid=cfg["WECHAT_APPID"],
        mchid=str(cfg["WECHAT_MCHID"]),
        private_key=_read(cfg["WECHAT_PAY_PRIVATE_KEY"]),
        cert_serial_no=cfg["WECHAT_PAY_CERT_SERIAL"],
        apiv3_key=cfg["WECHAT_PAY_APIV3_KEY"],
        public_key=_read(public_key_path) if public_key_path else None,
        public_key_id=public_key_id or None,
        cert_dir=cfg.get("WECHAT_PAY_CERT_DIR"),
        gateway=cfg.get("WECHAT_PAY_GATEWAY") or "https://api.mch.weixin.qq.com",
        refund_notify_url=cfg.get("WECHAT_REFUND_NOTIFY_URL"),
        timeout=(5.0, timeout),
    )
    alipay = AlipayChannel(
        app_id=str(cfg["ALIPAY_APPID"]),
        app_private_key=_read(cfg["ALIPAY_PRIVATE_KEY"]),
        alipay_public_key=_read(cfg["ALIPAY_PUBLIC_KEY"]),
        seller_id=cfg.get("ALIPAY_SELLER_ID"),
        gateway=cfg.get("ALIPAY_GATEWAY") or "https://openapi.alipay.com/gateway.do",
        timeout=timeout,
    )
    return {wechat.name: wechat, alipay.name: alipay}


def _sandbox_channels(cfg: Mapping[str, Any], timeout: float) -> dict[str, PaymentChannel]:
    from app.channels.sandbox.core import (
        DEFAULT_ALIPAY_APPID,
        DEFAULT_ALIPAY_SELLER_ID,
        DEFAULT_WECHAT_APPID,
        DEFAULT_WECHAT_MCHID,
    )
    from app.channels.sandbox.keys import ensure_sandbox_keys

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
