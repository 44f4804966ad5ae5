"""WeChat Pay API v3 (JSAPI, direct merchant) on top of ``wechatpayv3``.

The SDK signs requests, verifies response signatures and decrypts notifications; this adapter
adds what it leaves out (see issue 3, "known traps"): ``callback()`` returning ``None`` on a
bad signature, no timestamp check, no hash check of downloaded bills, and a gateway host that
cannot be configured.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import requests
from wechatpayv3 import WeChatPay, WeChatPayType
from wechatpayv3.core import Core

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
    RefundState,
    header,
)
from app.channels.money import yuan_to_fen

LIVE_GATEWAY = "https://api.mch.weixin.qq.com"
NOTIFICATION_HEADERS = (
    "Wechatpay-Signature",
    "Wechatpay-Timestamp",
    "Wechatpay-Nonce",
    "Wechatpay-Serial",
    "Wechatpay-Signature-Type",
)

_TRADE_STATES: dict[str, PaymentState] = {
    "SUCCESS": "paid",
    "REFUND": "refunded",
    "NOTPAY": "unpaid",
    "USERPAYING": "unpaid",
    "CLOSED": "closed",
    "REVOKED": "closed",
    "PAYERROR": "closed",
}
_REFUND_STATES: dict[str, RefundState] = {
    "SUCCESS": "succeeded",
    "PROCESSING": "processing",
    "CLOSED": "failed",
    "ABNORMAL": "abnormal",  # 退款异常: the card was cancelled; handled at the merchant platform, not final
}


class _GatewayCore(Core):
    """``wechatpayv3.core.Core`` talking to a configurable host (the SDK hard-wires production)."""

    def __init__(self, gateway: str, **kwargs: Any) -> None:
        self._configured_gateway = gateway.rstrip("/")
        super().__init__(**kwargs)

    @property
    def _gate_way(self) -> str:  # type: ignore[override]
        return self._configured_gateway

    @_gate_way.setter
    def _gate_way(self, _value: str) -> None:
        # Core.__init__ assigns the production host; the configured one wins.
        pass


class _GatewayWeChatPay(WeChatPay):
    """``WeChatPay`` bound to a ``_GatewayCore``.

    ``WeChatPay.__init__`` is not called on purpose: it would build a Core for the production
    host and, in platform-certificate mode, download certificates from it straight away. The
    attributes set here are the ones its API methods read (checked against wechatpayv3 2.0.4).
    """

    def __init__(self, *, gateway: str, mchid: str, appid: str, **core_kwargs: Any) -> None:
        self._type = WeChatPayType.JSAPI
        self._mchid = mchid
        self._appid = appid
        self._notify_url = None
        self._partner_mode = False
        self._core = _GatewayCore(gateway, mchid=mchid, **core_kwargs)


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value)


class WechatPayChannel(PaymentChannel):
    """WeChat Pay v3 JSAPI for the H5 pages opened inside WeChat.

    Give ``public_key``/``public_key_id`` (WeChat Pay public key mode), or neither to use
    platform certificates, downloaded on first use into ``cert_dir``; with a public key set,
    notifications signed by a platform certificate still verify (accounts mid-migration).
    """

    name = "wechat"

    def __init__(
        self,
        *,
        appid: str,
        mchid: str,
        private_key: str,
        cert_serial_no: str,
        apiv3_key: str,
        public_key: str | None = None,
        public_key_id: str | None = None,
        cert_dir: str | None = None,
        gateway: str = LIVE_GATEWAY,
        refund_notify_url: str | None = None,
        sandbox_cashier_url: str | None = None,
        timeout: tuple[float, float] = (5.0, 15.0),
        max_clock_skew: timedelta = timedelta(minutes=5),
        clock: Callable[[], float] = time.time,
    ) -> None:
        if (public_key is None) != (public_key_id is None):
            raise ValueError("give both public_key and public_key_id, or neither")
        self.appid = appid
        self.mchid = mchid
        self.gateway = gateway.rstrip("/")
        self.refund_notify_url = refund_notify_url
        self.sandbox_cashier_url = sandbox_cashier_url
        self.max_clock_skew = max_clock_skew
        self._clock = clock
        self._client_kwargs: dict[str, Any] = {
            "gateway": self.gateway,
            "mchid": mchid,
            "appid": appid,
            "private_key": private_key,
            "cert_serial_no": cert_serial_no,
            "apiv3_key": apiv3_key,
            "cert_dir": cert_dir,
            "logger": None,
            "proxy": None,
            "timeout": timeout,
            "public_key": public_key,
            "public_key_id": public_key_id,
        }
        self._client: _GatewayWeChatPay | None = None
        self._client_lock = threading.Lock()

    # -- plumbing -----------------------------------------------------------------------

    @property
    def client(self) -> _GatewayWeChatPay:
        """The SDK client, built on first use: in certificate mode building it downloads the
        platform certificates, which must not happen while the app itself is still starting."""
        if self._client is None:
            with self._client_lock:
                if self._client is None:
                    try:
                        self._client = _GatewayWeChatPay(**self._client_kwargs)
                    except requests.RequestException as exc:
                        raise ChannelUnavailable("NETWORK", str(exc)) from exc
                    except Exception as exc:  # the SDK raises bare Exception
                        raise ChannelUnavailable("CERTIFICATES", str(exc)) from exc
        return self._client

    def _call(self, fn: Callable[..., tuple[int, Any]], *args: Any, **kwargs: Any) -> tuple[int, Any]:
        try:
            code, body = fn(*args, **kwargs)
        except requests.RequestException as exc:
            raise ChannelUnavailable("NETWORK", str(exc)) from exc
        except ChannelError:
            raise
        except Exception as exc:
            if "verify the signature" in str(exc):
                raise ChannelError("RESPONSE_SIGNATURE_INVALID", str(exc)) from exc
            raise ChannelError("SDK_ERROR", str(exc)) from exc
        if code >= 500:
            raise ChannelUnavailable(*_error(body, code))
        return code, body

    def _ok_json(self, code: int, body: Any) -> dict[str, Any]:
        if 200 <= code < 300:
            return json.loads(body) if body else {}
        raise ChannelError(*_error(body, code))

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
        """JSAPI prepay; returns the parameters signed for ``getBrandWCPayRequest``."""
        _check_fen(amount_fen)
        if not payer_id:
            raise ChannelError("PARAM_ERROR", "JSAPI needs the payer's openid")
        kwargs: dict[str, Any] = {
            "description": description,
            "out_trade_no": order_no,
            "amount": {"total": amount_fen, "currency": "CNY"},
            "payer": {"openid": payer_id},
            "notify_url": notify_url,
            "pay_type": WeChatPayType.JSAPI,
        }
        if expire_at is not None:
            kwargs["time_expire"] = expire_at.astimezone(CHINA_TZ).isoformat(timespec="seconds")
        data = self._ok_json(*self._call(self.client.pay, **kwargs))
        prepay_id = data["prepay_id"]
        params = self.jsapi_params(prepay_id)
        cashier = None
        if self.sandbox_cashier_url:
            query = dict(params, return_url=return_url or "")
            cashier = f"{self.sandbox_cashier_url}?{urlencode(query)}"
        return PaymentStart(
            channel=self.name,
            order_no=order_no,
            jsapi_params=params,
            sandbox_cashier_url=cashier,
            raw=data,
        )

    def jsapi_params(self, prepay_id: str) -> dict[str, str]:
        """The ``WeixinJSBridge`` parameters for a prepay id, signed with the merchant key."""
        timestamp = str(int(self._clock()))
        nonce = secrets.token_hex(16)
        package = f"prepay_id={prepay_id}"
        pay_sign = self.client.sign([self.appid, timestamp, nonce, package])
        return {
            "appId": self.appid,
            "timeStamp": timestamp,
            "nonceStr": nonce,
            "package": package,
            "signType": "RSA",
            "paySign": pay_sign,
        }

    def query_payment(self, order_no: str) -> PaymentStatus:
        """Query by our order number; an order WeChat never saw is ``unpaid``."""
        code, body = self._call(self.client.query, out_trade_no=order_no)
        if code == 404:
            return PaymentStatus(order_no, None, "unpaid", None, None, _json_or_text(body))
        data = self._ok_json(code, body)
        state = _TRADE_STATES.get(data.get("trade_state", ""))
        if state is None:
            raise ChannelError("UNKNOWN_STATE", str(data.get("trade_state")), data)
        amount = data.get("amount") or {}
        return PaymentStatus(
            order_no=data.get("out_trade_no", order_no),
            trade_no=data.get("transaction_id"),
            state=state,
            amount_fen=amount.get("total"),
            paid_at=_parse_time(data.get("success_time")),
            raw=data,
        )

    def close_payment(self, order_no: str) -> None:
        """Close an unpaid order; raises OrderAlreadyPaid if the patient paid meanwhile."""
        code, body = self._call(self.client.close, out_trade_no=order_no)
        if 200 <= code < 300:
            return
        err_code, message = _error(body, code)
        if err_code in ("ORDERPAID", "ORDER_PAID"):
            raise OrderAlreadyPaid(err_code, message, _json_or_text(body))
        if err_code in ("ORDER_CLOSED", "ORDER_NOT_EXIST"):
            return  # closed already, or never opened: nobody can pay it
        raise ChannelError(err_code, message, _json_or_text(body))

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
        """Apply for a refund; WeChat answers PROCESSING and finishes asynchronously."""
        _check_fen(refund_fen)
        _check_fen(total_fen)
        if refund_fen > total_fen:
            raise ChannelError("PARAM_ERROR", "refund exceeds the order total")
        kwargs: dict[str, Any] = {
            "out_refund_no": refund_no,
            "amount": {"refund": refund_fen, "total": total_fen, "currency": "CNY"},
            "out_trade_no": order_no,
            "reason": reason[:80] if reason else None,
        }
        url = notify_url or self.refund_notify_url
        if url:
            kwargs["notify_url"] = url
        data = self._ok_json(*self._call(self.client.refund, **kwargs))
        return _refund_result(data, refund_no)

    def query_refund(self, order_no: str, refund_no: str) -> RefundResult:
        """Query one refund; one WeChat does not know of is ``not_found`` (safe to send again)."""
        code, body = self._call(self.client.query_refund, out_refund_no=refund_no)
        if code == 404:
            return RefundResult(refund_no, "not_found", None, _json_or_text(body))
        return _refund_result(self._ok_json(code, body), refund_no)

    # -- notifications ------------------------------------------------------------------

    def _verified_callback(self, headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
        canonical = {name: header(headers, name) for name in NOTIFICATION_HEADERS}
        try:
            timestamp = int(canonical["Wechatpay-Timestamp"])
        except ValueError:
            raise NotificationRejected("BAD_TIMESTAMP", "missing or malformed timestamp") from None
        if abs(self._clock() - timestamp) > self.max_clock_skew.total_seconds():
            raise NotificationRejected("STALE_TIMESTAMP", f"timestamp {timestamp} out of window")
        if not canonical["Wechatpay-Signature"] or not canonical["Wechatpay-Serial"]:
            raise NotificationRejected("MISSING_SIGNATURE", "no signature headers")
        try:
            result = self.client.callback(canonical, body)
        except ChannelError:
            raise
        except requests.RequestException as exc:  # an unknown serial made it fetch certificates
            raise ChannelUnavailable("NETWORK", str(exc)) from exc
        except Exception as exc:  # malformed JSON, unknown algorithm, bad serial, ...
            raise NotificationRejected("INVALID", str(exc)) from exc
        if not result:
            raise NotificationRejected("SIGNATURE_INVALID", "signature or decryption failed")
        resource = result.get("resource")
        if not isinstance(resource, dict):
            raise NotificationRejected("INVALID", "no decrypted resource")
        if resource.get("mchid") != self.mchid:
            raise NotificationRejected("FOREIGN_MCHID", f"mchid {resource.get('mchid')!r}")
        return result

    def parse_payment_notification(
        self, headers: Mapping[str, str], body: bytes
    ) -> PaymentNotification:
        """Verify signature, timestamp, decryption, appid and mchid of a payment notification."""
        result = self._verified_callback(headers, body)
        if result.get("event_type") != "TRANSACTION.SUCCESS":
            raise NotificationIgnored("UNEXPECTED_EVENT", str(result.get("event_type")), result)
        return self._payment_from(result)

    def parse_refund_notification(
        self, headers: Mapping[str, str], body: bytes
    ) -> RefundNotification:
        """Verify a REFUND.* notification (it carries mchid but no appid)."""
        result = self._verified_callback(headers, body)
        if not str(result.get("event_type", "")).startswith("REFUND."):
            raise NotificationIgnored("UNEXPECTED_EVENT", str(result.get("event_type")), result)
        return self._refund_from(result)

    def parse_notification(
        self, headers: Mapping[str, str], body: bytes
    ) -> PaymentNotification | RefundNotification:
        """Verify any notification; dispatch on ``event_type``."""
        result = self._verified_callback(headers, body)
        event_type = str(result.get("event_type", ""))
        if event_type == "TRANSACTION.SUCCESS":
            return self._payment_from(result)
        if event_type.startswith("REFUND."):
            return self._refund_from(result)
        raise NotificationIgnored("UNEXPECTED_EVENT", event_type, result)

    def _payment_from(self, result: dict[str, Any]) -> PaymentNotification:
        resource = result["resource"]
        if resource.get("appid") != self.appid:
            raise NotificationRejected("FOREIGN_APPID", f"appid {resource.get('appid')!r}")
        if resource.get("trade_state") != "SUCCESS":
            raise NotificationIgnored("NOT_PAID", str(resource.get("trade_state")), result)
        try:
            amount = int(resource["amount"]["total"])
            order_no = str(resource["out_trade_no"])
            trade_no = str(resource["transaction_id"])
        except (KeyError, TypeError, ValueError) as exc:
            raise NotificationRejected("INVALID", f"incomplete resource: {exc}") from exc
        return PaymentNotification(
            order_no=order_no,
            trade_no=trade_no,
            amount_fen=amount,
            paid_at=_parse_time(resource.get("success_time")),
            app_id=resource["appid"],
            mch_id=resource["mchid"],
            raw=result,
            notification_id=result.get("id"),
        )

    def _refund_from(self, result: dict[str, Any]) -> RefundNotification:
        resource = result["resource"]
        state = _REFUND_STATES.get(resource.get("refund_status", ""))
        if state is None:
            raise NotificationRejected("INVALID", f"refund_status {resource.get('refund_status')!r}")
        try:
            order_no = str(resource["out_trade_no"])
            refund_no = str(resource["out_refund_no"])
            refund_fen = int(resource["amount"]["refund"])
        except (KeyError, TypeError, ValueError) as exc:
            raise NotificationRejected("INVALID", f"incomplete resource: {exc}") from exc
        return RefundNotification(
            order_no=order_no,
            refund_no=refund_no,
            channel_refund_no=resource.get("refund_id"),
            state=state,
            refund_fen=refund_fen,
            refunded_total_fen=None,
            succeeded_at=_parse_time(resource.get("success_time")),
            app_id=None,
            mch_id=resource["mchid"],
            raw=result,
            notification_id=result.get("id"),
        )

    def notification_ack(self, ok: bool, message: str = "") -> tuple[str, int, str]:
        """204 with no body on success; otherwise 4xx with ``{"code":"FAIL",...}`` (WeChat retries)."""
        if ok:
            return "", 204, "text/plain"
        body = json.dumps({"code": "FAIL", "message": message or "失败"}, ensure_ascii=False)
        return body, 400, "application/json"

    # -- reconciliation -----------------------------------------------------------------

    def download_bill(self, bill_date: date) -> list[BillRow]:
        """Download the day's ALL trade bill, check its SHA1 and parse it."""
        code, body = self._call(self.client.trade_bill, bill_date=bill_date.isoformat())
        if code == 400 and _error(body, code)[0] in ("NO_STATEMENT_EXIST", "NO_DATA"):
            return []
        meta = self._ok_json(code, body)
        url = meta["download_url"]
        path = url[url.index("/v3/"):] if "/v3/" in url else url
        code, content = self._call(self.client._core.request, path, skip_verify=True)
        if not 200 <= code < 300:
            raise ChannelError(*_error(content, code))
        raw = content.encode("utf-8") if isinstance(content, str) else content
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        hash_type = str(meta.get("hash_type", "SHA1")).upper()
        digest = hashlib.new(hash_type.lower().replace("-", ""), raw).hexdigest()
        if digest.lower() != str(meta.get("hash_value", "")).lower():
            raise ChannelError("BILL_HASH_MISMATCH", f"{hash_type} {digest} != {meta.get('hash_value')}")
        return parse_trade_bill(raw.decode("utf-8-sig"))


