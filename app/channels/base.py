"""The one interface every payment channel (WeChat Pay, Alipay) speaks.

Adapters take and return plain data: money is always integer fen, times are aware datetimes,
and nothing here knows about Flask requests or our models. Whatever the channel sent is kept
in ``raw`` so the service can store it beside the payment.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

from app import clock

#: China Standard Time; both channels speak it (the clock's Beijing zone: no DST, a fixed offset is exact).
CHINA_TZ = clock.BEIJING

PaymentState = Literal["paid", "unpaid", "closed", "refunded"]
#: ``failed`` is the channel's final "no" (WeChat CLOSED); ``abnormal`` (WeChat ABNORMAL: the account it goes back
#: to is gone) needs handling and is NOT final; ``not_found``: the channel never received this refund number
RefundState = Literal["succeeded", "processing", "abnormal", "failed", "not_found"]
BillKind = Literal["payment", "refund"]


class ChannelError(Exception):
    """The channel refused or failed a call; ``code`` is the channel's own error code."""

    def __init__(self, code: str, message: str = "", raw: Any = None) -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code
        self.message = message
        self.raw = raw


class ChannelUnavailable(ChannelError):
    """The channel could not be reached or answered 5xx; the call may be retried as is."""


class OrderAlreadyPaid(ChannelError):
    """Closing failed because the patient paid meanwhile: query the order and record the payment."""


class NotificationRejected(ChannelError):
    """A notification failed verification (signature, timestamp, app id, merchant id, shape).

    Answer it with ``notification_ack(False)`` and change nothing.
    """


class NotificationIgnored(ChannelError):
    """A genuine, verified notification that is not the event asked for (e.g. an Alipay
    ``TRADE_CLOSED`` when parsing payments). Acknowledge it with ``notification_ack(True)``
    so the channel stops retrying, and change nothing."""


@dataclass(frozen=True)
class PaymentStart:
    """What the H5 page needs to start paying.

    WeChat: ``jsapi_params`` go to ``WeixinJSBridge.invoke('getBrandWCPayRequest', ...)``;
    in sandbox mode ``sandbox_cashier_url`` is where to go when the bridge is absent.
    Alipay: navigate to ``redirect_url`` (the wap cashier).
    """

    channel: str
    order_no: str
    jsapi_params: Mapping[str, str] | None = None
    redirect_url: str | None = None
    sandbox_cashier_url: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PaymentStatus:
    """The channel's view of one order.

    ``refunded`` means at least one refund exists (WeChat ``REFUND``, Alipay closed after
    payment); an order the channel has never seen is reported ``unpaid`` with no trade_no.
    """

    order_no: str
    trade_no: str | None
    state: PaymentState
    amount_fen: int | None
    paid_at: datetime | None
    raw: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RefundResult:
    """A refund as the channel sees it. ``processing`` means accepted, not yet refunded; only
    ``succeeded`` and ``failed`` are final."""

    refund_no: str
    state: RefundState
    channel_refund_no: str | None
    raw: Mapping[str, Any] = field(default_factory=dict)
    refund_fen: int | None = None
    succeeded_at: datetime | None = None


@dataclass(frozen=True)
class PaymentNotification:
    """A verified "this order was paid" notification. The caller checks amount and order."""

    order_no: str
    trade_no: str
    amount_fen: int
    paid_at: datetime | None
    app_id: str
    mch_id: str
    raw: Mapping[str, Any] = field(default_factory=dict)
    notification_id: str | None = None


@dataclass(frozen=True)
class RefundNotification:
    """A verified refund outcome.

    WeChat reports this refund's amount (``refund_fen``); Alipay reports the order's
    cumulative refunded total (``refunded_total_fen``). Each leaves the other ``None``.
    """

    order_no: str
    refund_no: str
    channel_refund_no: str | None
    state: RefundState
    refund_fen: int | None
    refunded_total_fen: int | None
    succeeded_at: datetime | None
    app_id: str | None
    mch_id: str
    raw: Mapping[str, Any] = field(default_factory=dict)
    notification_id: str | None = None


@dataclass(frozen=True)
class BillRow:
    """One line of the channel's daily bill, for reconciliation."""

    order_no: str
    trade_no: str
    kind: BillKind
    amount_fen: int
    refund_no: str | None
    at: datetime | None


class PaymentChannel(abc.ABC):
    """A payment channel adapter. All amounts are integer fen."""

    #: short name used as the key in ``make_channels`` and stored on payments
    name: str = ""

    @abc.abstractmethod
    def create_payment(
        self,
        order_no: str,
        amount_fen: int,
        description: str,
        payer_id: str | None,
        notify_url: str,
        return_url: str | None,
        expire_at: datetime | None,
    ) -> PaymentStart:
        """Open a payment at the channel and return what the page needs to start paying."""

    @abc.abstractmethod
    def query_payment(self, order_no: str) -> PaymentStatus:
        """Ask the channel for the order's current state."""

    @abc.abstractmethod
    def close_payment(self, order_no: str) -> None:
        """Close an unpaid order so it can no longer be paid; closing twice is harmless."""

    @abc.abstractmethod
    def refund(
        self,
        order_no: str,
        refund_no: str,
        refund_fen: int,
        total_fen: int,
        reason: str,
        notify_url: str | None = None,
    ) -> RefundResult:
        """Ask for a (partial) refund. Retrying with the same ``refund_no`` is idempotent."""

    @abc.abstractmethod
    def query_refund(self, order_no: str, refund_no: str) -> RefundResult:
        """Ask the channel for a refund's current state."""

    @abc.abstractmethod
    def parse_payment_notification(
        self, headers: Mapping[str, str], body: bytes
    ) -> PaymentNotification:
        """Verify and decode a payment notification; raise NotificationRejected if not ours."""

    @abc.abstractmethod
    def parse_refund_notification(
        self, headers: Mapping[str, str], body: bytes
    ) -> RefundNotification:
        """Verify and decode a refund notification; raise NotificationRejected if not ours."""

    @abc.abstractmethod
    def parse_notification(
        self, headers: Mapping[str, str], body: bytes
    ) -> PaymentNotification | RefundNotification:
        """Verify any notification and return the payment or refund it reports.

        Alipay posts refunds to the payment ``notify_url``, so its endpoint needs this.
        """

    @abc.abstractmethod
    def notification_ack(self, ok: bool, message: str = "") -> tuple[str, int, str]:
        """The (body, status, content_type) the channel expects as a notification answer."""

    @abc.abstractmethod
    def download_bill(self, bill_date: date) -> list[BillRow]:
        """Download and parse the channel's trade bill for one day (empty if none)."""


def header(headers: Mapping[str, str], name: str) -> str:
    """Case-insensitive header lookup that also accepts WSGI ``HTTP_*`` keys."""
    value = headers.get(name)
    if value is not None:
        return str(value)
    lowered = name.lower()
    wsgi = "HTTP_" + name.upper().replace("-", "_")
    for key, val in headers.items():
        if key.lower() == lowered or key == wsgi:
            return str(val)
    return ""
