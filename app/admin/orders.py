"""Order views: booking orders (预约订单), payment orders (缴费订单: 挂号费, 门诊缴费, 住院押金), refunds
(退费记录) and patient lookup (就诊人). Read-only lists with masked personal data, details with the
whole state history, the staff cancel form, and .xlsx export of the filtered list."""

from __future__ import annotations

from flask import abort, flash, g, redirect, request, url_for
from flask_appbuilder import ModelView
from flask_appbuilder.actions import action
from flask_appbuilder.security.decorators import has_access
from flask_appbuilder.urltools import get_filter_args
from flask_appbuilder.views import expose
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from markupsafe import Markup
from wtforms import BooleanField, RadioField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length

from app.admin import fast_lists, list_tools
from app.admin.filters import CriteriaInterface, beijing_time, criteria_of, criterion
from app.models import AppointmentOrder, Patient, PaymentOrder, Refund
from app.services import audit
from app.backoffice import orders
from app.registration.commands import cancel_by_staff, mark_attendance_by_staff
from app.services.errors import DomainError
from app.services.uow import unit_of_work
from app.services.formatting import mask_id_number, mask_name, mask_phone, yuan, yuan_grouped
from app.payments.states import PaymentStatus, RefundStatus


def _choices(table: dict) -> list[tuple[str, str]]:
    return [("", "")] + [(k, str(v)) for k, v in table.items()]


STUCK_CHOICES = [("", ""), ("1", _l("超时未推进"))]


def _masked_patient(patient: Patient | None) -> str:
    return mask_name(patient.name) if patient is not None else ""


COMMON_LABELS = {
    "order_no": _l("订单号"), "patient": _l("就诊人"), "patient.card_no": _l("就诊卡号"),
    "patient_phone": _l("手机号"), "patient_name": _l("就诊人姓名"), "card_no": _l("就诊卡号"),
    "phone": _l("手机号"), "doctor": _l("医生"), "department": _l("科室"), "clinic_date": _l("就诊日期"),
    "half_day": _l("时段"), "start_time": _l("开始时间"), "end_time": _l("结束时间"), "channel": _l("渠道"),
    "status": _l("状态"), "fee_fen": _l("挂号费(元)"), "created_at": _l("下单时间"), "paid_at": _l("支付时间"),
    "confirmed_at": _l("确认时间"), "cancelled_at": _l("取消时间"), "cancel_reason": _l("取消原因"),
    "his_visit_no": _l("HIS 就诊号"), "queue_no": _l("排队号"), "location": _l("就诊地点"),
    "registration_kind": _l("挂号类型"), "expires_at": _l("支付截止"), "kind": _l("业务类型"),
    "amount_fen": _l("金额(元)"), "refunded_fen": _l("已退款(元)"), "description": _l("说明"),
    "business_ref": _l("业务单号"), "channel_trade_no": _l("渠道交易号"), "flag": _l("标记"),
    "his_receipt_no": _l("HIS 收据号"), "his_error": _l("HIS 错误"), "closed_at": _l("关闭时间"),
    "refund_no": _l("退款单号"), "payment": _l("缴费订单"), "reason": _l("原因"), "requested_by": _l("申请人"),
    "succeeded_at": _l("退款成功时间"), "failure_reason": _l("失败原因"), "channel_refund_no": _l("渠道退款单号"),
    "attempts": _l("尝试次数"), "updated_at": _l("更新时间"), "attended_at": _l("签到时间"),
}

TIME_FORMATTERS = {k: beijing_time for k in ("created_at", "paid_at", "confirmed_at", "cancelled_at", "expires_at",
                                              "closed_at", "succeeded_at", "updated_at", "attended_at")}


def one_line(format_value):
    """``format_value`` kept on one line: a list of many columns at 1440 px broke 支付宝 and each time in two."""
    return lambda value: Markup('<span class="text-nowrap">{}</span>').format(format_value(value))


