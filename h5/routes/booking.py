"""预约挂号 pages: departments -> doctors by day -> a doctor's slices -> patient and confirm -> pay;
我的预约 (orders, detail with every step, cancel) and 改约 after a 停诊. Thin: the use cases are in
app/registration/commands.py, what the pages read in app/registration/queries.py and rules.py, the
timetable in app/registration/schedules.py."""

from __future__ import annotations

import datetime as dt

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app import clock
from app.registration import commands, queries, rules
from app.registration.states import AppointmentStatus as A
from app.services import page_cache
from app.registration import schedules
from app.services.states import PaymentStatus as P
from app.services.states import RefundStatus as R
from app.services.errors import DomainError
from app.identity.patients import patients_of
from h5 import h5_blueprint as bp
from h5.auth import current_user_id, login_required

STATUS_LABELS = {
    A.HOLDING: _l("正在锁号"), A.LOCK_FAILED: _l("锁号失败"), A.PENDING_PAYMENT: _l("待支付"),
    A.PAID: _l("已支付，确认中"), A.BOOKED: _l("预约成功"), A.FAILED: _l("预约失败"), A.CANCELLED: _l("已取消"),
    A.STOPPED: _l("已停诊"), A.EXPIRED: _l("已超时"), A.REFUNDED: _l("已退款"), A.VISITED: _l("已就诊"),
    A.NO_SHOW: _l("未就诊"),
}
FILTER_LABELS = (("all", _l("全部")), ("pending", _l("待支付")), ("booked", _l("待就诊")), ("done", _l("已完成")),
                 ("cancelled", _l("已取消/退款")))
#: what each step of the order's history means to the patient: (order type, new status) -> words
STEP_LABELS = {
    ("appointment", A.HOLDING): _l("提交预约，锁定号源"),
    ("appointment", A.PENDING_PAYMENT): _l("号源已锁定，待支付"),
    ("appointment", A.LOCK_FAILED): _l("锁号失败，号源已释放"),
    ("appointment", A.PAID): _l("挂号费已支付"),
    ("appointment", A.BOOKED): _l("医院确认预约成功"),
    ("appointment", A.FAILED): _l("医院未能确认预约"),
    ("appointment", A.CANCELLED): _l("预约已取消，号源已释放"),
    ("appointment", A.STOPPED): _l("医生停诊，预约已取消"),
    ("appointment", A.EXPIRED): _l("超时未支付，号源已释放"),
    ("appointment", A.REFUNDED): _l("挂号费已退回"),
    ("appointment", A.VISITED): _l("已就诊"),
    ("appointment", A.NO_SHOW): _l("未按时就诊"),
    ("payment", P.CREATED): _l("创建支付订单"),
    ("payment", P.PAYING): _l("打开收银台"),
    ("payment", P.PAID): _l("支付渠道确认收款"),
    ("payment", P.CONFIRMED): _l("医院已确认收费"),
    ("payment", P.CONFIRM_FAILED): _l("医院确认失败"),
    ("payment", P.CONFIRM_UNKNOWN): _l("医院暂未答复，工作人员正在核实"),
    ("refund", R.ABNORMAL): _l("退款异常，工作人员正在处理"),
    ("payment", P.CLOSED): _l("支付订单已关闭"),
    ("payment", P.REFUNDING): _l("退款处理中"),
    ("payment", P.REFUNDED): _l("退款完成"),
    ("payment", P.PARTIALLY_REFUNDED): _l("部分退款完成"),
    ("refund", R.REQUESTED): _l("申请退款"),
    ("refund", R.PROCESSING): _l("退款已提交至支付渠道"),
    ("refund", R.SUCCESS): _l("退款成功，原路退回"),
    ("refund", R.FAILED): _l("退款失败，工作人员将处理"),
}


def _steps(order) -> list[tuple[str, str]]:
    """(Beijing time, what happened) for every recorded step of the order."""
    return [(clock.display(step.at, "%m-%d %H:%M:%S"),
             str(STEP_LABELS.get((step.order_type, step.to_status), step.to_status)))
            for step in queries.history(order)]


def _day(value: str | None, dates: list[dt.date]) -> dt.date | None:
    """The requested day if it is open for booking, else the first open day."""
    if value:
        try:
            day = dt.date.fromisoformat(value)
        except ValueError:
            day = None
        if day in dates:
            return day
    return dates[0] if dates else None


@bp.get("/booking", endpoint="booking")
@page_cache.public_page
def booking_home():
    dates = rules.open_dates()
    tree = schedules.department_tree(dates)
    return render_template("h5/booking/departments.html", tree=tree, dates=dates)


@bp.get("/booking/departments/<int:department_id>")
@page_cache.public_page
def booking_department(department_id: int):
    dept = schedules.department(department_id)
    if dept is None:
        abort(404)
    dates = rules.open_dates()
    day = _day(request.args.get("date"), dates)
    sessions = schedules.doctor_sessions(dept.id, day) if day else []
    remaining = schedules.department_remaining(dept.id, dates)
    return render_template("h5/booking/department.html", dept=dept, dates=dates, day=day, sessions=sessions,
                           remaining=remaining)


@bp.get("/booking/doctors/<int:doctor_id>")
@page_cache.public_page
def booking_doctor(doctor_id: int):
    dates = rules.open_dates()
    day = _day(request.args.get("date"), dates)
    now = rules.hospital_now()
    sessions = schedules.doctor_day(doctor_id, day, now) if day else []
    if not sessions and day is not None and request.args.get("date") is None:
        abort(404)
    doctor = sessions[0].schedule.doctor if sessions else None
    if doctor is None:
        from app.extensions import db
        from app.models import Doctor

        doctor = db.session.get(Doctor, doctor_id)
        if doctor is None:
            abort(404)
    rebook = request.args.get("rebook", type=int)
    # one link built per page, not per slice: the release-morning page lists every slice of the day
    slice_href = url_for("h5.booking_confirm", slice_id=0, rebook=rebook).replace("/0/", "/%d/", 1)
    return render_template("h5/booking/doctor.html", doctor=doctor, dates=dates, day=day, sessions=sessions,
                           rebook=rebook, slice_href=slice_href, left_label=_("余 %(n)s"))


