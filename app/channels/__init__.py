"""Payment channels: one ``PaymentChannel`` interface, WeChat Pay and Alipay adapters.

``make_channels(app.config)`` is the only constructor the rest of the app needs. The local sandboxes of
both gateways (PAYMENT_MODE=sandbox) are doubles outside the product (doubles/channels/), registered here
by app/doubles_switch.py when the configuration names them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
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
    "register_payment_mode",
    "yuan_to_fen",
]


@dataclass(frozen=True)
class PaymentMode:
    """How a PAYMENT_MODE the product does not build itself (the sandbox) builds the adapters, and where the
    Alipay 服务窗 gateway finds its keys (private key PEM, Alipay public key PEM, app id) when no live key is
    configured."""

    build: Callable[[Mapping[str, Any], float], dict[str, PaymentChannel]]
    alipay_keys: Callable[[Mapping[str, Any]], tuple[str, str, str]] | None = None


#: PAYMENT_MODE -> its builder, filled by app/doubles_switch.py (a production image has none)
PAYMENT_MODES: dict[str, PaymentMode] = {}


def register_payment_mode(name: str, mode: PaymentMode) -> None:
    """Let ``make_channels`` build PAYMENT_MODE ``name`` (idempotent)."""
    PAYMENT_MODES[name] = mode


def _read(path: str | Path) -> str:
    return Path(path).expanduser().read_text(encoding="utf-8")


def _require(cfg: Mapping[str, Any], *keys: str) -> None:
    missing = [key for key in keys if not cfg.get(key)]
    if missing:
        raise ValueError(f"PAYMENT_MODE=live needs these settings: {', '.join(missing)}")


def make_channels(cfg: Mapping[str, Any]) -> dict[str, PaymentChannel]:
    """Build ``{"wechat": ..., "alipay": ...}`` from configuration.

    ``PAYMENT_MODE="sandbox"`` (the default) talks to the sandbox at ``SANDBOX_BASE_URL`` with
    the keys in ``SANDBOX_KEYS_DIR`` (generated on first use, shared with the sandbox; needs the doubles);
    ``"live"`` reads the merchant credentials (key files are paths). Nothing here opens a
    connection: the WeChat client downloads platform certificates on first use.
    """
    mode = cfg.get("PAYMENT_MODE", "sandbox")
    timeout = float(cfg.get("PAYMENT_HTTP_TIMEOUT", 15))
    if mode in PAYMENT_MODES:
        return PAYMENT_MODES[mode].build(cfg, timeout)
    if mode == "sandbox":
        raise ValueError("PAYMENT_MODE=sandbox needs the doubles package (doubles/channels), which is not "
                         "plugged in: set PAYMENT_MODE=live with the merchant credentials")
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