#: the money columns of each order list and the key of their sum in ``orders.totals``
TOTAL_COLUMNS = {"appointment": {"fee_fen": "amount_fen"},
                 "payment": {"amount_fen": "amount_fen", "refunded_fen": "refunded_fen"},
                 "refund": {"amount_fen": "amount_fen"}}


def finance_tools(order_type: str, kind: str, filters, widgets: dict) -> dict:
    """The active conditions in words and the 合计 of the filtered rows, as a bar above the table and as
    its last row (and a message for a date that cannot be read) for an order list."""
    criteria = criteria_of(filters)
    list_tools.flash_bad_dates(criteria, kind)
    # An unfiltered list counted by estimate (app/admin/fast_lists.py) has no 合计: it would sum every row.
    # Nor has a list of more than COUNT_UP_TO rows narrowed without a date range (渠道 alone): 超过 N 笔.
    estimate, capped = fast_lists.estimated_count(), fast_lists.count_capped()
    totals = None if estimate is not None or capped is not None else orders.totals(order_type, criteria)
    widgets["list"].template_args["totals_row"] = list_tools.totals_row(totals, TOTAL_COLUMNS[order_type])
    widgets["list"].template_args["count_capped"] = capped
    return {"tools": {**list_tools.list_context(kind, criteria, totals), "estimated_count": estimate,
                      "count_capped": capped}}


class OrderViewMixin(list_tools.DatePresets):
    """What booking and payment order views share: audited detail with history, personal-data search
    audit, export of the filtered list, date presets and the 合计 row."""

    date_filters = (("created_at", _l("下单时间")),)

    order_type = "appointment"
    export_kind = ""
    list_template = "backoffice/order_list.html"
    show_template = "backoffice/order_show.html"

    def _audit_personal_search(self) -> None:
        searched = criteria_of(self._filters)
        personal = {k: v for k, v in searched.items() if k in orders.PERSONAL_CRITERIA}
        if personal:
            masks = {"patient_name": mask_name, "phone": mask_phone, "card_no": lambda v: v}
            audit.staff_viewed("staff.search_personal", g.user, target_type=self.order_type,
                               criteria={k: masks[k](v) for k, v in personal.items()})

    @expose("/list/")
    @has_access
    def list(self):
        widgets = self._list()
        self._audit_personal_search()
        return self.render_template(self.list_template, title=self.list_title, widgets=widgets,
                                    can_export=self.appbuilder.sm.has_access("can_export",
                                                                             self.class_permission_name),
                                    export_url=url_for(f"{self.endpoint}.export", **request.args),
                                    **finance_tools(self.order_type, self.export_kind, self._filters, widgets))

    @expose("/export/", methods=["POST"])
    @has_access
    def export(self):
        """Queue an .xlsx export of what the list currently shows; the job page shows progress."""
        from app.reports import exports

        get_filter_args(self._filters, disallow_if_not_in_search=False)
        try:
            job = exports.request_export(self.export_kind, criteria_of(self._filters), g.user)
        except DomainError as exc:
            flash(exc.message, "danger")
            return redirect(url_for(f"{self.endpoint}.list"))
        return redirect(url_for("ExportJobView.show", pk=job.id))  # built by the outbox after the commit


