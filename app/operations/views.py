"""Back-office: 运维 › 数据维护 (repair requests). Thin: the rules are in app/operations/commands.py.

Admin only (``can_propose``, ``can_decide``); the list shows every request with its state, the detail
shows before/after, the reason and who proposed and decided, and offers 审批通过 / 驳回 to anyone
but the proposer (who may 撤回)."""

from __future__ import annotations

from flask import abort, flash, g, redirect, request, url_for
from flask_appbuilder import ModelView
from flask_appbuilder.security.decorators import has_access
from flask_appbuilder.views import expose
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import StringField

from app.admin.filters import CriteriaInterface, beijing_time, day_range
from app.admin.list_tools import DatePresets
from app.operations import commands, queries
from app.operations.models import RepairRequest
from app.operations.states import RepairKind, RepairStatus
from app.backoffice import orders
from app.services.errors import DomainError
from app.services.formatting import mask_phone

KIND_LABELS = {RepairKind.CONTACT: _l("更正就诊人手机号"), RepairKind.ATTENDANCE: _l("更正就诊情况"),
               RepairKind.STATE: _l("处理卡住的订单状态")}
STATUS_LABELS = {RepairStatus.PROPOSED: _l("待审批"), RepairStatus.APPLIED: _l("已执行"),
                 RepairStatus.FAILED: _l("未能执行"), RepairStatus.REJECTED: _l("已驳回"),
                 RepairStatus.WITHDRAWN: _l("已撤回")}
TARGET_LABELS = {"appointment": _l("预约订单"), "payment": _l("缴费订单"), "refund": _l("退款单")}


def state_label(machine: str, value: str | None) -> str:
    """An order state in the back-office's words (预约订单 and 缴费订单 have their own tables)."""
    table = orders.STATUS_BY_TYPE.get(machine, {})
    return orders.label(table, value) if value else ""


def shown_value(item: RepairRequest, value: str | None) -> str:
    if item.field == "phone":
        return mask_phone(value)
    return state_label(item.target_type, value)


def _listed(value: str | None) -> str:
    """A phone masked, a state in words (the list has no row context: the tables agree on names)."""
    if not value:
        return ""
    if value.isdigit():
        return mask_phone(value)
    for table in orders.STATUS_BY_TYPE.values():
        if value in table:
            return orders.label(table, value)
    return value


