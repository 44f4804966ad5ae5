"""A local double of the Alipay open gateway (``gateway.do``, RSA2) and of the wap cashier.

Implements what ``AlipayChannel`` calls: ``alipay.trade.wap.pay`` (the cashier page),
``trade.query``, ``trade.close``, ``trade.refund``, ``trade.fastpay.refund.query`` and
``data.dataservice.bill.downloadurl.query``. Requests are verified with the app's public key;
responses and notifications are signed with the sandbox's "Alipay" key.
"""

from __future__ import annotations

import io
import json
import secrets
import time
import uuid
import zipfile
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

from flask import Blueprint, Response, redirect, render_template, request, url_for

from app import clock
from app.channels.money import fen_to_yuan, yuan_to_fen
from doubles.channels.core import DeliveryResult, SandboxRefusal, now_cn
from doubles.channels.signing import (
    alipay_response,
    alipay_sign_notification,
    alipay_verify_request,
)

if TYPE_CHECKING:
    from sqlite3 import Connection, Row

    from doubles.channels.core import KnownTrade, PaymentSandbox

TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
SANDBOX_BUYER_ID = "2088102177846880"
SANDBOX_BUYER_LOGON = "pat***@sandbox.com"
WAP_PRODUCT_CODE = "QUICK_WAP_WAY"
BILL_COLUMNS = [
    "支付宝交易号", "商户订单号", "业务类型", "商品名称", "创建时间", "完成时间", "门店编号", "门店名称", "操作员",
    "终端号", "对方账户", "订单金额（元）", "商家实收（元）", "支付宝红包（元）", "集分宝（元）", "支付宝优惠（元）",
    "商家优惠（元）", "券核销金额（元）", "券名称", "商家红包消费金额（元）", "卡消费金额（元）", "退款批次号/请求号",
    "服务费（元）", "分润（元）", "备注",
]

Result = dict[str, Any]


def ok(**fields: Any) -> Result:
    return {"code": "10000", "msg": "Success", **fields}


def business_error(sub_code: str, sub_msg: str, **fields: Any) -> Result:
    return {"code": "40004", "msg": "Business Failed", "sub_code": sub_code, "sub_msg": sub_msg, **fields}


def _refunded_fen(conn: Connection, order_no: str) -> int:
    return int(conn.execute(
        "SELECT COALESCE(SUM(refund_fen), 0) FROM ali_refunds WHERE out_trade_no = ?", (order_no,)
    ).fetchone()[0])


def _base_notification(sandbox: PaymentSandbox, trade: Row) -> dict[str, str]:
    settings = sandbox.settings
    yuan = fen_to_yuan(trade["total_fen"])
    return {
        "notify_time": now_cn().strftime(TIME_FORMAT),
        "notify_type": "trade_status_sync",
        "notify_id": uuid.uuid4().hex,
        "charset": "utf-8",
        "version": "1.0",
        "app_id": trade["app_id"],
        "auth_app_id": trade["app_id"],
        "trade_no": trade["trade_no"],
        "out_trade_no": trade["out_trade_no"],
        "buyer_id": SANDBOX_BUYER_ID,
        "buyer_logon_id": SANDBOX_BUYER_LOGON,
        "seller_id": settings.alipay_seller_id,
        "trade_status": trade["trade_status"],
        "total_amount": yuan,
        "receipt_amount": yuan,
        "invoice_amount": yuan,
        "buyer_pay_amount": yuan,
        "point_amount": "0.00",
        "subject": trade["subject"],
        "gmt_create": trade["gmt_create"],
        "gmt_payment": trade["gmt_payment"] or "",
        "fund_bill_list": json.dumps([{"amount": yuan, "fundChannel": "ALIPAYACCOUNT"}], separators=(",", ":")),
    }


# -- operations (no HTTP) ------------------------------------------------------------------


def know_paid_trade(sandbox: PaymentSandbox, trade: KnownTrade) -> None:
    """``PaymentSandbox.know_paid_trade``: the trade TRADE_SUCCESS, and its refund done (Alipay answers a refund
    at once)."""
    now = now_cn().strftime(TIME_FORMAT)
    with sandbox.store.transaction() as conn:
        conn.execute(
            "INSERT OR IGNORE INTO ali_trades (out_trade_no, app_id, subject, total_fen, trade_no, trade_status,"
            " cashier_token, gmt_create, gmt_payment) VALUES (?, ?, ?, ?, ?, 'TRADE_SUCCESS', ?, ?, ?)",
            (trade.order_no, sandbox.settings.alipay_appid, trade.description, trade.total_fen, trade.trade_no,
             f"known-{trade.order_no}", now, now))
        if trade.refund_no:
            conn.execute(
                "INSERT OR IGNORE INTO ali_refunds (out_trade_no, out_request_no, refund_fen, reason, gmt_refund)"
                " VALUES (?, ?, ?, ?, ?)", (trade.order_no, trade.refund_no, trade.refund_fen, trade.refund_reason,
                                            f"{now}.000"))