def parse_trade_bill(text: str) -> list[BillRow]:
    """Parse a WeChat Pay ALL trade bill (every field prefixed with a backtick)."""
    rows: list[BillRow] = []
    reader = csv.reader(io.StringIO(text))
    columns: list[str] | None = None
    for record in reader:
        if not record:
            continue
        if columns is None:
            columns = [c.strip() for c in record]
            continue
        if record[0].startswith("总交易单数"):
            break
        item = dict(zip(columns, (v.strip().lstrip("`") for v in record), strict=False))
        status = item.get("交易状态", "")
        at = datetime.strptime(item["交易时间"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=CHINA_TZ)
        if status == "SUCCESS":
            amount = item.get("订单金额") or item["应结订单金额"]
            rows.append(
                BillRow(item["商户订单号"], item["微信订单号"], "payment", yuan_to_fen(amount), None, at)
            )
        elif status == "REFUND":
            amount = item.get("申请退款金额") or item["退款金额"]
            rows.append(
                BillRow(
                    item["商户订单号"],
                    item["微信订单号"],
                    "refund",
                    yuan_to_fen(amount),
                    item.get("商户退款单号") or None,
                    at,
                )
            )
    return rows


def _check_fen(amount: int) -> None:
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise ChannelError("PARAM_ERROR", f"amount must be a positive integer of fen: {amount!r}")


def _json_or_text(body: Any) -> dict[str, Any]:
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    try:
        data = json.loads(body) if body else {}
    except (TypeError, ValueError):
        return {"text": str(body)}
    return data if isinstance(data, dict) else {"data": data}


def _error(body: Any, status: int) -> tuple[str, str]:
    data = _json_or_text(body)
    return str(data.get("code") or f"HTTP_{status}"), str(data.get("message") or data.get("text") or "")


def _refund_result(data: dict[str, Any], refund_no: str) -> RefundResult:
    state = _REFUND_STATES.get(data.get("status", ""), "processing")
    amount = data.get("amount") or {}
    return RefundResult(
        refund_no=data.get("out_refund_no", refund_no),
        state=state,
        channel_refund_no=data.get("refund_id"),
        raw=data,
        refund_fen=amount.get("refund"),
        succeeded_at=_parse_time(data.get("success_time")),
    )