class RepairRequestView(DatePresets, ModelView):
    # 今天 … 上月 and a custom range on 申请时间 above the list, as on the other back-office lists
    datamodel = CriteriaInterface(RepairRequest, {"proposed_at": day_range(_l("申请时间"))})
    date_filters = (("proposed_at", _l("申请时间")),)
    search_form_extra_fields = {"proposed_at": StringField(_l("申请时间"), description="YYYY-MM-DD")}
    base_permissions = ["can_list", "can_show", "can_propose", "can_decide"]
    method_permission_name = {"list": "list", "show": "show", "new": "propose", "withdraw": "propose",
                              "decide": "decide"}
    base_order = ("id", "desc")
    list_columns = ["id", "kind", "order_no", "before_value", "after_value", "status", "proposed_by", "proposed_at",
                    "decided_by", "decided_at"]
    search_columns = ["order_no", "status", "kind", "proposed_by", "decided_by", "proposed_at"]
    label_columns = {"id": _l("编号"), "kind": _l("维护类型"), "order_no": _l("订单号"), "before_value": _l("修改前"),
                     "after_value": _l("修改后"), "status": _l("状态"), "proposed_by": _l("申请人"),
                     "proposed_at": _l("申请时间"), "decided_by": _l("审批人"), "decided_at": _l("审批时间"),
                     "reason": _l("原因"), "decision_note": _l("审批意见")}
    formatters_columns = {"kind": lambda v: str(KIND_LABELS.get(v, v)),
                          "status": lambda v: str(STATUS_LABELS.get(v, v)),
                          "proposed_at": beijing_time, "decided_at": beijing_time,
                          "before_value": lambda v: _listed(v), "after_value": lambda v: _listed(v)}
    list_title = _l("数据维护")
    show_template = "backoffice/repair_show.html"
    list_widget_buttons = True

    def render_template(self, template, **kwargs):
        # the list (often empty) starts a request too, not only the menu
        if template == self.list_template and self.appbuilder.sm.has_access("can_propose", self.class_permission_name):
            kwargs.setdefault("new_url", url_for(f"{self.endpoint}.new"))
            kwargs.setdefault("new_label", _("新建维护申请"))
            kwargs.setdefault("new_test", "new-repair")
        return super().render_template(template, **kwargs)

    @expose("/show/<pk>")
    @has_access
    def show(self, pk):
        item = self.datamodel.get(pk)
        if item is None:
            abort(404)
        return self.render_template(
            self.show_template, title=_("数据维护申请 #%(id)s", id=item.id), item=item,
            kind=KIND_LABELS.get(item.kind, item.kind), status=STATUS_LABELS.get(item.status, item.status),
            target=TARGET_LABELS.get(item.target_type, item.target_type),
            before=shown_value(item, item.before_value), after=shown_value(item, item.after_value),
            pending=item.status == RepairStatus.PROPOSED, mine=item.proposed_by_id == g.user.id,
            can_decide=self.appbuilder.sm.has_access("can_decide", self.class_permission_name),
            decide_url=url_for(f"{self.endpoint}.decide", pk=item.id),
            withdraw_url=url_for(f"{self.endpoint}.withdraw", pk=item.id), beijing_time=beijing_time)

    @expose("/new/", methods=["GET", "POST"])
    @has_access
    def new(self):
        """Find the order by its number, choose what to correct, give the new value and a reason."""
        order_no = (request.values.get("order_no") or "").strip()
        target = queries.find_target(order_no) if order_no else None
        error = None
        if order_no and target is None:
            error = _("未找到该订单号")
        if request.method == "POST" and target is not None:
            kind = request.form.get("kind", "")
            after = request.form.get(f"after_{kind}", "")
            try:
                created = commands.propose(g.user, order_no, kind, after, request.form.get("reason", ""))
            except DomainError as exc:
                error = exc.message
            else:
                flash(_("维护申请已提交，需另一位管理员审批后才会执行"), "success")
                return redirect(url_for(f"{self.endpoint}.show", pk=created.id))
        return self.render_template(
            "backoffice/repair_new.html", title=_("新建数据维护申请"), order_no=order_no, target=target, error=error,
            kinds=queries.kinds_for(target) if target else [], kind_labels=KIND_LABELS,
            target_label=TARGET_LABELS.get(target.target_type, "") if target else "",
            status_label=state_label(target.target_type, target.status) if target else "",
            phone=mask_phone(target.phone) if target else "",
            next_states=[(s, state_label(target.target_type, s)) for s in target.next_states()] if target else [],
            attendance=[(s, state_label("appointment", s)) for s in target.attendance_choices()] if target else [],
            form=request.form, back_url=url_for(f"{self.endpoint}.list"))

    @expose("/decide/<int:pk>", methods=["POST"])
    @has_access
    def decide(self, pk: int):
        """审批通过 (and execute) or 驳回, by anyone with the permission but the proposer."""
        verdict, note = request.form.get("verdict"), request.form.get("note", "")
        try:
            if verdict == "approve":
                done = commands.approve(g.user, pk, note)
                if done.status == RepairStatus.APPLIED:
                    flash(_("已审批通过并执行"), "success")
                else:
                    flash(_("已审批，但未能执行：%(why)s", why=done.decision_note), "warning")
            elif verdict == "reject":
                commands.reject(g.user, pk, note)
                flash(_("已驳回"), "success")
            else:
                abort(400)
        except DomainError as exc:
            flash(exc.message, "danger")
        return redirect(url_for(f"{self.endpoint}.show", pk=pk))

    @expose("/withdraw/<int:pk>", methods=["POST"])
    @has_access
    def withdraw(self, pk: int):
        try:
            commands.withdraw(g.user, pk)
            flash(_("已撤回"), "success")
        except DomainError as exc:
            flash(exc.message, "danger")
        return redirect(url_for(f"{self.endpoint}.show", pk=pk))