def confirm(sandbox: PaymentSandbox, order_no: str) -> DeliveryResult | None:
    """The patient confirms: WAIT_BUYER_PAY -> TRADE_SUCCESS once, then the notice is POSTed inline."""
    now = now_cn()
    with sandbox.store.transaction() as conn:
        trade = conn.execute("SELECT * FROM ali_trades WHERE out_trade_no = ?", (order_no,)).fetchone()
        if trade is None:
            raise SandboxRefusal("交易不存在")
        if trade["trade_status"] in ("TRADE_SUCCESS", "TRADE_FINISHED"):
            return None
        if trade["trade_status"] != "WAIT_BUYER_PAY":
            raise SandboxRefusal("交易已关闭")
        if trade["time_expire"] and datetime.strptime(trade["time_expire"], TIME_FORMAT) < _naive_now():
            conn.execute(
                "UPDATE ali_trades SET trade_status = 'TRADE_CLOSED', gmt_close = ? WHERE out_trade_no = ?",
                (now.strftime(TIME_FORMAT), order_no),
            )
            raise SandboxRefusal("订单已超时关闭")
        conn.execute(
            "UPDATE ali_trades SET trade_status = 'TRADE_SUCCESS', gmt_payment = ?"
            " WHERE out_trade_no = ? AND trade_status = 'WAIT_BUYER_PAY'",
            (now.strftime(TIME_FORMAT), order_no),
        )
        paid = conn.execute("SELECT * FROM ali_trades WHERE out_trade_no = ?", (order_no,)).fetchone()
        if not paid["notify_url"]:
            return None
        payload = json.dumps(_base_notification(sandbox, paid), ensure_ascii=False)
        nid = sandbox.record_notification(conn, "alipay", "payment", order_no, None, paid["notify_url"], payload)
    return sandbox.deliver(nid)


def return_params(sandbox: PaymentSandbox, order_no: str) -> dict[str, str]:
    """The signed query string Alipay appends to ``return_url`` after payment."""
    trade = sandbox.store.one("SELECT * FROM ali_trades WHERE out_trade_no = ?", order_no)
    assert trade is not None
    return alipay_sign_notification(sandbox.keys, {
        "charset": "utf-8",
        "out_trade_no": order_no,
        "method": "alipay.trade.wap.pay.return",
        "total_amount": fen_to_yuan(trade["total_fen"]),
        "trade_no": trade["trade_no"],
        "auth_app_id": trade["app_id"],
        "version": "1.0",
        "app_id": trade["app_id"],
        "seller_id": sandbox.settings.alipay_seller_id,
        "timestamp": now_cn().strftime(TIME_FORMAT),
    })