class AppointmentOrderView(OrderViewMixin, ModelView):
    """预约订单: search, detail with history, cancel with a mandatory reason (refund when paid), and
    已就诊 / 爽约 marked by hand with a reason when the HIS's attendance feed missed an order."""

    order_type = "appointment"
    export_kind = "appointment_orders"
    date_filters = (("created_at", _l("下单时间")), ("clinic_date", _l("就诊日期")))
    datamodel = fast_lists.EstimatedCountInterface(AppointmentOrder, {
        "order_no": [criterion("appointment", "order_no", _l("开头是"))],
        "patient_name": [criterion("appointment", "patient_name", _l("包含"))],
        "card_no": [criterion("appointment", "card_no", _l("等于"))],
        "phone": [criterion("appointment", "phone", _l("等于"))],
        "doctor": [criterion("appointment", "doctor", _l("包含"))],
        "department": [criterion("appointment", "department", _l("包含"))],
        "clinic_date": [criterion("appointment", "clinic_date_from", _l("从")),
                        criterion("appointment", "clinic_date_to", _l("至"))],
        "created_at": [criterion("appointment", "created_from", _l("从")),
                       criterion("appointment", "created_to", _l("至"))],
        "confirmed_at": [criterion("appointment", "confirmed_from", _l("从")),
                         criterion("appointment", "confirmed_to", _l("至"))],
        "channel": [criterion("appointment", "channel", _l("等于"))],
        "status": [criterion("appointment", "status", _l("等于"))],
        "stuck": [criterion("appointment", "stuck", _l("是"))],
    })
    base_permissions = ["can_list", "can_show", "can_export", "can_cancel_order", "can_mark_attendance"]
    method_permission_name = {"cancel_order": "cancel_order", "cancel": "cancel_order", "export": "export",
                              "list": "list", "show": "show", "mark_attendance": "mark_attendance",
                              "attendance": "mark_attendance"}
    base_order = ("id", "desc")
    list_columns = ["order_no", "patient", "patient.card_no", "department", "doctor", "clinic_date", "half_day",
                    "start_time", "channel", "status", "fee_fen", "created_at"]
    show_columns = ["order_no", "patient", "patient.card_no", "department", "doctor",
                    "clinic_date", "half_day", "start_time", "end_time", "registration_kind", "channel", "status",
                    "fee_fen", "his_visit_no", "queue_no", "location", "created_at", "expires_at", "paid_at",
                    "confirmed_at", "attended_at", "cancelled_at", "cancel_reason"]
    search_columns = ["order_no", "patient_name", "card_no", "phone", "doctor", "department", "clinic_date",
                      "created_at", "confirmed_at", "channel", "status", "stuck"]
    search_form_extra_fields = {
        "order_no": StringField(_l("订单号")), "patient_name": StringField(_l("就诊人姓名")),
        "card_no": StringField(_l("就诊卡号")), "phone": StringField(_l("手机号")),
        "doctor": StringField(_l("医生")), "department": StringField(_l("科室")),
        "clinic_date": StringField(_l("就诊日期"), description="YYYY-MM-DD"),
        "created_at": StringField(_l("下单时间"), description="YYYY-MM-DD"),
        "confirmed_at": StringField(_l("确认时间"), description="YYYY-MM-DD"),
        "channel": SelectField(_l("渠道"), choices=_choices(orders.CHANNELS)),
        "status": SelectField(_l("状态"), choices=_choices(orders.APPOINTMENT_STATUS)),
        "stuck": SelectField(_l("超时未推进"), choices=STUCK_CHOICES),
    }
    label_columns = COMMON_LABELS
    formatters_columns = {
        **TIME_FORMATTERS,
        "patient": _masked_patient,
        "channel": lambda v: orders.label(orders.CHANNELS, v),
        "status": lambda v: orders.label(orders.APPOINTMENT_STATUS, v),
        "half_day": lambda v: orders.label(orders.HALF_DAYS, v),
        "fee_fen": yuan_grouped,
    }
    list_title = _l("预约订单")
    show_title = _l("预约订单详情")

    @expose("/show/<pk>")
    @has_access
    def show(self, pk):
        item = self.datamodel.get(pk, self._base_filters)
        if item is None:
            abort(404)
        widgets = self._show(pk)
        audit.staff_viewed("staff.view_order", g.user, target_type="appointment", target_id=item.id)
        return self.render_template(
            self.show_template, pk=pk, title=self.show_title, widgets=widgets, related_views=[],
            item=item, history=orders.history("appointment", item.id),
            payments=orders.payments_of_appointment(item.id),
            refunds=[r for p in orders.payments_of_appointment(item.id) for r in orders.refunds_of(p.id)],
            patient_phone=mask_phone(item.patient.phone), labels=orders,
            can_cancel=self.appbuilder.sm.has_access("can_cancel_order", self.class_permission_name),
            cancel_url=url_for(f"{self.endpoint}.cancel", pk=item.id),
            can_mark_attendance=self.appbuilder.sm.has_access("can_mark_attendance", self.class_permission_name),
            attendance_url=url_for(f"{self.endpoint}.attendance", pk=item.id))

    def _one_order_form(self, items, form_endpoint: str, one_at_a_time: str):
        """A list action that opens a per-order form: one order at a time (each needs its own reason)."""
        items = items if isinstance(items, list) else [items]
        if len(items) != 1:
            flash(one_at_a_time, "warning")
            return redirect(url_for(f"{self.endpoint}.list"))
        return redirect(url_for(f"{self.endpoint}.{form_endpoint}", pk=items[0].id))

    @action("cancel_order", _l("取消预约"), multiple=True, single=False, icon="fa-ban")
    def cancel_order(self, items):
        """List action: open the cancel form for the chosen order (a reason is required)."""
        return self._one_order_form(items, "cancel", _("请一次选择一个订单取消"))

    @expose("/cancel/<int:pk>", methods=["GET", "POST"])
    @has_access
    def cancel(self, pk: int):
        """Cancel a booking with a mandatory reason; a paid one is refunded by the booking service."""
        item = self.datamodel.get(pk, self._base_filters)
        if item is None:
            abort(404)
        form = CancelBookingForm()
        from app import clock
        from app.registration.rules import clinic_is_over

        over = clinic_is_over(item.clinic_date, item.end_time, clock.beijing_now())
        if form.validate_on_submit():
            if over and not form.confirm_over.data:
                # the visit may have taken place: refunding it needs a deliberate confirmation
                form.confirm_over.errors = [_("就诊时间已过，请勾选确认后再取消")]
            else:
                try:
                    # The booking service refunds a paid fee, frees the slot, tells the HIS and the
                    # patient, and writes the audit row (before/after, reason, IP).
                    cancel_by_staff(item.id, form.reason.data.strip(), g.user.username)
                except DomainError as exc:
                    flash(exc.message, "danger")
                else:
                    flash(_("订单已取消"), "success")
                    return redirect(url_for(f"{self.endpoint}.show", pk=pk))
        return self.render_template("backoffice/cancel_booking.html", title=_("取消预约"), form=form, item=item,
                                    clinic_over=over,
                                    patient=mask_name(item.patient.name), fee=yuan(item.fee_fen),
                                    status=orders.label(orders.APPOINTMENT_STATUS, item.status),
                                    back_url=url_for(f"{self.endpoint}.show", pk=pk))

    @action("mark_attendance", _l("标记就诊情况"), multiple=True, single=False, icon="fa-user-md")
    def mark_attendance(self, items):
        """List action: open the 已就诊 / 爽约 form for the chosen order (with a reason)."""
        return self._one_order_form(items, "attendance", _("请一次选择一个订单标记"))

    @expose("/attendance/<int:pk>", methods=["GET", "POST"])
    @has_access
    def attendance(self, pk: int):
        """Record 已就诊 or 爽约 by hand with a mandatory reason; the booking service checks the clinic
        time has come, moves the order through the guarded move and writes the audit row."""
        item = self.datamodel.get(pk, self._base_filters)
        if item is None:
            abort(404)
        form = AttendanceForm(outcome=request.args.get("outcome") or None)
        if form.validate_on_submit():
            try:
                mark_attendance_by_staff(item.id, form.outcome.data, form.reason.data, g.user)
            except DomainError as exc:
                flash(exc.message, "danger")
            else:
                flash(_("已标记为%(status)s", status=orders.label(orders.APPOINTMENT_STATUS, form.outcome.data)),
                      "success")
                return redirect(url_for(f"{self.endpoint}.show", pk=pk))
        return self.render_template("backoffice/mark_attendance.html", title=_("标记就诊情况"), form=form,
                                    item=item, patient=mask_name(item.patient.name), fee=yuan(item.fee_fen),
                                    status=orders.label(orders.APPOINTMENT_STATUS, item.status),
                                    half_day=orders.label(orders.HALF_DAYS, item.half_day),
                                    back_url=url_for(f"{self.endpoint}.show", pk=pk))


