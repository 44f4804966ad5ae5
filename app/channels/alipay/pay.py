"""Alipay open platform (RSA2, wap pay for H5 inside Alipay) on top of ``python-alipay-sdk``.

Alipay speaks yuan strings; everything crossing this module's border is integer fen, converted
with ``app.channels.money`` (string arithmetic, never float). The SDK's traps handled here:
``verify()`` wants a flat dict with ``sign`` removed, and its wap pay sends the wrong
``product_code`` (``QUICK_WAP_PAY``) unless ``QUICK_WAP_WAY`` is passed explicitly.
"""

from __future__ import annotations

import base64
import csv
import io
import zipfile
from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.parse import parse_qsl

import requests
from alipay import AliPay
from alipay.exceptions import AliPayException, AliPayValidationError
from alipay.utils import AliPayConfig
from Cryptodome.PublicKey import RSA

from app.channels.base import (
    CHINA_TZ,
    BillRow,
    ChannelError,
    ChannelUnavailable,
    NotificationIgnored,
    NotificationRejected,
    OrderAlreadyPaid,
    PaymentChannel,
    PaymentNotification,
    PaymentStart,
    PaymentState,
    PaymentStatus,
    RefundNotification,
    RefundResult,
)
from app.channels.money import fen_to_yuan, yuan_to_fen

LIVE_GATEWAY = "https://openapi.alipay.com/gateway.do"
WAP_PRODUCT_CODE = "QUICK_WAP_WAY"
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"

_TRADE_STATES: dict[str, PaymentState] = {
    "WAIT_BUYER_PAY": "unpaid",
    "TRADE_SUCCESS": "paid",
    "TRADE_FINISHED": "paid",
    "TRADE_CLOSED": "closed",
}
_RETRYABLE = {"20000", "20001"}
_RETRYABLE_SUB = {"ACQ.SYSTEM_ERROR", "isp.unknow-error", "aop.ACQ.SYSTEM_ERROR"}


def alipay_key_pem(text: str, private: bool) -> str:
    """Accept a PEM file or the bare base64 string Alipay's key tool produces."""
    if "-----BEGIN" in text:
        return text
    key = RSA.import_key(base64.b64decode("".join(text.split())))
    if private:
        return key.export_key("PEM", pkcs=8).decode()
    return key.public_key().export_key("PEM").decode()


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    # notifications carry milliseconds on gmt_refund ("2015-04-28 15:45:57.320")
    return datetime.strptime(value[:19], TIME_FORMAT).replace(tzinfo=CHINA_TZ)


