"""A local double of WeChat Pay API v3 (JSAPI, direct merchant) and of the WeChat cashier.

Implements what ``WechatPayChannel`` calls: platform certificates, JSAPI prepay, query, close,
refund, refund query, trade bill and bill download. Requests must carry a valid merchant
``Authorization``; responses carry ``Wechatpay-*`` signature headers; notifications carry an
AES-256-GCM encrypted resource, exactly as wechatpayv3 expects.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import secrets
import time
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from flask import Blueprint, Response, redirect, render_template, request, url_for

from app import clock
from app.channels.money import fen_to_yuan
from doubles.channels.core import DeliveryResult, SandboxRefusal, now_cn
from doubles.channels.signing import (
    rsa_sha256_verify,
    wechat_encrypt,
    wechat_notification_body,
    wechat_signed_headers,
    wechat_verify_authorization,
)

if TYPE_CHECKING:
    from sqlite3 import Row

    from doubles.channels.core import KnownTrade, PaymentSandbox

TRADE_STATE_DESC = {
    "NOTPAY": "订单未支付",
    "SUCCESS": "支付成功",
    "REFUND": "转入退款",
    "CLOSED": "已关闭",
}
BILL_COLUMNS = (
    "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,"
    "货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,"
    "商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注"
)
PREPAY_LIFETIME = timedelta(hours=2)


def _digits(n: int) -> str:
    return "".join(secrets.choice("0123456789") for _ in range(n))


def transaction_json(row: Row) -> dict[str, Any]:
    """The transaction object of the v3 query API (and of the payment notification)."""
    data: dict[str, Any] = {
        "appid": row["appid"],
        "mchid": row["mchid"],
        "out_trade_no": row["out_trade_no"],
        "trade_type": "JSAPI",
        "trade_state": row["trade_state"],
        "trade_state_desc": TRADE_STATE_DESC.get(row["trade_state"], row["trade_state"]),
        "attach": "",
        "payer": {"openid": row["openid"]},
        "amount": {"total": row["total"], "currency": "CNY"},
    }
    if row["transaction_id"]:
        data["transaction_id"] = row["transaction_id"]
        data["bank_type"] = "OTHERS"
        data["success_time"] = row["success_time"]
        data["amount"].update(payer_total=row["total"], payer_currency="CNY")
    return data


def refund_json(row: Row, transaction_id: str | None) -> dict[str, Any]:
    """The refund object of the v3 refund and refund query APIs."""
    data: dict[str, Any] = {
        "refund_id": row["refund_id"],
        "out_refund_no": row["out_refund_no"],
        "transaction_id": transaction_id,
        "out_trade_no": row["out_trade_no"],
        "channel": "ORIGINAL",
        "user_received_account": "支付用户零钱",
        "create_time": row["create_time"],
        "status": row["status"],
        "funds_account": "AVAILABLE",
        "amount": {
            "total": row["total"],
            "refund": row["refund"],
            "payer_total": row["total"],
            "payer_refund": row["refund"],
            "settlement_total": row["total"],
            "settlement_refund": row["refund"],
            "discount_refund": 0,
            "currency": "CNY",
        },
    }
    if row["success_time"]:
        data["success_time"] = row["success_time"]
    return data


# -- operations (no HTTP) ------------------------------------------------------------------


def confirm(sandbox: PaymentSandbox, order_no: str) -> DeliveryResult | None:
    """The patient confirms: NOTPAY -> SUCCESS once, then the notification is POSTed inline.

    Returns None when the order was already paid (a second tap changes nothing).
    """
    now = now_cn()
    with sandbox.store.transaction() as conn:
        row = conn.execute("SELECT * FROM wx_transactions WHERE out_trade_no = ?", (order_no,)).fetchone()
        if row is None:
            raise SandboxRefusal("订单不存在")
        if row["trade_state"] in ("SUCCESS", "REFUND"):
            return None
        if row["trade_state"] != "NOTPAY":
            raise SandboxRefusal("订单已关闭")
        if row["time_expire"] and datetime.fromisoformat(row["time_expire"]) < clock.now():
            raise SandboxRefusal("订单已过支付截止时间")
        transaction_id = "4200" + now.strftime("%Y%m%d") + _digits(16)
        conn.execute(
            "UPDATE wx_transactions SET trade_state = 'SUCCESS', transaction_id = ?, success_time = ?"
            " WHERE out_trade_no = ? AND trade_state = 'NOTPAY'",
            (transaction_id, now.isoformat(), order_no),
        )
        paid = conn.execute("SELECT * FROM wx_transactions WHERE out_trade_no = ?", (order_no,)).fetchone()
        body = wechat_notification_body(sandbox.keys, "TRANSACTION.SUCCESS", transaction_json(paid), "支付成功")
        nid = sandbox.record_notification(conn, "wechat", "payment", order_no, None, paid["notify_url"], body)
    return sandbox.deliver(nid)


def complete_due_refunds(sandbox: PaymentSandbox, out_refund_no: str | None = None, *,
                         delay_over: bool = False) -> list[int]:
    """Move refunds past their processing delay (by the platform's clock, which tests move) to SUCCESS;
    ``delay_over``: the caller is the timer that waited the delay. Returns the notifications to send."""
    if sandbox.refunds_on_hold:
        return []
    now = now_cn()
    created: list[int] = []
    with sandbox.store.transaction() as conn:
        sql = "SELECT * FROM wx_refunds WHERE status = 'PROCESSING' AND complete_after <= ?"
        args: tuple[Any, ...] = (float("inf") if delay_over else clock.now().timestamp(),)
        if out_refund_no:
            sql += " AND out_refund_no = ?"
            args += (out_refund_no,)
        for row in conn.execute(sql, args).fetchall():
            cur = conn.execute(
                "UPDATE wx_refunds SET status = 'SUCCESS', success_time = ?"
                " WHERE out_refund_no = ? AND status = 'PROCESSING'",
                (now.isoformat(), row["out_refund_no"]),
            )
            if cur.rowcount != 1 or not row["notify_url"]:
                continue
            trade = conn.execute(
                "SELECT transaction_id FROM wx_transactions WHERE out_trade_no = ?", (row["out_trade_no"],)
            ).fetchone()
            resource = {
                "mchid": sandbox.settings.wechat_mchid,
                "out_trade_no": row["out_trade_no"],
                "transaction_id": trade["transaction_id"],
                "out_refund_no": row["out_refund_no"],
                "refund_id": row["refund_id"],
                "refund_status": "SUCCESS",
                "success_time": now.isoformat(),
                "user_received_account": "支付用户零钱",
                "amount": {
                    "total": row["total"],
                    "refund": row["refund"],
                    "payer_total": row["total"],
                    "payer_refund": row["refund"],
                },
            }
            body = wechat_notification_body(sandbox.keys, "REFUND.SUCCESS", resource, "退款成功")
            created.append(
                sandbox.record_notification(
                    conn, "wechat", "refund", row["out_trade_no"], row["out_refund_no"], row["notify_url"], body
                )
            )
    return created


def _refund_notification(sandbox: PaymentSandbox, conn: Any, row: Row, status: str, success_time: str | None) -> int:
    """Record the REFUND.<status> notification of one refund (inside the caller's transaction)."""
    trade = conn.execute(
        "SELECT transaction_id FROM wx_transactions WHERE out_trade_no = ?", (row["out_trade_no"],)
    ).fetchone()
    resource = {
        "mchid": sandbox.settings.wechat_mchid,
        "out_trade_no": row["out_trade_no"],
        "transaction_id": trade["transaction_id"],
        "out_refund_no": row["out_refund_no"],
        "refund_id": row["refund_id"],
        "refund_status": status,
        "user_received_account": "支付用户零钱" if status == "SUCCESS" else "招商银行信用卡0403",
        "amount": {"total": row["total"], "refund": row["refund"], "payer_total": row["total"],
                   "payer_refund": row["refund"]},
    }
    if success_time:
        resource["success_time"] = success_time
    summary = {"SUCCESS": "退款成功", "ABNORMAL": "退款异常", "CLOSED": "退款关闭"}[status]
    body = wechat_notification_body(sandbox.keys, f"REFUND.{status}", resource, summary)
    return sandbox.record_notification(conn, "wechat", "refund", row["out_trade_no"], row["out_refund_no"],
                                       row["notify_url"] or "", body)


def know_paid_trade(sandbox: PaymentSandbox, trade: KnownTrade) -> None:
    """``PaymentSandbox.know_paid_trade``: the transaction (REFUND once a refund reached it) and that refund,
    PROCESSING (completed when asked) or ABNORMAL."""
    settings, now = sandbox.settings, now_cn()
    with sandbox.store.transaction() as conn:
        conn.execute(
            "INSERT OR IGNORE INTO wx_transactions (out_trade_no, appid, mchid, description, total, openid,"
            " notify_url, prepay_id, transaction_id, trade_state, success_time, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, '', ?, ?, ?, ?, ?)",
            (trade.order_no, settings.wechat_appid, settings.wechat_mchid, trade.description, trade.total_fen,
             trade.payer_uid, f"wxknown{trade.order_no}", trade.trade_no, "REFUND" if trade.refund_no else "SUCCESS",
             now.isoformat(), now.timestamp()))
        if trade.refund_no:
            conn.execute(
                "INSERT OR IGNORE INTO wx_refunds (out_refund_no, refund_id, out_trade_no, refund, total, reason,"
                " status, create_time, complete_after) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (trade.refund_no, f"50known{trade.refund_no}", trade.order_no, trade.refund_fen, trade.total_fen,
                 trade.refund_reason, "ABNORMAL" if trade.refund_abnormal else "PROCESSING", now.isoformat(),
                 now.timestamp()))


def make_refund_abnormal(sandbox: PaymentSandbox, out_refund_no: str) -> int | None:
    """The patient's bank card was cancelled: a PROCESSING refund becomes ABNORMAL (退款异常, WeChat's
    "needs handling", not final) and REFUND.ABNORMAL is notified. Returns the notification id."""
    with sandbox.store.transaction() as conn:
        cur = conn.execute("UPDATE wx_refunds SET status = 'ABNORMAL' WHERE out_refund_no = ? AND status = "
                           "'PROCESSING'", (out_refund_no,))
        if cur.rowcount != 1:
            return None
        row = conn.execute("SELECT * FROM wx_refunds WHERE out_refund_no = ?", (out_refund_no,)).fetchone()
        return _refund_notification(sandbox, conn, row, "ABNORMAL", None) if row["notify_url"] else None


def resolve_abnormal_refund(sandbox: PaymentSandbox, out_refund_no: str, status: str = "SUCCESS") -> int | None:
    """The merchant re-sent the abnormal refund to another account (异常退款处理): ABNORMAL -> SUCCESS (or
    CLOSED, the final failure) and the notification of it. Returns the notification id."""
    now = now_cn().isoformat()
    with sandbox.store.transaction() as conn:
        cur = conn.execute("UPDATE wx_refunds SET status = ?, success_time = ? WHERE out_refund_no = ? AND "
                           "status = 'ABNORMAL'", (status, now if status == "SUCCESS" else None, out_refund_no))
        if cur.rowcount != 1:
            return None
        row = conn.execute("SELECT * FROM wx_refunds WHERE out_refund_no = ?", (out_refund_no,)).fetchone()
        return _refund_notification(sandbox, conn, row, status, row["success_time"]) if row["notify_url"] else None


def build_trade_bill(sandbox: PaymentSandbox, bill_date: str) -> str | None:
    """The ALL trade bill text for a day (UTF-8 CSV, backtick-prefixed fields), or None."""
    mchid, appid = sandbox.settings.wechat_mchid, sandbox.settings.wechat_appid
    lines = [BILL_COLUMNS]
    paid_total = refund_total = 0
    count = 0

    def line(values: list[str]) -> str:
        return ",".join("`" + v for v in values)

    for row in sandbox.store.all(
        "SELECT * FROM wx_transactions WHERE success_time LIKE ? ORDER BY success_time", bill_date + "%"
    ):
        at = datetime.fromisoformat(row["success_time"]).strftime("%Y-%m-%d %H:%M:%S")
        yuan = fen_to_yuan(row["total"])
        lines.append(line([
            at, appid, mchid, "0", "", row["transaction_id"], row["out_trade_no"], row["openid"], "JSAPI",
            "SUCCESS", "OTHERS", "CNY", yuan, "0.00", "0", "0", "0.00", "0.00", "", "",
            row["description"], "", "0.00000", "0.60%", yuan, "0.00", "",
        ]))
        paid_total += row["total"]
        count += 1
    for row in sandbox.store.all(
        "SELECT r.*, t.transaction_id, t.openid, t.description FROM wx_refunds r"
        " JOIN wx_transactions t ON t.out_trade_no = r.out_trade_no"
        " WHERE r.status = 'SUCCESS' AND r.success_time LIKE ? ORDER BY r.success_time",
        bill_date + "%",
    ):
        at = datetime.fromisoformat(row["success_time"]).strftime("%Y-%m-%d %H:%M:%S")
        yuan = fen_to_yuan(row["refund"])
        lines.append(line([
            at, appid, mchid, "0", "", row["transaction_id"], row["out_trade_no"], row["openid"], "JSAPI",
            "REFUND", "OTHERS", "CNY", "0.00", "0.00", row["refund_id"], row["out_refund_no"], yuan, "0.00",
            "ORIGINAL", "SUCCESS", row["description"], "", "0.00000", "0.60%", "0.00", yuan, "",
        ]))
        refund_total += row["refund"]
        count += 1
    if count == 0:
        return None
    lines.append("总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额")
    p, r = fen_to_yuan(paid_total), fen_to_yuan(refund_total)
    lines.append(line([str(count), p, r, "0.00", "0.00000", p, r]))
    return "\r\n".join(lines) + "\r\n"


# -- HTTP ----------------------------------------------------------------------------------


def create_blueprint(sandbox: PaymentSandbox, name: str = "payment_sandbox_wechatpay") -> Blueprint:
    """The WeChat Pay gateway double; mount it where ``WechatPayChannel(gateway=...)`` points."""
    bp = Blueprint(name, __name__, template_folder="templates")
    settings, keys, store = sandbox.settings, sandbox.keys, sandbox.store

    def respond(status: int, payload: dict[str, Any] | None = None) -> Response:
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")) if payload is not None else ""
        # Answer in the key the merchant trusts: the public key if it named it, else the certificate.
        signer = "public_key" if request.headers.get("Wechatpay-Serial") == keys.wechat_public_key_id else "certificate"
        headers = wechat_signed_headers(keys, body, signer)
        return Response(body, status=status, headers=headers, content_type="application/json; charset=utf-8")

    def error(status: int, code: str, message: str) -> Response:
        return respond(status, {"code": code, "message": message})

    @bp.before_request
    def authenticate() -> Response | None:
        if "/v3/" not in request.path:
            return None
        signed_path = request.path[request.path.index("/v3/"):]
        if request.query_string:
            signed_path += "?" + request.query_string.decode()
        problem = wechat_verify_authorization(
            keys,
            request.headers.get("Authorization", ""),
            request.method,
            signed_path,
            request.get_data(as_text=True),
            settings.wechat_mchid,
        )
        if problem:
            return error(401, "SIGN_ERROR", f"签名错误: {problem}")
        return None

    def json_body() -> dict[str, Any]:
        data = request.get_json(silent=True)
        return data if isinstance(data, dict) else {}

    @bp.get("/v3/certificates")
    def certificates() -> Response:
        pem = keys.wechat_platform_cert.read_text()
        now = now_cn()
        return respond(200, {"data": [{
            "serial_no": keys.wechat_platform_serial,
            "effective_time": (now - timedelta(days=1)).isoformat(),
            "expire_time": (now + timedelta(days=3650)).isoformat(),
            "encrypt_certificate": wechat_encrypt(keys.wechat_apiv3_key, pem, "certificate"),
        }]})

    @bp.post("/v3/pay/transactions/jsapi")
    def jsapi() -> Response:
        data = json_body()
        amount = data.get("amount") or {}
        total = amount.get("total")
        openid = (data.get("payer") or {}).get("openid")
        if data.get("mchid") != settings.wechat_mchid or data.get("appid") != settings.wechat_appid:
            return error(400, "APPID_MCHID_NOT_MATCH", "appid和mch_id不匹配")
        if not isinstance(total, int) or isinstance(total, bool) or total <= 0:
            return error(400, "PARAM_ERROR", "amount.total 必须为正整数(分)")
        for field, value in (("out_trade_no", data.get("out_trade_no")), ("description", data.get("description")),
                             ("notify_url", data.get("notify_url")), ("payer.openid", openid)):
            if not value:
                return error(400, "PARAM_ERROR", f"缺少参数 {field}")
        if urlsplit(data["notify_url"]).scheme not in ("http", "https"):
            return error(400, "PARAM_ERROR", "notify_url 格式错误")
        order_no = data["out_trade_no"]
        with store.transaction() as conn:
            row = conn.execute("SELECT * FROM wx_transactions WHERE out_trade_no = ?", (order_no,)).fetchone()
            if row is not None:
                if row["trade_state"] in ("SUCCESS", "REFUND"):
                    return error(400, "ORDERPAID", "该订单已支付")
                if row["trade_state"] == "CLOSED":
                    return error(400, "ORDER_CLOSED", "该订单已关闭")
                if row["total"] != total or row["description"] != data["description"]:
                    return error(400, "INVALID_REQUEST", "商户订单号重复, 参数与原订单不一致")
                if time.time() - row["created_at"] < PREPAY_LIFETIME.total_seconds():
                    return respond(200, {"prepay_id": row["prepay_id"]})
                prepay_id = "wx" + now_cn().strftime("%d%H%M%S") + secrets.token_hex(13)
                conn.execute(
                    "UPDATE wx_transactions SET prepay_id = ?, created_at = ? WHERE out_trade_no = ?",
                    (prepay_id, time.time(), order_no),
                )
                return respond(200, {"prepay_id": prepay_id})
            prepay_id = "wx" + now_cn().strftime("%d%H%M%S") + secrets.token_hex(13)
            conn.execute(
                "INSERT INTO wx_transactions (out_trade_no, appid, mchid, description, total, openid, notify_url,"
                " time_expire, prepay_id, trade_state, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'NOTPAY', ?)",
                (order_no, data["appid"], data["mchid"], data["description"], total, openid, data["notify_url"],
                 data.get("time_expire"), prepay_id, time.time()),
            )
        return respond(200, {"prepay_id": prepay_id})

    def find_transaction(column: str, value: str) -> Row | None:
        return store.one(f"SELECT * FROM wx_transactions WHERE {column} = ?", value)

    @bp.get("/v3/pay/transactions/out-trade-no/<order_no>")
    def query_by_order(order_no: str) -> Response:
        if request.args.get("mchid") != settings.wechat_mchid:
            return error(400, "PARAM_ERROR", "mchid 不正确")
        row = find_transaction("out_trade_no", order_no)
        if row is None:
            return error(404, "ORDER_NOT_EXIST", "订单不存在")
        return respond(200, transaction_json(row))

    @bp.get("/v3/pay/transactions/id/<transaction_id>")
    def query_by_id(transaction_id: str) -> Response:
        row = find_transaction("transaction_id", transaction_id)
        if row is None:
            return error(404, "ORDER_NOT_EXIST", "订单不存在")
        return respond(200, transaction_json(row))

    @bp.post("/v3/pay/transactions/out-trade-no/<order_no>/close")
    def close(order_no: str) -> Response:
        if json_body().get("mchid") != settings.wechat_mchid:
            return error(400, "PARAM_ERROR", "mchid 不正确")
        with store.transaction() as conn:
            row = conn.execute("SELECT trade_state FROM wx_transactions WHERE out_trade_no = ?", (order_no,)).fetchone()
            if row is None:
                return error(404, "ORDER_NOT_EXIST", "订单不存在")
            if row["trade_state"] in ("SUCCESS", "REFUND"):
                return error(400, "ORDERPAID", "订单已支付")
            conn.execute(
                "UPDATE wx_transactions SET trade_state = 'CLOSED' WHERE out_trade_no = ? AND trade_state = 'NOTPAY'",
                (order_no,),
            )
        return respond(204)

    @bp.post("/v3/refund/domestic/refunds")
    def create_refund() -> Response:
        data = json_body()
        amount = data.get("amount") or {}
        refund, total = amount.get("refund"), amount.get("total")
        refund_no = data.get("out_refund_no")
        if not refund_no or not isinstance(refund, int) or not isinstance(total, int) or refund <= 0:
            return error(400, "PARAM_ERROR", "参数错误")
        with store.transaction() as conn:
            if data.get("out_trade_no"):
                trade = conn.execute(
                    "SELECT * FROM wx_transactions WHERE out_trade_no = ?", (data["out_trade_no"],)
                ).fetchone()
            else:
                trade = conn.execute(
                    "SELECT * FROM wx_transactions WHERE transaction_id = ?", (data.get("transaction_id"),)
                ).fetchone()
            if trade is None:
                return error(404, "RESOURCE_NOT_EXISTS", "订单不存在")
            if trade["trade_state"] not in ("SUCCESS", "REFUND"):
                return error(400, "INVALID_REQUEST", "订单未支付, 不能退款")
            if total != trade["total"]:
                return error(400, "PARAM_ERROR", "订单金额与原订单不一致")
            existing = conn.execute("SELECT * FROM wx_refunds WHERE out_refund_no = ?", (refund_no,)).fetchone()
            if existing is not None:
                if existing["out_trade_no"] != trade["out_trade_no"] or existing["refund"] != refund:
                    return error(400, "INVALID_REQUEST", "退款单号重复, 参数与原退款不一致")
                return respond(200, refund_json(existing, trade["transaction_id"]))
            refunded = conn.execute(
                "SELECT COALESCE(SUM(refund), 0) FROM wx_refunds WHERE out_trade_no = ? AND status IN"
                " ('PROCESSING', 'SUCCESS')",
                (trade["out_trade_no"],),
            ).fetchone()[0]
            if refunded + refund > trade["total"]:
                return error(400, "INVALID_REQUEST", "申请退款金额超过订单可退金额")
            conn.execute(
                "INSERT INTO wx_refunds (out_refund_no, refund_id, out_trade_no, refund, total, reason, notify_url,"
                " status, create_time, complete_after) VALUES (?, ?, ?, ?, ?, ?, ?, 'PROCESSING', ?, ?)",
                (refund_no, "50" + _digits(27), trade["out_trade_no"], refund, total, data.get("reason"),
                 data.get("notify_url"), now_cn().isoformat(),
                 clock.now().timestamp() + settings.refund_delay_s),
            )
            conn.execute(
                "UPDATE wx_transactions SET trade_state = 'REFUND' WHERE out_trade_no = ?", (trade["out_trade_no"],)
            )
            row = conn.execute("SELECT * FROM wx_refunds WHERE out_refund_no = ?", (refund_no,)).fetchone()
        sandbox.later(settings.refund_delay_s, lambda: _finish_refund(sandbox, refund_no))
        return respond(200, refund_json(row, trade["transaction_id"]))

    @bp.get("/v3/refund/domestic/refunds/<refund_no>")
    def query_refund(refund_no: str) -> Response:
        for nid in complete_due_refunds(sandbox, refund_no, delay_over=True):
            sandbox.later(0, lambda nid=nid: sandbox.deliver(nid))
        row = store.one(
            "SELECT r.*, t.transaction_id FROM wx_refunds r JOIN wx_transactions t"
            " ON t.out_trade_no = r.out_trade_no WHERE r.out_refund_no = ?",
            refund_no,
        )
        if row is None:
            return error(404, "RESOURCE_NOT_EXISTS", "退款单不存在")
        return respond(200, refund_json(row, row["transaction_id"]))

    @bp.get("/v3/bill/tradebill")
    def trade_bill() -> Response:
        bill_date = request.args.get("bill_date", "")
        try:
            datetime.strptime(bill_date, "%Y-%m-%d")
        except ValueError:
            return error(400, "PARAM_ERROR", "bill_date 格式错误")
        text = build_trade_bill(sandbox, bill_date)
        if text is None:
            return error(400, "NO_STATEMENT_EXIST", "账单不存在")
        raw = text.encode("utf-8")
        content = gzip.compress(raw) if request.args.get("tar_type") == "GZIP" else raw
        token = secrets.token_urlsafe(24)
        with store.transaction() as conn:
            conn.execute(
                "INSERT INTO bills (token, channel, content, created_at) VALUES (?, 'wechat', ?, ?)",
                (token, content, time.time()),
            )
        download_url = url_for(f"{name}.bill_download", token=token, _external=True)
        return respond(200, {
            "hash_type": "SHA1",
            "hash_value": hashlib.sha1(raw).hexdigest(),
            "download_url": download_url,
        })

    @bp.get("/v3/billdownload/file")
    def bill_download() -> Response:
        token = request.args.get("token", "")
        row = store.one("SELECT content FROM bills WHERE token = ? AND channel = 'wechat'", token)
        if row is None:
            return error(404, "RESOURCE_NOT_EXISTS", "账单不存在或已过期")
        return Response(bytes(row["content"]), 200, content_type="application/octet-stream")

    # -- the cashier the patient sees instead of WeixinJSBridge ---------------------------

    def cashier_params() -> tuple[dict[str, str], Row]:
        values = request.values
        params = {k: values.get(k, "") for k in ("appId", "timeStamp", "nonceStr", "package", "signType", "paySign")}
        message = f"{params['appId']}\n{params['timeStamp']}\n{params['nonceStr']}\n{params['package']}\n"
        if params["signType"] != "RSA" or not rsa_sha256_verify(keys.wechat_merchant_cert, message, params["paySign"]):
            raise SandboxRefusal("支付验证签名失败")
        prepay_id = params["package"].removeprefix("prepay_id=")
        row = store.one("SELECT * FROM wx_transactions WHERE prepay_id = ?", prepay_id)
        if row is None or row["appid"] != params["appId"]:
            raise SandboxRefusal("prepay_id 无效或已过期")
        return params, row

    def refusal(message: str, return_url: str) -> tuple[str, int]:
        return render_template(
            "payment_sandbox/message.html", channel="wechat", title="无法支付", message=message,
            return_url=_safe_url(return_url),
        ), 400

    @bp.get("/cashier")
    def cashier() -> Any:
        return_url = request.values.get("return_url", "")
        try:
            params, row = cashier_params()
        except SandboxRefusal as exc:
            return refusal(str(exc), return_url)
        if row["trade_state"] != "NOTPAY":
            return refusal("该订单" + TRADE_STATE_DESC.get(row["trade_state"], row["trade_state"]), return_url)
        return render_template(
            "payment_sandbox/cashier.html",
            channel="wechat",
            merchant=settings.merchant_name,
            description=row["description"],
            amount_yuan=fen_to_yuan(row["total"]),
            order_no=row["out_trade_no"],
            hidden=dict(params, return_url=return_url),
            confirm_url=url_for(f"{name}.cashier_confirm"),
            cancel_url=url_for(f"{name}.cashier_cancel"),
        )

    @bp.post("/cashier/confirm")
    def cashier_confirm() -> Any:
        return_url = request.values.get("return_url", "")
        try:
            _, row = cashier_params()
            confirm(sandbox, row["out_trade_no"])
        except SandboxRefusal as exc:
            return refusal(str(exc), return_url)
        if _safe_url(return_url):
            return redirect(return_url, code=303)
        return render_template("payment_sandbox/message.html", channel="wechat", title="支付成功",
                               message="支付成功", return_url="")

    @bp.post("/cashier/cancel")
    def cashier_cancel() -> Any:
        return_url = request.values.get("return_url", "")
        if _safe_url(return_url):
            return redirect(return_url, code=303)
        return render_template("payment_sandbox/message.html", channel="wechat", title="已取消",
                               message="已取消支付", return_url="")

    return bp


def _finish_refund(sandbox: PaymentSandbox, refund_no: str) -> None:
    for nid in complete_due_refunds(sandbox, refund_no, delay_over=True):
        sandbox.deliver(nid)


def _safe_url(url: str) -> str:
    """Only follow http(s) return URLs."""
    return url if urlsplit(url).scheme in ("http", "https") else ""
