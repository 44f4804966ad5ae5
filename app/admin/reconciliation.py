"""对账: reconciliation runs and their differences; finance resolves each with an audited comment."""

from __future__ import annotations

import json

from flask import abort, flash, redirect, request, url_for
from flask_appbuilder import ModelView, expose, has_access
from flask_appbuilder.security.decorators import permission_name
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from markupsafe import Markup, escape
from wtforms import SelectField, StringField

from app import clock
from app.admin.filters import CriteriaInterface, criterion, day_range
from app.admin.list_tools import DatePresets
from app.models import ReconciliationItem, ReconciliationRun
from app.reconciliation.states import RUN_STATUS_LABELS
from app.services.errors import DomainError
from app.services.formatting import yuan
from app.backoffice.orders import CHANNELS, PAYMENT_STATUS, label

KIND_LABELS = {
    "channel_only": _l("长款（仅渠道有）"), "local_only": _l("短款（仅本地有）"),
    "amount_mismatch": _l("金额不一致"), "state_mismatch": _l("状态不一致"),
    "his_unconfirmed": _l("医院未确认"), "his_missing": _l("医院无此笔"), "his_kept": _l("已退款但医院已入账"),
    "his_amount": _l("医院金额不符"), "his_unknown": _l("医院结果未知"),
}
SOURCE_LABELS = {"channel": _l("支付渠道"), "his": _l("医院 HIS")}
#: the fields of a difference's evidence (both sides' records) as finance reads them
EVIDENCE_FIELDS = {
    "platform": _l("平台记录"), "his": _l("医院 HIS 记录"), "order_no": _l("订单号"), "status": _l("状态"),
    "amount_fen": _l("金额(元)"), "refunded_fen": _l("已退款(元)"), "his_receipt_no": _l("HIS 收据号"),
    "his_error": _l("HIS 错误"), "trade_no": _l("渠道交易号"), "applied": _l("医院已入账"),
    "applied_fen": _l("医院入账金额(元)"), "records": _l("医院入账记录"), "kind": _l("业务类型"),
    "ref": _l("业务单号"), "receipt_no": _l("收据号"), "applied_at": _l("入账时间"),
}
EVIDENCE_VALUES = {"applied": _l("已入账"), "reversed": _l("已冲回"), "registration": _l("挂号费"),
                   "outpatient": _l("门诊缴费"), "deposit": _l("住院押金")}


def _evidence_value(key: str, value) -> Markup | str:
    if isinstance(value, dict):
        return evidence_html(value)
    if isinstance(value, list):
        return Markup("").join(_evidence_value(key, v) for v in value) if value else "—"
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return str(_l("是") if value else _l("否"))
    if key.endswith("_fen") and isinstance(value, int):
        return yuan(value)
    if key == "status":
        return label({**PAYMENT_STATUS, **EVIDENCE_VALUES}, value)
    return str(EVIDENCE_VALUES.get(value, value)) if key == "kind" else str(value)


def evidence_html(evidence) -> Markup:
    """Both sides' records (the JSON kept with a difference) as a small table in Chinese, amounts in yuan."""
    if isinstance(evidence, str):
        try:
            evidence = json.loads(evidence)
        except ValueError:
            return escape(evidence)
    if evidence is None:
        return Markup("—")
    if not isinstance(evidence, dict):
        return escape(str(evidence))
    rows = Markup("").join(
        Markup("<tr><th style='white-space:nowrap'>{}</th><td>{}</td></tr>").format(
            str(EVIDENCE_FIELDS.get(k, k)), _evidence_value(k, v)) for k, v in evidence.items())
    return Markup("<table class='table table-condensed table-bordered' style='margin:0'>{}</table>").format(rows)


def _channel_amount(fen: int | None, row: dict) -> str:
    """渠道金额 of a difference: for one found against the HIS (医院无此笔 …) the column holds the HIS's
    figure, and the channel took the platform's amount (app/reconciliation/desk.py channel_fen)."""
    if row.get("source") == "his":
        fen = row.get("local_amount_fen")
    return "" if fen is None else yuan(fen)


_channel_amount.with_row = True


