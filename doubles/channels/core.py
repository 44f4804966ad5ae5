"""The sandbox engine without HTTP: settings, keys, state, and notification delivery.

Notifications are stored before they are sent, then POSTed with the HTTP client a few times
inline (compressed first retries, so a demo does not wait 15 s) and afterwards on the channel's
real retry schedule whenever ``deliver_due()`` runs (a periodic task in sandbox mode, or the
``/notifications/deliver-due`` endpoint).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import requests

from app import clock
from app.channels.base import CHINA_TZ
from doubles.channels.keys import SandboxKeys, ensure_sandbox_keys
from doubles.channels.signing import (
    WechatSigner,
    alipay_notification,
    wechat_signed_headers,
)
from doubles.channels.store import SandboxStore

SandboxChannel = Literal["wechat", "alipay"]

#: Seconds between retries of an unanswered notification, as documented by each channel.
WECHAT_RETRY_SCHEDULE = (15, 15, 30, 180, 600, 1200, 1800, 1800, 1800, 3600, 10800, 10800, 10800, 21600, 21600)
ALIPAY_RETRY_SCHEDULE = (240, 600, 600, 3600, 7200, 21600, 54000)  # 8 tries over ~25 h

DEFAULT_WECHAT_APPID = "wx_sandbox_appid"
DEFAULT_WECHAT_MCHID = "1900000109"
DEFAULT_ALIPAY_APPID = "2021000000000000"
DEFAULT_ALIPAY_SELLER_ID = "2088000000000001"

log = logging.getLogger(__name__)


class SandboxRefusal(Exception):
    """The sandbox cashier refuses an action (expired, closed, bad signature...)."""


@dataclass(frozen=True)
class SandboxSettings:
    """How one sandbox behaves; ids must match what ``make_channels`` gives the adapters."""

    state_db: str
    keys_dir: str
    wechat_appid: str = DEFAULT_WECHAT_APPID
    wechat_mchid: str = DEFAULT_WECHAT_MCHID
    alipay_appid: str = DEFAULT_ALIPAY_APPID
    alipay_seller_id: str = DEFAULT_ALIPAY_SELLER_ID
    merchant_name: str = "妇幼保健院"
    #: which key signs WeChat notifications ("public_key" or "certificate"); responses are
    #: signed with the public key when the request names its id in ``Wechatpay-Serial``.
    wechat_notify_signer: WechatSigner = "public_key"
    inline_attempts: int = 3
    inline_retry_delay_s: float = 0.5
    notify_timeout_s: float = 5.0
    #: how long a WeChat refund stays PROCESSING (and an Alipay refund notice is delayed)
    refund_delay_s: float = 1.0


@dataclass(frozen=True)
class KnownTrade:
    """A paid trade the sandbox is told about (``PaymentSandbox.know_paid_trade``), amounts in fen; ``refund_no``
    when a refund of it reached the channel (``refund_abnormal``: WeChat holds it as 退款异常)."""

    order_no: str
    trade_no: str
    total_fen: int
    description: str
    payer_uid: str
    refund_no: str | None = None
    refund_fen: int = 0
    refund_reason: str | None = None
    refund_abnormal: bool = False


@dataclass(frozen=True)
class DeliveryResult:
    """Outcome of delivering one stored notification."""

    notification_id: int
    delivered: bool
    attempts: int
    status: int | None
    body: str


class PaymentSandbox:
    """Keys, state and notification delivery shared by the WeChat and Alipay sandboxes."""

    def __init__(self, settings: SandboxSettings) -> None:
        self.settings = settings
        self.keys: SandboxKeys = ensure_sandbox_keys(settings.keys_dir)
        self.store = SandboxStore(settings.state_db)
        self._session = requests.Session()
        #: tests and demos: WeChat refunds stay PROCESSING while True (to make one ABNORMAL first)
        self.refunds_on_hold = False

    # -- recording -------------------------------------------------------------------------

    def record_notification(
        self,
        conn: Any,
        channel: SandboxChannel,
        kind: str,
        order_no: str,
        refund_no: str | None,
        url: str,
        payload: str,
    ) -> int:
        """Store a notification inside the caller's transaction; deliver it after commit."""
        cur = conn.execute(
            "INSERT INTO notifications (channel, kind, order_no, refund_no, url, payload, next_attempt_at,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (channel, kind, order_no, refund_no, url, payload, time.time(), time.time()),
        )
        return int(cur.lastrowid)

    def notifications(self, order_no: str | None = None) -> list[dict[str, Any]]:
        """Stored notifications, newest last, optionally for one order."""
        sql = ("SELECT id, channel, kind, order_no, refund_no, url, attempts, last_status, delivered_at"
               " FROM notifications")
        if order_no:
            rows = self.store.all(sql + " WHERE order_no = ? ORDER BY id", order_no)
        else:
            rows = self.store.all(sql + " ORDER BY id")
        return [dict(row) for row in rows]

    # -- signing and sending ---------------------------------------------------------------

    def signed_request(self, notification_id: int) -> tuple[str, dict[str, str], bytes]:
        """(url, headers, body) of a stored notification, freshly signed as a retry would be."""
        row = self.store.one("SELECT channel, url, payload FROM notifications WHERE id = ?", notification_id)
        if row is None:
            raise KeyError(notification_id)
        if row["channel"] == "wechat":
            body = row["payload"]
            headers = wechat_signed_headers(self.keys, body, self.settings.wechat_notify_signer)
            headers["Content-Type"] = "application/json"
            return row["url"], headers, body.encode("utf-8")
        headers, raw = alipay_notification(self.keys, json.loads(row["payload"]))
        return row["url"], headers, raw

    def _attempt(self, notification_id: int) -> DeliveryResult:
        url, headers, body = self.signed_request(notification_id)
        channel = "wechat" if "Wechatpay-Signature" in headers else "alipay"
        status: int | None = None
        text = ""
        try:
            response = self._session.post(url, data=body, headers=headers, timeout=self.settings.notify_timeout_s)
            status, text = response.status_code, response.text
        except requests.RequestException as exc:
            text = f"{type(exc).__name__}: {exc}"
        if channel == "wechat":
            ok = status in (200, 204)
            schedule: tuple[int, ...] = WECHAT_RETRY_SCHEDULE
        else:
            ok = status == 200 and text.strip() == "success"
            schedule = ALIPAY_RETRY_SCHEDULE
        now = time.time()
        with self.store.transaction() as conn:
            row = conn.execute("SELECT attempts FROM notifications WHERE id = ?", (notification_id,)).fetchone()
            attempts = int(row["attempts"]) + 1
            retry_index = attempts - self.settings.inline_attempts
            if ok:
                next_at = None
            elif retry_index < 0:
                next_at = now
            elif retry_index < len(schedule):
                next_at = now + schedule[retry_index]
            else:
                next_at = None  # the channel gives up
            conn.execute(
                "UPDATE notifications SET attempts = ?, last_status = ?, next_attempt_at = ?,"
                " delivered_at = COALESCE(delivered_at, ?) WHERE id = ?",
                (attempts, str(status) if status else text[:200], next_at, now if ok else None, notification_id),
            )
        if not ok:
            log.info("sandbox notification %s to %s not accepted: %s %s", notification_id, url, status, text[:200])
        return DeliveryResult(notification_id, ok, attempts, status, text)

    def deliver(self, notification_id: int, attempts: int | None = None) -> DeliveryResult:
        """POST a notification now, retrying inline up to ``attempts`` times until accepted."""
        tries = self.settings.inline_attempts if attempts is None else attempts
        result = self._attempt(notification_id)
        for _ in range(tries - 1):
            if result.delivered:
                break
            time.sleep(self.settings.inline_retry_delay_s)
            result = self._attempt(notification_id)
        return result

    def redeliver(self, notification_id: int) -> DeliveryResult:
        """Send a notification once more even if it was accepted (a replay, as channels do)."""
        return self._attempt(notification_id)

    def deliver_due(self, now: float | None = None) -> list[DeliveryResult]:
        """Retry every undelivered notification whose time has come; run it periodically."""
        moment = time.time() if now is None else now
        rows = self.store.all(
            "SELECT id FROM notifications WHERE delivered_at IS NULL AND next_attempt_at IS NOT NULL"
            " AND next_attempt_at <= ? ORDER BY id",
            moment,
        )
        from doubles.channels import wechat

        wechat.complete_due_refunds(self)
        return [self._attempt(int(row["id"])) for row in rows]

    def later(self, delay_s: float, fn: Callable[[], object]) -> None:
        """Run ``fn`` on a daemon thread after a delay (the state stays in the database, so a
        lost thread is finished by ``deliver_due`` or the next query)."""

        def run() -> None:
            time.sleep(delay_s)
            try:
                fn()
            except Exception:  # pragma: no cover - logged, the sweep finishes the work
                log.exception("sandbox background work failed")

        threading.Thread(target=run, name="payment-sandbox", daemon=True).start()

    # -- programmatic patient --------------------------------------------------------------

    def confirm_payment(self, channel: SandboxChannel, order_no: str) -> DeliveryResult | None:
        """Act as the patient tapping 确认支付 for an order (tests and demos without a browser)."""
        if channel == "wechat":
            from doubles.channels import wechat

            return wechat.confirm(self, order_no)
        from doubles.channels import alipay

        return alipay.confirm(self, order_no)

    def know_paid_trade(self, channel: SandboxChannel, trade: KnownTrade) -> None:
        """A trade paid before this sandbox kept state (the demo's orders): known as a channel knows every trade
        it took, with the refund that reached it if any. Idempotent."""
        if channel == "wechat":
            from doubles.channels import wechat

            return wechat.know_paid_trade(self, trade)
        from doubles.channels import alipay

        return alipay.know_paid_trade(self, trade)

    def refund_abnormal(self, refund_no: str, deliver: bool = True) -> int | None:
        """WeChat only: a PROCESSING refund goes ABNORMAL (the card it goes back to was cancelled)."""
        from doubles.channels import wechat

        nid = wechat.make_refund_abnormal(self, refund_no)
        if nid is not None and deliver:
            self.deliver(nid)
        return nid

    def refund_abnormal_resolved(self, refund_no: str, status: str = "SUCCESS", deliver: bool = True) -> int | None:
        """WeChat only: the merchant handled the abnormal refund: SUCCESS (or CLOSED) and its notification."""
        from doubles.channels import wechat

        nid = wechat.resolve_abnormal_refund(self, refund_no, status)
        if nid is not None and deliver:
            self.deliver(nid)
        return nid


def now_cn() -> datetime:
    """The current time in China, to the second."""
    return clock.now().astimezone(CHINA_TZ).replace(microsecond=0)


def resolve(path: str | Path) -> str:
    """Absolute form of a configured path."""
    return str(Path(path).expanduser().resolve())