class AttendanceForm(FlaskForm):
    outcome = RadioField(_l("就诊情况"), choices=[("visited", _l("已就诊")), ("no_show", _l("爽约"))],
                         validators=[DataRequired(message=_l("请选择就诊情况"))])
    reason = TextAreaField(_l("原因"), validators=[DataRequired(message=_l("请填写原因")),
                                                  Length(min=2, max=200, message=_l("原因为 2 到 200 个字"))])


class CancelBookingForm(FlaskForm):
    reason = TextAreaField(_l("取消原因"), validators=[DataRequired(message=_l("请填写取消原因")),
                                                      Length(min=2, max=255, message=_l("取消原因为 2 到 255 个字"))])
    confirm_over = BooleanField(_l("我已核实患者未就诊，确认取消并退费"))


class RefundView(list_tools.DatePresets, ModelView):
    """退费记录: every refund with its channel, reason and state; a failed one can be tried again (重试,
    audited). Refunds otherwise move only through the payment service."""

    datamodel = fast_lists.EstimatedCountInterface(Refund, {
        "refund_no": [criterion("refund", "refund_no", _l("开头是"))],
        "order_no": [criterion("refund", "order_no", _l("等于"))],
        "channel": [criterion("refund", "channel", _l("等于"))],
        "reason": [criterion("refund", "reason", _l("包含"))],
        "status": [criterion("refund", "status", _l("等于"))],
        "overdue": [criterion("refund", "overdue", _l("是"))],
        "created_at": [criterion("refund", "created_from", _l("从")), criterion("refund", "created_to", _l("至"))],
        "succeeded_at": [criterion("refund", "succeeded_from", _l("从")),
                         criterion("refund", "succeeded_to", _l("至"))],
    })
    base_permissions = ["can_list", "can_show", "can_retry"]
    method_permission_name = {"list": "list", "show": "show", "retry": "retry", "retry_one": "retry"}
    base_order = ("id", "desc")
    list_columns = ["refund_no", "payment", "payment.channel", "amount_fen", "status", "reason", "requested_by",
                    "created_at", "succeeded_at", "failure_reason"]
    show_columns = ["refund_no", "payment", "payment.channel", "amount_fen", "status", "reason", "requested_by",
                    "created_at", "succeeded_at", "channel_refund_no", "failure_reason", "attempts", "updated_at"]
    search_columns = ["refund_no", "order_no", "channel", "reason", "status", "overdue", "created_at", "succeeded_at"]
    search_form_extra_fields = {
        "refund_no": StringField(_l("退款单号")),
        "order_no": StringField(_l("订单号")),
        "channel": SelectField(_l("渠道"), choices=_choices(orders.CHANNELS)),
        "reason": StringField(_l("原因")),
        "status": SelectField(_l("状态"), choices=_choices(orders.REFUND_STATUS)),
        "overdue": SelectField(_l("超时未完成"), choices=[("", ""), ("1", _l("超时未完成"))]),
        "created_at": StringField(_l("申请时间"), description="YYYY-MM-DD"),
        "succeeded_at": StringField(_l("退款成功时间"), description="YYYY-MM-DD"),
    }
    label_columns = {**COMMON_LABELS, "payment.channel": _l("渠道"), "created_at": _l("申请时间")}
    formatters_columns = {**TIME_FORMATTERS, "amount_fen": yuan_grouped,
                          "created_at": one_line(beijing_time), "succeeded_at": one_line(beijing_time),
                          "payment": lambda p: p.order_no if p is not None else "",
                          "payment.channel": one_line(lambda v: orders.label(orders.CHANNELS, v)),
                          "status": lambda v: orders.label(orders.REFUND_STATUS, v)}
    list_title = _l("退费记录")
    show_title = _l("退费详情")
    date_filters = (("created_at", _l("申请时间")),)

    @expose("/list/")
    @has_access
    def list(self):
        widgets = self._list()
        return self.render_template(self.list_template, title=self.list_title, widgets=widgets,
                                    **finance_tools("refund", "refunds", self._filters, widgets))

    show_template = "backoffice/refund_show.html"

    @expose("/show/<pk>")
    @has_access
    def show(self, pk):
        """The refund; a failed one offers 重试 here too (退款失败 on the worklist leads to this page)."""
        item = self.datamodel.get(pk, self._base_filters)
        if item is None:
            abort(404)
        can_retry = (item.status == RefundStatus.FAILED
                     and self.appbuilder.sm.has_access("can_retry", self.class_permission_name))
        return self.render_template(self.show_template, pk=pk, title=self.show_title, widgets=self._show(pk),
                                    related_views=[], can_retry=can_retry,
                                    retry_url=url_for(f"{self.endpoint}.retry_one", pk=item.id))

    @action("retry", _l("重试"), _l("对选中的退款失败记录重新发起退款？"), icon="fa-repeat", multiple=True,
            single=False)
    def retry(self, items):
        """List action: try each chosen FAILED refund again (audited one by one)."""
        items = items if isinstance(items, list) else [items]
        done = 0
        for item in items:
            if self._retry(item.refund_no):
                done += 1
        if done:
            flash(_("已重新发起 %(n)s 笔退款", n=done), "success")
        self.update_redirect()
        return redirect(url_for(f"{self.endpoint}.list", **request.args))

    @expose("/retry/<int:pk>", methods=["POST"])
    @has_access
    def retry_one(self, pk: int):
        """重试 on a refund's detail page."""
        item = self.datamodel.get(pk, self._base_filters)
        if item is None:
            abort(404)
        if self._retry(item.refund_no):
            flash(_("已重新发起退款"), "success")
        return redirect(url_for(f"{self.endpoint}.show", pk=pk))

    def _retry(self, refund_no: str) -> bool:
        from app.payments import commands as payments

        try:
            again = payments.retry_refund(refund_no, f"staff:{g.user.username}")
        except DomainError as exc:
            flash(f"{refund_no}: {exc.message}", "danger")
            return False
        with unit_of_work():
            audit.record_staff("refund.retry", g.user, target_type="refund", target_id=refund_no,
                               before={"status": "failed"},
                               after={"refund_no": again.refund_no, "status": again.status})
        return True