def build_trade_bill_zip(sandbox: PaymentSandbox, bill_date: str) -> bytes | None:
    """The day's trade bill as Alipay ships it: a zip of GBK CSVs (detail and summary), or None."""
    seller = sandbox.settings.alipay_seller_id
    rows: list[list[str]] = []
    paid = refunded = 0
    n_paid = n_refunded = 0
    payments = sandbox.store.all(
        "SELECT * FROM ali_trades WHERE gmt_payment LIKE ? ORDER BY gmt_payment", bill_date + "%"
    )
    for t in payments:
        yuan = fen_to_yuan(t["total_fen"])
        rows.append([
            t["trade_no"] + "\t", t["out_trade_no"] + "\t", "交易", t["subject"], t["gmt_create"], t["gmt_payment"],
            "", "", "", "", SANDBOX_BUYER_LOGON, yuan, yuan, "0.00", "0.00", "0.00", "0.00", "0.00", "", "0.00",
            "0.00", "", "0.00", "0.00", "",
        ])
        paid += t["total_fen"]
        n_paid += 1
    for r in sandbox.store.all(
        "SELECT r.*, t.trade_no, t.subject, t.gmt_create FROM ali_refunds r JOIN ali_trades t"
        " ON t.out_trade_no = r.out_trade_no WHERE r.gmt_refund LIKE ? ORDER BY r.gmt_refund",
        bill_date + "%",
    ):
        yuan = "-" + fen_to_yuan(r["refund_fen"])
        rows.append([
            r["trade_no"] + "\t", r["out_trade_no"] + "\t", "退款", r["subject"], r["gmt_create"], r["gmt_refund"][:19],
            "", "", "", "", SANDBOX_BUYER_LOGON, yuan, yuan, "0.00", "0.00", "0.00", "0.00", "0.00", "", "0.00",
            "0.00", r["out_request_no"] + "\t", "0.00", "0.00", "",
        ])
        refunded += r["refund_fen"]
        n_refunded += 1
    if not rows:
        return None
    day = datetime.strptime(bill_date, "%Y-%m-%d")
    rule = "#" + "-" * 41
    detail = [
        "#支付宝交易记录明细查询",
        f"#账号：[{seller}0156]",
        f"#起始日期：[{day:%Y年%m月%d日} 00:00:00]   终止日期：[{day:%Y年%m月%d日} 23:59:59]",
        rule + "业务明细列表" + "-" * 40,
        ",".join(BILL_COLUMNS),
        *(",".join(row) for row in rows),
        rule + "业务明细列表结束" + "-" * 36,
        f"#交易合计：{n_paid}笔，商家实收共{fen_to_yuan(paid)}元，商家优惠共0.00元",
        f"#退款合计：{n_refunded}笔，商家实收退款共-{fen_to_yuan(refunded)}元，商家优惠退款共0.00元",
        f"#导出时间：[{now_cn():%Y年%m月%d日 %H:%M:%S}]",
    ]
    summary = [
        "#支付宝业务汇总查询",
        f"#账号：[{seller}0156]",
        "门店编号,门店名称,交易订单总笔数,退款订单总笔数,订单金额（元）,商家实收（元）",
        f"合计,,{n_paid},{n_refunded},{fen_to_yuan(paid - refunded)},{fen_to_yuan(paid - refunded)}",
    ]
    stamp = day.strftime("%Y%m%d")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{seller}0156_{stamp}_业务明细.csv", "\r\n".join(detail).encode("gbk"))
        archive.writestr(f"{seller}0156_{stamp}_业务明细(汇总).csv", "\r\n".join(summary).encode("gbk"))
    return buffer.getvalue()


# -- HTTP ----------------------------------------------------------------------------------


