"""The cashier hand-off: start paying, come back, see the truth (asked of the channel, not the page)."""

from __future__ import annotations

from flask import current_app, jsonify, redirect, render_template, url_for
from flask_babel import lazy_gettext as _l

from app import clock
from app.payments.commands import QueryChannel, StartPayment, kind_handler
from app.payments.queries import owned_payment
from app.payments.states import FINAL, LIVE
from h5 import h5_blueprint as bp
from h5.auth import current_user, current_user_id, login_required

#: what the hospital's number of a confirmed payment is, by kind (the e-invoice, 电子票据, is another thing)
NUMBER_LABELS = {"registration": _l("就诊流水号"), "outpatient": _l("医院收费单号"), "deposit": _l("预交金单号"),
                 "prenatal_class": _l("报名单号")}
#: what the lines the hospital sends back are, by kind (a deposit's are its account, not 导诊)
GUIDANCE_TITLES = {"registration": _l("就诊提示"), "outpatient": _l("导诊提示"), "deposit": _l("住院账户"),
                   "prenatal_class": _l("上课提示")}


def _external(endpoint: str, **values) -> str:
    return current_app.config["PUBLIC_BASE_URL"].rstrip("/") + url_for(endpoint, **values)


@bp.get("/pay/<order_no>")
@login_required
def pay(order_no: str):
    order = owned_payment(order_no, current_user_id())
    if order.status not in LIVE:
        return redirect(url_for("h5.pay_result", order_no=order_no))
    # the deadline is the order's own (a registration's follows the HIS lock), counted by the one clock
    remaining = None if order.expires_at is None else int((order.expires_at - clock.utcnow()).total_seconds())
    return render_template("h5/pay.html", order=order, remaining=remaining,
                           deadline=clock.display(order.expires_at, "%H:%M") if order.expires_at else None,
                           back_url=kind_handler(order.kind).result_url(order))  # ‹ returns to what is paid


@bp.post("/pay/<order_no>")
@login_required
def pay_start(order_no: str):
    user = current_user()
    start = StartPayment(order_no, user.id, user.channel_uid, _external("h5.pay_result", order_no=order_no)).run()
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
    order = QueryChannel(order_no, current_user_id()).run()
    next_url = None
    if order.status not in LIVE:  # the order's own page: booked, refunded, why it failed
        next_url = kind_handler(order.kind).result_url(order)
    return render_template("h5/pay_result.html", order=order, next_url=next_url, final=order.status in FINAL,
                           number_label=NUMBER_LABELS.get(order.kind, _l("医院单号")),
                           guidance_title=GUIDANCE_TITLES.get(order.kind, _l("温馨提示")))


@bp.get("/pay/<order_no>/status")
@login_required
def pay_status(order_no: str):
    order = QueryChannel(order_no, current_user_id()).run()
    return jsonify(status=order.status, final=order.status in FINAL)