class PaymentOrderView(OrderViewMixin, ModelView):
    """缴费订单: registration fees, outpatient bills and deposits, with their refunds and history."""

    order_type = "payment"
    export_kind = "payment_orders"
    datamodel = fast_lists.EstimatedCountInterface(PaymentOrder, {
        "order_no": [criterion("payment", "order_no", _l("开头是"))],
        "patient_name": [criterion("payment", "patient_name", _l("包含"))],
        "card_no": [criterion("payment", "card_no", _l("等于"))],
        "phone": [criterion("payment", "phone", _l("等于"))],
        "doctor": [criterion("payment", "doctor", _l("包含"))],
        "department": [criterion("payment", "department", _l("包含"))],
        "business_ref": [criterion("payment", "business_ref", _l("等于"))],
        "created_at": [criterion("payment", "created_from", _l("从")),
                       criterion("payment", "created_to", _l("至"))],
        "paid_at": [criterion("payment", "paid_from", _l("从")), criterion("payment", "paid_to", _l("至"))],
        "kind": [criterion("payment", "kind", _l("等于"))],
        "channel": [criterion("payment", "channel", _l("等于"))],
        "status": [criterion("payment", "status", _l("等于"))],
        "channel_trade_no": [criterion("payment", "channel_trade_no", _l("等于"))],
        "flag": [criterion("payment", "flag", _l("等于"))],
        "stuck": [criterion("payment", "stuck", _l("是"))],
    })
    base_permissions = ["can_list", "can_show", "can_export", "can_resolve_his"]
    method_permission_name = {"export": "export", "list": "list", "show": "show", "recheck_his": "resolve_his",
                              "refund_unknown": "resolve_his"}
    base_order = ("id", "desc")
    related_views = [RefundView]
    list_columns = ["order_no", "kind", "patient", "patient.card_no", "channel", "status", "amount_fen",
                    "refunded_fen", "created_at", "paid_at"]
    show_columns = ["order_no", "kind", "description", "patient", "patient.card_no", "business_ref", "channel",
                    "status", "amount_fen", "refunded_fen", "channel_trade_no", "flag", "created_at", "expires_at",
                    "paid_at", "closed_at", "his_receipt_no", "his_error"]
    search_columns = ["order_no", "channel_trade_no", "patient_name", "card_no", "phone", "doctor", "department",
                      "business_ref", "created_at", "paid_at", "kind", "channel", "status", "flag", "stuck"]
    search_form_extra_fields = {
        "order_no": StringField(_l("订单号")), "patient_name": StringField(_l("就诊人姓名")),
        "card_no": StringField(_l("就诊卡号")), "phone": StringField(_l("手机号")),
        "doctor": StringField(_l("医生")), "department": StringField(_l("科室")),
        "business_ref": StringField(_l("业务单号")),
        "created_at": StringField(_l("下单时间"), description="YYYY-MM-DD"),
        "paid_at": StringField(_l("支付时间"), description="YYYY-MM-DD"),
        "kind": SelectField(_l("业务类型"), choices=_choices(orders.KINDS)),
        "channel": SelectField(_l("渠道"), choices=_choices(orders.CHANNELS)),
        "status": SelectField(_l("状态"), choices=_choices(orders.PAYMENT_STATUS)),
        "channel_trade_no": StringField(_l("渠道交易号")),
        "flag": SelectField(_l("标记"), choices=_choices(orders.PAYMENT_FLAGS)),
        "stuck": SelectField(_l("超时未推进"), choices=STUCK_CHOICES),
    }
    label_columns = COMMON_LABELS
    formatters_columns = {
        **TIME_FORMATTERS,
        "patient": _masked_patient,
        "kind": lambda v: orders.label(orders.KINDS, v),
        "channel": lambda v: orders.label(orders.CHANNELS, v),
        "status": lambda v: orders.label(orders.PAYMENT_STATUS, v),
        "amount_fen": yuan_grouped, "refunded_fen": yuan_grouped,
    }
    list_title = _l("缴费订单")
    show_title = _l("缴费订单详情")

    @expose("/show/<pk>")
    @has_access
    def show(self, pk):
        item = self.datamodel.get(pk, self._base_filters)
        if item is None:
            abort(404)
        widgets = self._show(pk)
        audit.staff_viewed("staff.view_order", g.user, target_type="payment", target_id=item.id)
        refunds = orders.refunds_of(item.id)
        history = orders.history("payment", item.id)
        for refund in refunds:
            history += orders.history("refund", refund.id)
        history.sort(key=lambda t: (t.at, t.id))
        return self.render_template(
            self.show_template, pk=pk, title=self.show_title, widgets=widgets, related_views=[],
            item=item, history=history, payments=[], refunds=refunds,
            patient_phone=mask_phone(item.patient.phone), labels=orders, can_cancel=False, cancel_url=None,
            his_checks=orders.his_checks_of(item.id),
            can_resolve_his=item.status == PaymentStatus.CONFIRM_UNKNOWN and self.appbuilder.sm.has_access(
                "can_resolve_his", self.class_permission_name),
            recheck_url=url_for(f"{self.endpoint}.recheck_his", pk=item.id),
            refund_unknown_url=url_for(f"{self.endpoint}.refund_unknown", pk=item.id))

    @expose("/recheck_his/<int:pk>", methods=["POST"])
    @has_access
    def recheck_his(self, pk: int):
        """医院结果未知: ask the HIS now what it did with the trade (its answer is kept as evidence)."""
        item = self.datamodel.get(pk, self._base_filters)
        if item is None:
            abort(404)
        from app.payments import commands as payments

        status = payments.recheck_unknown(item.order_no, actor=f"staff:{g.user.username}")
        with unit_of_work():
            audit.record_staff("payment.recheck_his", g.user, target_type="payment_order", target_id=item.order_no,
                               before={"status": "confirm_unknown"}, after={"status": str(status)})
        flash(_("已向医院核实：%(status)s", status=orders.label(orders.PAYMENT_STATUS, str(status))), "info")
        return redirect(url_for(f"{self.endpoint}.show", pk=pk))

    @expose("/refund_unknown/<int:pk>", methods=["POST"])
    @has_access
    def refund_unknown(self, pk: int):
        """Finance checked with the hospital that it did not apply the trade (the HIS cannot be asked): refund."""
        item = self.datamodel.get(pk, self._base_filters)
        if item is None:
            abort(404)
        from app.payments import commands as payments

        note = (request.form.get("note") or "").strip()
        try:
            payments.refund_unknown_checked_by_staff(item.order_no, note, g.user.username)
        except DomainError as exc:
            flash(exc.message, "danger")
        else:
            with unit_of_work():
                audit.record_staff("payment.refund_unknown", g.user, target_type="payment_order",
                                   target_id=item.order_no, before={"status": "confirm_unknown"},
                                   after={"status": "confirm_failed"}, reason=note[:200])
            flash(_("已确认医院未入账，款项将原路退回"), "success")
        return redirect(url_for(f"{self.endpoint}.show", pk=pk))