@bp.route("/booking/slices/<int:slice_id>/confirm", methods=["GET", "POST"])
@login_required
def booking_confirm(slice_id: int):
    owner_id = current_user_id()
    if request.method == "POST":
        return _book(owner_id, slice_id)
    slc = queries.bookable_slice(slice_id)
    rebook = request.values.get("rebook", type=int)
    # 改约 only from one's own stopped order, which the page names: this booking replaces it
    replaced = queries.owned_order(owner_id, rebook) if rebook is not None else None
    replaced = replaced if replaced is not None and queries.can_rebook(replaced) else None
    if rules.slice_over(slc):  # refused at once, not after filling the form
        flash(_("该时段已过，请选择其他时段"), "error")
        return redirect(url_for("h5.booking_doctor", doctor_id=slc.schedule.doctor_id,
                                date=slc.schedule.clinic_date.isoformat()), code=303)
    patients = patients_of(owner_id)
    wanted = request.args.get("patient_id", type=int)  # a reminder's one-tap booking names the patient
    selected = wanted if any(p.id == wanted for p in patients) else (patients[0].id if patients else None)
    return render_template("h5/booking/confirm.html", slice=slc, patients=patients, error=None, rebook=rebook,
                           selected=selected, replaced=replaced)


def _book(owner_id: int, slice_id: int):
    """The confirm form posted: the booking reads the slice, the patient and its limits in one statement
    (``queries.booking_facts``) and the account as the sign-in checked it (no ORM row); only a refusal that
    shows the form again loads the slice's rows for the page."""
    rebook = request.values.get("rebook", type=int)
    if rebook is not None:
        queries.owned_order(owner_id, rebook)  # 改约 only from one's own stopped order
    try:
        fee = request.form.get("fee_fen", type=int)
        result = commands.book(owner_id, request.form.get("patient_id"), slice_id,
                               doctor_id=request.form.get("doctor_id", type=int),
                               clinic_date=_form_date(request.form.get("clinic_date")),
                               expected_fee_fen=fee, rebooked_from_id=rebook)
    except rules.SlotTaken as taken:
        flash(taken.message, "error")
        return redirect(url_for("h5.booking_doctor", doctor_id=taken.doctor_id, date=taken.clinic_date.isoformat()),
                        code=303)
    except DomainError as refused:
        if refused.status == 404:
            raise
        return render_template("h5/booking/confirm.html", slice=queries.bookable_slice(slice_id),
                               patients=patients_of(owner_id), error=refused.message,
                               blocking=getattr(refused, "blocking", None), labels=STATUS_LABELS,
                               rebook=rebook, selected=request.form.get("patient_id", type=int)), refused.status
    if result.payment_order_no:
        return redirect(url_for("h5.pay", order_no=result.payment_order_no), code=303)
    flash(_("预约成功"), "success")
    return redirect(url_for("h5.booking_order", order_id=result.order_id), code=303)


def _form_date(value: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if value else None
    except ValueError:
        raise DomainError(_("日期格式不正确")) from None


@bp.get("/booking/orders")
@login_required
def booking_orders():
    state = request.args.get("state", "all")
    if state not in queries.ORDER_FILTERS:
        state = "all"
    orders = queries.orders_of(current_user_id(), state)
    return render_template("h5/booking/orders.html", orders=orders, state=state, filters=FILTER_LABELS,
                           labels=STATUS_LABELS)


@bp.get("/booking/orders/<int:order_id>")
@login_required
def booking_order(order_id: int):
    order = queries.owned_order(current_user_id(), order_id)
    payment = queries.payment_of(order)
    can_pay = order.status == A.PENDING_PAYMENT and payment is not None and \
        payment.status in (P.CREATED, P.PAYING)
    no_show_rules = barred_until = None
    if order.status == A.NO_SHOW:  # say what 爽约 means, and whether this patient is barred now
        no_show_rules = rules.booking_rules()
        barred_until = rules.no_show_barred_until(order.patient_id, rules.hospital_now().date(), no_show_rules)
    return render_template("h5/booking/order.html", order=order, payment=payment, steps=_steps(order),
                           labels=STATUS_LABELS, can_pay=can_pay, can_cancel=rules.can_cancel(order),
                           can_rebook=queries.can_rebook(order),
                           rules=no_show_rules, barred_until=barred_until)


@bp.post("/booking/orders/<int:order_id>/cancel")
@login_required
def booking_cancel(order_id: int):
    try:
        order = commands.cancel_by_patient(current_user_id(), order_id, request.form.get("reason", ""))
    except DomainError as refused:
        if refused.status == 404:
            raise
        flash(refused.message, "error")
        return redirect(url_for("h5.booking_order", order_id=order_id), code=303)
    payment = queries.payment_of(order)
    flash(_("已取消预约，挂号费将原路退回") if payment is not None and payment.paid_at else _("已取消预约"), "success")
    return redirect(url_for("h5.booking_order", order_id=order_id), code=303)


@bp.get("/booking/orders/<int:order_id>/rebook")
@login_required
def booking_rebook(order_id: int):
    order = queries.owned_order(current_user_id(), order_id)
    slots = queries.next_open_slots(order.doctor_id)
    return render_template("h5/booking/rebook.html", order=order, slots=slots)