class AlipayChannel(PaymentChannel):
    """Alipay wap pay for the H5 pages opened inside Alipay (RSA2 public-key mode)."""

    name = "alipay"

    def __init__(
        self,
        *,
        app_id: str,
        app_private_key: str,
        alipay_public_key: str,
        seller_id: str | None = None,
        gateway: str = LIVE_GATEWAY,
        timeout: float = 15.0,
    ) -> None:
        self.app_id = str(app_id)
        self.seller_id = seller_id
        self.gateway = gateway
        self.timeout = timeout
        self.client = AliPay(
            appid=self.app_id,
            app_private_key_string=alipay_key_pem(app_private_key, private=True),
            alipay_public_key_string=alipay_key_pem(alipay_public_key, private=False),
            sign_type="RSA2",
            config=AliPayConfig(timeout=int(timeout)),
        )
        # The SDK picks production or its own sandbox; point it at the configured gateway.
        self.client._gateway = gateway

    # -- plumbing -----------------------------------------------------------------------

    def _call(self, fn: Callable[..., dict[str, Any]], *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Run one SDK call; return the verified response, raising typed errors."""
        try:
            data = fn(*args, **kwargs)
        except (URLError, HTTPError, TimeoutError, OSError) as exc:
            raise ChannelUnavailable("NETWORK", str(exc)) from exc
        except AliPayValidationError as exc:
            raise ChannelError("RESPONSE_SIGNATURE_INVALID", "response signature did not verify") from exc
        except AliPayException as exc:
            raise ChannelError("ALIPAY_ERROR", str(exc)) from exc
        except ValueError as exc:  # unparseable response
            raise ChannelUnavailable("BAD_RESPONSE", str(exc)) from exc
        if str(data.get("code")) in _RETRYABLE or data.get("sub_code") in _RETRYABLE_SUB:
            raise ChannelUnavailable(str(data.get("sub_code") or data.get("code")), str(data.get("sub_msg", "")), data)
        return data

    @staticmethod
    def _raise_for(data: Mapping[str, Any]) -> None:
        if str(data.get("code")) != "10000":
            code = str(data.get("sub_code") or data.get("code") or "UNKNOWN")
            raise ChannelError(code, str(data.get("sub_msg") or data.get("msg") or ""), dict(data))

    # -- payments -----------------------------------------------------------------------

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
        """Build the signed wap cashier URL (no HTTP call: Alipay opens the trade on visit).

        ``expire_at`` becomes ``time_expire`` so that an old cashier link cannot be paid after
        the order's deadline, even when the trade was never opened and so cannot be closed.
        """
        extra: dict[str, Any] = {"product_code": WAP_PRODUCT_CODE}
        if expire_at is not None:
            extra["time_expire"] = expire_at.astimezone(CHINA_TZ).strftime(TIME_FORMAT)
        if return_url:
            extra["quit_url"] = return_url
        query = self.client.api_alipay_trade_wap_pay(
            subject=description,
            out_trade_no=order_no,
            total_amount=fen_to_yuan(_positive_fen(amount_fen)),
            return_url=return_url,
            notify_url=notify_url,
            **extra,
        )
        url = f"{self.gateway}?{query}"
        return PaymentStart(channel=self.name, order_no=order_no, redirect_url=url, raw={"url": url})

    def query_payment(self, order_no: str) -> PaymentStatus:
        """alipay.trade.query; a trade Alipay never opened is ``unpaid``."""
        data = self._call(self.client.api_alipay_trade_query, out_trade_no=order_no)
        if data.get("sub_code") == "ACQ.TRADE_NOT_EXIST":
            return PaymentStatus(order_no, None, "unpaid", None, None, data)
        self._raise_for(data)
        trade_status = str(data.get("trade_status", ""))
        state = _TRADE_STATES.get(trade_status)
        if state is None:
            raise ChannelError("UNKNOWN_STATE", trade_status, data)
        paid_at = _parse_time(data.get("send_pay_date"))
        if state == "closed" and paid_at is not None:
            state = "refunded"  # TRADE_CLOSED after payment means fully refunded
        return PaymentStatus(
            order_no=data.get("out_trade_no", order_no),
            trade_no=data.get("trade_no"),
            state=state,
            amount_fen=yuan_to_fen(data["total_amount"]) if data.get("total_amount") else None,
            paid_at=paid_at,
            raw=data,
        )

    def close_payment(self, order_no: str) -> None:
        """alipay.trade.close; a never-opened or already-closed trade counts as closed."""
        data = self._call(self.client.api_alipay_trade_close, out_trade_no=order_no)
        if str(data.get("code")) == "10000" or data.get("sub_code") == "ACQ.TRADE_NOT_EXIST":
            return
        if data.get("sub_code") == "ACQ.TRADE_STATUS_ERROR":
            status = self.query_payment(order_no)
            if status.state == "closed":
                return
            if status.state in ("paid", "refunded"):
                raise OrderAlreadyPaid("ORDER_PAID", "the trade was paid", data)
        self._raise_for(data)

    # -- refunds ------------------------------------------------------------------------

    def refund(
        self,
        order_no: str,
        refund_no: str,
        refund_fen: int,
        total_fen: int,
        reason: str,
        notify_url: str | None = None,
    ) -> RefundResult:
        """alipay.trade.refund with ``out_request_no``; a repeat of the same number answers
        ``fund_change=N``, so the outcome is then read back with a refund query."""
        if _positive_fen(refund_fen) > _positive_fen(total_fen):
            raise ChannelError("PARAM_ERROR", "refund exceeds the order total")
        data = self._call(
            self.client.api_alipay_trade_refund,
            refund_amount=fen_to_yuan(refund_fen),
            out_trade_no=order_no,
            out_request_no=refund_no,
            refund_reason=reason,
        )
        self._raise_for(data)
        if data.get("fund_change") == "Y":
            return RefundResult(
                refund_no=refund_no,
                state="succeeded",
                channel_refund_no=data.get("trade_no"),
                raw=data,
                refund_fen=refund_fen,
                succeeded_at=_parse_time(data.get("gmt_refund_pay")),
            )
        return self.query_refund(order_no, refund_no)

    def query_refund(self, order_no: str, refund_no: str) -> RefundResult:
        """alipay.trade.fastpay.refund.query; no data back means the refund did not happen."""
        data = self._call(
            self.client.server_api,
            "alipay.trade.fastpay.refund.query",
            {"out_trade_no": order_no, "out_request_no": refund_no, "query_options": ["gmt_refund_pay"]},
        )
        self._raise_for(data)
        if not data.get("refund_amount"):
            return RefundResult(refund_no, "not_found", None, data)
        status = data.get("refund_status")
        return RefundResult(
            refund_no=refund_no,
            state="succeeded" if status in (None, "", "REFUND_SUCCESS") else "processing",
            channel_refund_no=data.get("trade_no"),
            raw=data,
            refund_fen=yuan_to_fen(data["refund_amount"]),
            succeeded_at=_parse_time(data.get("gmt_refund_pay")),
        )

    # -- notifications ------------------------------------------------------------------

    def _verified_params(self, body: bytes) -> dict[str, str]:
        try:
            pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=True)
        except (UnicodeDecodeError, ValueError) as exc:
            raise NotificationRejected("MALFORMED", str(exc)) from exc
        params = dict(pairs)
        if len(params) != len(pairs):
            raise NotificationRejected("MALFORMED", "duplicate parameters")
        sign = params.pop("sign", "")
        if not sign:
            raise NotificationRejected("MISSING_SIGNATURE", "no sign parameter")
        if params.get("sign_type", "RSA2") != "RSA2":
            raise NotificationRejected("BAD_SIGN_TYPE", str(params.get("sign_type")))
        try:
            verified = self.client.verify(dict(params), sign)
        except Exception as exc:  # bad base64, wrong key size, ...
            raise NotificationRejected("SIGNATURE_INVALID", str(exc)) from exc
        if not verified:
            raise NotificationRejected("SIGNATURE_INVALID", "RSA2 signature did not verify")
        if params.get("app_id") != self.app_id:
            raise NotificationRejected("FOREIGN_APPID", f"app_id {params.get('app_id')!r}")
        if self.seller_id and params.get("seller_id") != self.seller_id:
            raise NotificationRejected("FOREIGN_SELLER", f"seller_id {params.get('seller_id')!r}")
        if params.get("notify_type") != "trade_status_sync":
            raise NotificationIgnored("UNEXPECTED_EVENT", str(params.get("notify_type")), params)
        return params

    @staticmethod
    def _is_refund(params: Mapping[str, str]) -> bool:
        return bool(params.get("out_biz_no") or params.get("gmt_refund") or params.get("refund_fee"))

    def parse_payment_notification(
        self, headers: Mapping[str, str], body: bytes
    ) -> PaymentNotification:
        """Verify RSA2, app_id and seller_id of a ``TRADE_SUCCESS``/``TRADE_FINISHED`` notice."""
        params = self._verified_params(body)
        if self._is_refund(params):
            raise NotificationIgnored("REFUND_EVENT", "a refund notification", params)
        return self._payment_from(params)

    def parse_refund_notification(
        self, headers: Mapping[str, str], body: bytes
    ) -> RefundNotification:
        """Verify a refund notice (``out_biz_no`` = our refund number, ``refund_fee`` = total refunded)."""
        params = self._verified_params(body)
        if not self._is_refund(params):
            raise NotificationIgnored("NOT_REFUND", "not a refund notification", params)
        return self._refund_from(params)

    def parse_notification(
        self, headers: Mapping[str, str], body: bytes
    ) -> PaymentNotification | RefundNotification:
        """Verify any notice; Alipay posts payments and refunds to the same ``notify_url``."""
        params = self._verified_params(body)
        return self._refund_from(params) if self._is_refund(params) else self._payment_from(params)

    @staticmethod
    def _payment_from(params: dict[str, str]) -> PaymentNotification:
        if params.get("trade_status") not in ("TRADE_SUCCESS", "TRADE_FINISHED"):
            raise NotificationIgnored("NOT_PAID", str(params.get("trade_status")), params)
        try:
            amount = yuan_to_fen(params["total_amount"])
            order_no, trade_no = params["out_trade_no"], params["trade_no"]
        except (KeyError, ValueError) as exc:
            raise NotificationRejected("INVALID", f"incomplete notification: {exc}") from exc
        return PaymentNotification(
            order_no=order_no,
            trade_no=trade_no,
            amount_fen=amount,
            paid_at=_parse_time(params.get("gmt_payment")),
            app_id=params["app_id"],
            mch_id=params.get("seller_id", ""),
            raw=params,
            notification_id=params.get("notify_id"),
        )

    @staticmethod
    def _refund_from(params: dict[str, str]) -> RefundNotification:
        try:
            total = yuan_to_fen(params["refund_fee"]) if params.get("refund_fee") else None
            order_no, refund_no = params["out_trade_no"], params["out_biz_no"]
        except (KeyError, ValueError) as exc:
            raise NotificationRejected("INVALID", f"incomplete notification: {exc}") from exc
        return RefundNotification(
            order_no=order_no,
            refund_no=refund_no,
            channel_refund_no=params.get("trade_no"),
            state="succeeded",
            refund_fen=None,
            refunded_total_fen=total,
            succeeded_at=_parse_time(params.get("gmt_refund")),
            app_id=params["app_id"],
            mch_id=params.get("seller_id", ""),
            raw=params,
            notification_id=params.get("notify_id"),
        )

    def notification_ack(self, ok: bool, message: str = "") -> tuple[str, int, str]:
        """Alipay stops retrying only on the exact body ``success``."""
        if ok:
            return "success", 200, "text/plain"
        return "fail", 400, "text/plain"

    # -- reconciliation -----------------------------------------------------------------

    def download_bill(self, bill_date: date) -> list[BillRow]:
        """Ask for the day's trade bill URL, download the zip and parse the detail CSV (GBK)."""
        data = self._call(
            self.client.server_api,
            "alipay.data.dataservice.bill.downloadurl.query",
            {"bill_type": "trade", "bill_date": bill_date.isoformat()},
        )
        if data.get("sub_code") == "isp.bill_not_exist":
            return []
        self._raise_for(data)
        try:
            response = requests.get(data["bill_download_url"], timeout=self.timeout)
        except requests.RequestException as exc:
            raise ChannelUnavailable("NETWORK", str(exc)) from exc
        if response.status_code != 200:
            raise ChannelUnavailable(f"HTTP_{response.status_code}", "bill download failed")
        return parse_trade_bill_zip(response.content)


def parse_trade_bill_zip(content: bytes) -> list[BillRow]:
    """Parse the detail CSV of an Alipay trade bill zip.

    Member names are GBK without the UTF-8 flag in real bills, so the detail file is found by
    its header row, not by name.
    """
    rows: list[BillRow] = []
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        for member in archive.namelist():
            text = archive.read(member).decode("gbk", "replace")
            rows.extend(parse_trade_bill_csv(text))
    return rows


def parse_trade_bill_csv(text: str) -> list[BillRow]:
    """Rows of one Alipay detail CSV (``#`` lines are comments; the summary file yields none)."""
    rows: list[BillRow] = []
    columns: list[str] | None = None
    for record in csv.reader(io.StringIO(text)):
        if not record or record[0].startswith("#"):
            continue
        cells = [c.strip() for c in record]
        if columns is None:
            if "支付宝交易号" in cells and "商户订单号" in cells:
                columns = cells
            continue
        item = dict(zip(columns, cells, strict=False))
        kind = item.get("业务类型", "")
        amount = abs(yuan_to_fen(item.get("订单金额（元）") or "0"))
        at = _parse_time(item.get("完成时间") or item.get("创建时间"))
        if kind == "交易":
            rows.append(BillRow(item["商户订单号"], item["支付宝交易号"], "payment", amount, None, at))
        elif kind == "退款":
            refund_no = item.get("退款批次号/请求号") or None
            rows.append(BillRow(item["商户订单号"], item["支付宝交易号"], "refund", amount, refund_no, at))
    return rows


def _positive_fen(amount: int) -> int:
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise ChannelError("PARAM_ERROR", f"amount must be a positive integer of fen: {amount!r}")
    return amount