class PatientView(ModelView):
    """就诊人 lookup for the service desk: masked everywhere; opening one is audited."""

    datamodel = CriteriaInterface(Patient, {
        "name": [criterion("patient", "name", _l("等于"))],
        "card_no": [criterion("patient", "card_no", _l("等于"))],
        "phone": [criterion("patient", "phone", _l("等于"))],
    })
    base_permissions = ["can_list", "can_show"]
    base_order = ("id", "desc")
    list_columns = ["name", "card_no", "phone", "gender", "relation", "channel", "status", "bound_at"]
    show_columns = list_columns + ["id_number", "birth_date", "his_patient_id"]
    search_columns = ["name", "card_no", "phone"]
    search_form_extra_fields = {"name": StringField(_l("姓名")), "card_no": StringField(_l("就诊卡号")),
                                "phone": StringField(_l("手机号"))}
    label_columns = {"name": _l("姓名"), "card_no": _l("就诊卡号"), "phone": _l("手机号"), "gender": _l("性别"),
                     "relation": _l("关系"), "channel": _l("渠道"), "status": _l("状态"), "bound_at": _l("绑定时间"),
                     "id_number": _l("身份证号"), "birth_date": _l("出生日期"), "his_patient_id": _l("HIS 患者号")}
    formatters_columns = {"name": mask_name, "phone": mask_phone, "id_number": mask_id_number,
                          "bound_at": beijing_time, "channel": lambda v: orders.label(orders.CHANNELS, v),
                          "birth_date": lambda d: f"{d:%Y}-**-**" if d else ""}
    list_title = _l("就诊人")
    show_title = _l("就诊人详情")

    @expose("/list/")
    @has_access
    def list(self):
        widgets = self._list()
        searched = criteria_of(self._filters)
        if searched:
            audit.staff_viewed("staff.search_personal", g.user, target_type="patient",
                               criteria={k: (mask_name(v) if k == "name" else mask_phone(v) if k == "phone" else v)
                                         for k, v in searched.items()})
        return self.render_template(self.list_template, title=self.list_title, widgets=widgets)

    @expose("/show/<pk>")
    @has_access
    def show(self, pk):
        item = self.datamodel.get(pk, self._base_filters)
        if item is None:
            abort(404)
        audit.staff_viewed("staff.view_patient", g.user, target_type="patient", target_id=item.id)
        return self.render_template(self.show_template, pk=pk, title=self.show_title, widgets=self._show(pk),
                                    related_views=[])
