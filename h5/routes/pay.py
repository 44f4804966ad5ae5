"""The cashier hand-off: start paying, come back, see the truth (asked of the channel, not the page)."""

from __future__ import annotations

from flask import current_app, jsonify, redirect, render_template, url_for

from app.services import payments
from h5 import h5_blueprint as bp
from h5.auth import current_user, login_required

FINAL = {"confirmed", "confirm_failed", "closed", "refunding", "refunded", "partially_refunded"}


def _external(endpoint: str, **values) -> str:
    return current_app.config["PUBLIC_BASE_URL"].rstrip("/") + url_for(endpoint, **values)


@bp.get("/pay/<order_no>")
@login_required
def pay(order_no: str):
    order = payments.owned_payment(order_no, current_user().id)
    if order.status not in ("created", "paying"):
        return redirect(url_for("h5.pay_result", order_no=order_no))
    return render_template("h5/pay.html", order=order)


@bp.post("/pay/<order_no>")
@login_required
def pay_start(order_no: str):
    user = current_user()
    start = payments.start_payment(order_no, user.id, user.channel_uid,
                                   _external("h5.pay_result", order_no=order_no))
    if start.redirect_url:  # Alipay wap cashier
        return redirect(start.redirect_url, code=303)
    if start.sandbox_cashier_url and current_app.config.get("PAYMENT_MODE") == "sandbox":
        return redirect(start.sandbox_cashier_url, code=303)
    # Inside WeChat: the page calls WeixinJSBridge with the signed parameters.
    return render_template("h5/pay_jsapi.html", order_no=order_no, params=start.jsapi_params,
                           result_url=url_for("h5.pay_result", order_no=order_no))


@bp.get("/pay/<order_no>/result")
@login_required
def pay_result(order_no: str):
    order = payments.refresh_from_channel(order_no, current_user().id)
    next_url = None
    if order.status in ("confirmed",):
        next_url = payments.kind_handler(order.kind).result_url(order)
    return render_template("h5/pay_result.html", order=order, next_url=next_url, final=order.status in FINAL)


@bp.get("/pay/<order_no>/status")
@login_required
def pay_status(order_no: str):
    order = payments.refresh_from_channel(order_no, current_user().id)
    return jsonify(status=order.status, final=order.status in FINAL)