def create_blueprint(sandbox: PaymentSandbox, name: str = "payment_sandbox_alipay") -> Blueprint:
    """The Alipay gateway double; ``AlipayChannel(gateway=<prefix>/gateway.do)`` talks to it."""
    bp = Blueprint(name, __name__, template_folder="templates")
    settings, keys, store = sandbox.settings, sandbox.keys, sandbox.store

    def signed(response_type: str, payload: Result) -> Response:
        return Response(alipay_response(keys, response_type, payload), 200,
                        content_type="application/json; charset=utf-8")

    def page(title: str, message: str, return_url: str = "", status: int = 400) -> tuple[str, int]:
        return render_template("payment_sandbox/message.html", channel="alipay", title=title, message=message,
                               return_url=_safe_url(return_url)), status

    # -- gateway methods ------------------------------------------------------------------

    def trade_query(biz: dict[str, Any]) -> Result:
        trade = _find(store, biz)
        if trade is None:
            return business_error("ACQ.TRADE_NOT_EXIST", "交易不存在",
                                  out_trade_no=biz.get("out_trade_no", ""))
        yuan = fen_to_yuan(trade["total_fen"])
        result = ok(
            out_trade_no=trade["out_trade_no"], trade_no=trade["trade_no"], trade_status=trade["trade_status"],
            total_amount=yuan, buyer_logon_id=SANDBOX_BUYER_LOGON, buyer_user_id=SANDBOX_BUYER_ID,
            receipt_amount="0.00", buyer_pay_amount="0.00", invoice_amount="0.00", point_amount="0.00",
        )
        if trade["gmt_payment"]:
            result.update(send_pay_date=trade["gmt_payment"], receipt_amount=yuan, buyer_pay_amount=yuan,
                          invoice_amount=yuan)
        return result

    def trade_close(biz: dict[str, Any]) -> Result:
        with store.transaction() as conn:
            trade = _find(conn, biz)
            if trade is None:
                return business_error("ACQ.TRADE_NOT_EXIST", "交易不存在")
            if trade["trade_status"] != "WAIT_BUYER_PAY":
                return business_error("ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
            conn.execute(
                "UPDATE ali_trades SET trade_status = 'TRADE_CLOSED', gmt_close = ?"
                " WHERE out_trade_no = ? AND trade_status = 'WAIT_BUYER_PAY'",
                (now_cn().strftime(TIME_FORMAT), trade["out_trade_no"]),
            )
        return ok(out_trade_no=trade["out_trade_no"], trade_no=trade["trade_no"])

    def trade_refund(biz: dict[str, Any]) -> Result:
        try:
            refund_fen = yuan_to_fen(str(biz.get("refund_amount", "")))
        except ValueError:
            return business_error("ACQ.INVALID_PARAMETER", "refund_amount 格式错误")
        if refund_fen <= 0:
            return business_error("ACQ.INVALID_PARAMETER", "退款金额必须大于0")
        nid: int | None = None
        with store.transaction() as conn:
            trade = _find(conn, biz)
            if trade is None:
                return business_error("ACQ.TRADE_NOT_EXIST", "交易不存在")
            request_no = str(biz.get("out_request_no") or trade["out_trade_no"])
            existing = conn.execute(
                "SELECT * FROM ali_refunds WHERE out_trade_no = ? AND out_request_no = ?",
                (trade["out_trade_no"], request_no),
            ).fetchone()
            common = {"out_trade_no": trade["out_trade_no"], "trade_no": trade["trade_no"],
                      "buyer_logon_id": SANDBOX_BUYER_LOGON, "buyer_user_id": SANDBOX_BUYER_ID}
            if existing is not None:
                if existing["refund_fen"] != refund_fen:
                    return business_error("ACQ.INVALID_PARAMETER", "退款请求号重复, 金额与原请求不一致")
                total = _refunded_fen(conn, trade["out_trade_no"])
                return ok(fund_change="N", refund_fee=fen_to_yuan(total),
                          gmt_refund_pay=existing["gmt_refund"][:19], **common)
            if trade["trade_status"] == "TRADE_CLOSED":
                return business_error("ACQ.TRADE_HAS_CLOSE", "交易已经关闭")
            if trade["trade_status"] not in ("TRADE_SUCCESS", "TRADE_FINISHED"):
                return business_error("ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
            already = _refunded_fen(conn, trade["out_trade_no"])
            if already + refund_fen > trade["total_fen"]:
                return business_error("ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "退款金额超限")
            now = now_cn()
            gmt_refund = f"{now.strftime(TIME_FORMAT)}.{int(time.time() * 1000) % 1000:03d}"
            conn.execute(
                "INSERT INTO ali_refunds (out_trade_no, out_request_no, refund_fen, reason, gmt_refund)"
                " VALUES (?, ?, ?, ?, ?)",
                (trade["out_trade_no"], request_no, refund_fen, biz.get("refund_reason"), gmt_refund),
            )
            total = already + refund_fen
            if total == trade["total_fen"]:
                conn.execute(
                    "UPDATE ali_trades SET trade_status = 'TRADE_CLOSED', gmt_close = ? WHERE out_trade_no = ?",
                    (now.strftime(TIME_FORMAT), trade["out_trade_no"]),
                )
            updated = conn.execute("SELECT * FROM ali_trades WHERE out_trade_no = ?",
                                   (trade["out_trade_no"],)).fetchone()
            if updated["notify_url"]:
                params = _base_notification(sandbox, updated)
                params.update(out_biz_no=request_no, refund_fee=fen_to_yuan(total), gmt_refund=gmt_refund)
                if updated["gmt_close"]:
                    params["gmt_close"] = updated["gmt_close"]
                nid = sandbox.record_notification(
                    conn, "alipay", "refund", trade["out_trade_no"], request_no, updated["notify_url"],
                    json.dumps(params, ensure_ascii=False),
                )
        if nid is not None:
            sandbox.later(settings.refund_delay_s, lambda: sandbox.deliver(nid))
        return ok(fund_change="Y", refund_fee=fen_to_yuan(total), gmt_refund_pay=now.strftime(TIME_FORMAT),
                  **common)

    def refund_query(biz: dict[str, Any]) -> Result:
        trade = _find(store, biz)
        if trade is None:
            return business_error("ACQ.TRADE_NOT_EXIST", "交易不存在")
        request_no = str(biz.get("out_request_no") or "")
        refund = store.one(
            "SELECT * FROM ali_refunds WHERE out_trade_no = ? AND out_request_no = ?",
            trade["out_trade_no"], request_no,
        )
        base = ok(out_trade_no=trade["out_trade_no"], trade_no=trade["trade_no"])
        if refund is None:
            return base  # Alipay answers success with no refund fields: the refund did not happen
        base.update(
            out_request_no=request_no, total_amount=fen_to_yuan(trade["total_fen"]),
            refund_amount=fen_to_yuan(refund["refund_fen"]), refund_status="REFUND_SUCCESS",
            gmt_refund_pay=refund["gmt_refund"][:19],
        )
        return base

    def bill_url(biz: dict[str, Any]) -> Result:
        bill_date = str(biz.get("bill_date", ""))
        try:
            datetime.strptime(bill_date, "%Y-%m-%d")
        except ValueError:
            return business_error("isv.invalid-bill-date", "账单日期格式不正确")
        if biz.get("bill_type") != "trade":
            return business_error("isv.invalid-bill-type", "账单类型不支持")
        content = build_trade_bill_zip(sandbox, bill_date)
        if content is None:
            return business_error("isp.bill_not_exist", "账单不存在")
        token = secrets.token_urlsafe(24)
        with store.transaction() as conn:
            conn.execute("INSERT INTO bills (token, channel, content, created_at) VALUES (?, 'alipay', ?, ?)",
                         (token, content, time.time()))
        return ok(bill_download_url=url_for(f"{name}.bill_download", token=token, _external=True))

    methods: dict[str, Callable[[dict[str, Any]], Result]] = {
        "alipay.trade.query": trade_query,
        "alipay.trade.close": trade_close,
        "alipay.trade.refund": trade_refund,
        "alipay.trade.fastpay.refund.query": refund_query,
        "alipay.data.dataservice.bill.downloadurl.query": bill_url,
    }

    @bp.route("/gateway.do", methods=["GET", "POST"])
    def gateway() -> Any:
        params = request.values.to_dict()
        method = params.get("method", "")
        response_type = method.replace(".", "_") + "_response"
        is_page = method == "alipay.trade.wap.pay"
        problem = None
        if params.get("app_id") != settings.alipay_appid:
            problem = ("isv.invalid-app-id", "无效的AppID参数")
        elif params.get("sign_type") != "RSA2" or not alipay_verify_request(keys, params):
            problem = ("isv.invalid-signature", "验签出错")
        elif not is_page and method not in methods:
            problem = ("isv.invalid-method", "不存在的方法名")
        if problem:
            if is_page:
                return page("支付请求无效", f"{problem[1]} ({problem[0]})", params.get("return_url", ""))
            return signed(response_type, {"code": "40002", "msg": "Invalid Arguments",
                                          "sub_code": problem[0], "sub_msg": problem[1]})
        try:
            biz = json.loads(params.get("biz_content") or "{}")
        except ValueError:
            biz = None
        if not isinstance(biz, dict):
            if is_page:
                return page("支付请求无效", "biz_content 格式错误")
            return signed(response_type, {"code": "40002", "msg": "Invalid Arguments",
                                          "sub_code": "isv.invalid-biz-content", "sub_msg": "biz_content 格式错误"})
        if is_page:
            return open_cashier(params, biz)
        return signed(response_type, methods[method](biz))

    def open_cashier(params: dict[str, str], biz: dict[str, Any]) -> Any:
        quit_url = str(biz.get("quit_url") or "")
        if biz.get("product_code") != WAP_PRODUCT_CODE:
            return page("支付请求无效", f"product_code 必须为 {WAP_PRODUCT_CODE}", quit_url)
        try:
            total_fen = yuan_to_fen(str(biz.get("total_amount", "")))
        except ValueError:
            return page("支付请求无效", "total_amount 格式错误", quit_url)
        order_no, subject = str(biz.get("out_trade_no") or ""), str(biz.get("subject") or "")
        if total_fen <= 0 or not order_no or not subject:
            return page("支付请求无效", "缺少必要参数", quit_url)
        time_expire = str(biz.get("time_expire") or "") or None
        now = now_cn()
        if time_expire and datetime.strptime(time_expire, TIME_FORMAT) < _naive_now():
            return page("订单已超时", "该订单已超过支付截止时间", quit_url)
        with store.transaction() as conn:
            trade = conn.execute("SELECT * FROM ali_trades WHERE out_trade_no = ?", (order_no,)).fetchone()
            if trade is None:
                token = secrets.token_urlsafe(16)
                trade_no = now.strftime("%Y%m%d") + "22001" + "".join(secrets.choice("0123456789") for _ in range(15))
                conn.execute(
                    "INSERT INTO ali_trades (out_trade_no, app_id, subject, total_fen, trade_no, trade_status,"
                    " notify_url, return_url, quit_url, time_expire, cashier_token, gmt_create)"
                    " VALUES (?, ?, ?, ?, ?, 'WAIT_BUYER_PAY', ?, ?, ?, ?, ?, ?)",
                    (order_no, params["app_id"], subject, total_fen, trade_no, params.get("notify_url"),
                     params.get("return_url"), quit_url, time_expire, token, now.strftime(TIME_FORMAT)),
                )
            elif trade["total_fen"] != total_fen:
                return page("支付请求无效", "交易信息被篡改 (ACQ.CONTEXT_INCONSISTENT)", quit_url)
            elif trade["trade_status"] != "WAIT_BUYER_PAY":
                return page("无法支付", "该订单已支付" if trade["gmt_payment"] else "交易已关闭", quit_url)
            else:
                token = trade["cashier_token"]
                conn.execute(
                    "UPDATE ali_trades SET notify_url = ?, return_url = ?, quit_url = ?, time_expire = ?"
                    " WHERE out_trade_no = ?",
                    (params.get("notify_url"), params.get("return_url"), quit_url, time_expire, order_no),
                )
        return render_template(
            "payment_sandbox/cashier.html",
            channel="alipay",
            merchant=settings.merchant_name,
            description=subject,
            amount_yuan=fen_to_yuan(total_fen),
            order_no=order_no,
            hidden={"token": token},
            confirm_url=url_for(f"{name}.cashier_confirm"),
            cancel_url=url_for(f"{name}.cashier_cancel"),
        )

    def trade_by_token() -> Row:
        trade = store.one("SELECT * FROM ali_trades WHERE cashier_token = ?", request.form.get("token", ""))
        if trade is None:
            raise SandboxRefusal("收银台已失效")
        return trade

    @bp.post("/cashier/confirm")
    def cashier_confirm() -> Any:
        try:
            trade = trade_by_token()
            confirm(sandbox, trade["out_trade_no"])
        except SandboxRefusal as exc:
            return page("无法支付", str(exc))
        if _safe_url(trade["return_url"] or ""):
            query = urlencode(return_params(sandbox, trade["out_trade_no"]))
            separator = "&" if "?" in trade["return_url"] else "?"
            return redirect(trade["return_url"] + separator + query, code=303)
        return page("支付成功", "支付成功", status=200)

    @bp.post("/cashier/cancel")
    def cashier_cancel() -> Any:
        try:
            trade = trade_by_token()
        except SandboxRefusal as exc:
            return page("无法支付", str(exc))
        target = _safe_url(trade["quit_url"] or "")
        if target:
            return redirect(target, code=303)
        return page("已取消", "已取消支付", status=200)

    @bp.get("/bill/download")
    def bill_download() -> Response:
        token = request.args.get("token", "")
        row = store.one("SELECT content FROM bills WHERE token = ? AND channel = 'alipay'", token)
        if row is None:
            return Response("bill not found", 404, content_type="text/plain")
        return Response(bytes(row["content"]), 200, content_type="application/zip")

    return bp


def _find(source: Any, biz: dict[str, Any]) -> Row | None:
    """A trade by out_trade_no or trade_no, from a store or an open connection."""
    if biz.get("out_trade_no"):
        sql, value = "SELECT * FROM ali_trades WHERE out_trade_no = ?", str(biz["out_trade_no"])
    elif biz.get("trade_no"):
        sql, value = "SELECT * FROM ali_trades WHERE trade_no = ?", str(biz["trade_no"])
    else:
        return None
    if hasattr(source, "one"):
        return source.one(sql, value)
    return source.execute(sql, (value,)).fetchone()


def _naive_now() -> datetime:
    """Now in China time, naive, to compare with Alipay's ``yyyy-MM-dd HH:mm:ss`` strings."""
    return clock.beijing_now().replace(microsecond=0)


def _safe_url(url: str) -> str:
    """Only follow http(s) return URLs."""
    return url if urlsplit(url).scheme in ("http", "https") else ""