class ReconciliationItemView(DatePresets, ModelView):
    datamodel = CriteriaInterface(ReconciliationItem, {
        "open": [criterion("reconciliation", "open", _l("是"))],
        "bill_date": day_range(_l("账单日期"), as_utc=False, column=ReconciliationRun.bill_date,
                               through=(ReconciliationItem.run_id, ReconciliationRun.id)),
    })
    date_filters = (("bill_date", _l("账单日期")),)
    class_permission_name = "ReconciliationItemView"
    base_permissions = ["can_list", "can_show", "can_resolve"]
    base_order = ("id", "desc")
    list_columns = ["run.bill_date", "run.channel", "source", "kind", "order_no", "channel_trade_no",
                    "local_amount_fen", "channel_amount_fen", "note", "resolved_at", "resolved_by"]
    show_columns = ["run.bill_date", "run.channel", "source", "kind", "order_no", "channel_trade_no",
                    "local_amount_fen", "channel_amount_fen", "note", "evidence", "resolved_at", "resolved_by"]
    search_columns = ["kind", "order_no", "channel_trade_no", "bill_date", "open"]
    search_form_extra_fields = {"open": SelectField(_l("未处理"), choices=[("", ""), ("1", _l("未处理"))]),
                                "bill_date": StringField(_l("账单日期"), description="YYYY-MM-DD")}
    label_columns = {"run.bill_date": _l("账单日期"), "bill_date": _l("账单日期"), "run.channel": _l("渠道"),
                     "order_no": _l("订单号"), "channel_trade_no": _l("渠道交易号"),
                     "local_amount_fen": _l("本地金额(元)"),
                     "channel_amount_fen": _l("渠道金额(元)"), "note": _l("说明"), "resolved_at": _l("处理时间"),
                     "resolved_by": _l("处理人"), "kind": _l("差异类型"), "source": _l("差异来源"),
                     "evidence": _l("双方记录")}
    list_title = _l("对账差异")
    formatters_columns = {
        "kind": lambda kind: str(KIND_LABELS.get(kind, kind)),
        "source": lambda source: str(SOURCE_LABELS.get(source, source)),
        "local_amount_fen": lambda fen: "" if fen is None else yuan(fen),
        "channel_amount_fen": _channel_amount,
        "run.channel": lambda code: label(CHANNELS, code),
        "resolved_at": lambda at: clock.display(at) or "—",
        "evidence": evidence_html,
    }
    show_title = _l("对账差异详情")

    @expose("/show/<pk>", methods=["GET"])
    @has_access
    def show(self, pk):
        """FAB's detail with the difference itself, so the page can offer 标记为已处理 while it is open."""
        item = self.datamodel.get(pk, self._base_filters)
        if item is None:
            abort(404)
        return self.render_template(self.show_template, pk=pk, title=self.show_title, widgets=self._show(pk),
                                    related_views=self._related_views, item=item)

    @expose("/resolve/<int:pk>", methods=["POST"])
    @has_access
    @permission_name("resolve")
    def resolve(self, pk: int):
        from app.reconciliation.runs import resolve_item

        try:
            resolve_item(pk, request.form.get("comment", ""), current_user.username)
            flash(str(_l("已标记为已处理")), "success")
        except DomainError as error:
            flash(error.message, "danger")
        return redirect(url_for("ReconciliationItemView.show", pk=pk))

    show_template = "admin/reconciliation_item_show.html"


class ReconciliationRunView(DatePresets, ModelView):
    datamodel = CriteriaInterface(ReconciliationRun, {"bill_date": day_range(_l("账单日期"), as_utc=False)})
    date_filters = (("bill_date", _l("账单日期")),)
    search_form_extra_fields = {"bill_date": StringField(_l("账单日期"), description="YYYY-MM-DD")}
    class_permission_name = "ReconciliationRunView"
    base_permissions = ["can_list", "can_show"]
    base_order = ("bill_date", "desc")
    list_columns = ["bill_date", "channel", "status", "progress", "channel_count", "local_count", "mismatch_count",
                    "error", "finished_at"]
    show_columns = ["bill_date", "channel", "status", "progress", "channel_count", "channel_total_fen", "local_count",
                    "local_total_fen", "mismatch_count", "error", "created_at", "finished_at"]
    search_columns = ["bill_date", "channel", "status"]
    label_columns = {"bill_date": _l("账单日期"), "channel": _l("渠道"), "status": _l("状态"),
                     "channel_total_fen": _l("渠道净额(元)"), "local_total_fen": _l("本地净额(元)"),
                     "created_at": _l("开始时间"),
                     "progress": _l("进度(%)"), "channel_count": _l("渠道笔数"), "local_count": _l("本地笔数"),
                     "mismatch_count": _l("差异数"), "error": _l("错误"), "finished_at": _l("完成时间")}
    list_title = _l("对账记录")
    show_title = _l("对账记录详情")
    formatters_columns = {"channel": lambda code: label(CHANNELS, code),
                          "status": lambda code: label(RUN_STATUS_LABELS, code),
                          "finished_at": clock.display, "created_at": clock.display,
                          "channel_total_fen": yuan, "local_total_fen": yuan}
    related_views = [ReconciliationItemView]
