"""对账: reconciliation runs and their differences; finance resolves each with an audited comment."""

from __future__ import annotations

from flask import flash, redirect, request, url_for
from flask_appbuilder import ModelView, expose, has_access
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.security.decorators import permission_name
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from app.models import ReconciliationItem, ReconciliationRun
from app.services.errors import DomainError
from app.services.formatting import yuan

KIND_LABELS = {
    "channel_only": _l("长款（仅渠道有）"), "local_only": _l("短款（仅本地有）"),
    "amount_mismatch": _l("金额不一致"), "state_mismatch": _l("状态不一致"),
    "his_unconfirmed": _l("医院未确认"),
}


class ReconciliationItemView(ModelView):
    datamodel = SQLAInterface(ReconciliationItem)
    class_permission_name = "ReconciliationItemView"
    base_permissions = ["can_list", "can_show", "can_resolve"]
    base_order = ("id", "desc")
    list_columns = ["run.bill_date", "run.channel", "kind", "order_no", "channel_trade_no", "local_amount_fen",
                    "channel_amount_fen", "note", "resolved_at", "resolved_by"]
    show_columns = list_columns
    search_columns = ["kind", "order_no", "channel_trade_no", "resolved_at"]
    label_columns = {"run.bill_date": _l("账单日期"), "run.channel": _l("渠道"),
                     "order_no": _l("订单号"), "channel_trade_no": _l("渠道交易号"),
                     "local_amount_fen": _l("本地金额(元)"),
                     "channel_amount_fen": _l("渠道金额(元)"), "note": _l("说明"), "resolved_at": _l("处理时间"),
                     "resolved_by": _l("处理人"), "kind": _l("差异类型")}
    list_title = _l("对账差异")
    formatters_columns = {
        "kind": lambda kind: str(KIND_LABELS.get(kind, kind)),
        "local_amount_fen": lambda fen: "" if fen is None else yuan(fen),
        "channel_amount_fen": lambda fen: "" if fen is None else yuan(fen),
    }

    @expose("/resolve/<int:pk>", methods=["POST"])
    @has_access
    @permission_name("resolve")
    def resolve(self, pk: int):
        from app.services.reconciliation import resolve_item

        try:
            resolve_item(pk, request.form.get("comment", ""), current_user.username)
            flash(str(_l("已标记为已处理")), "success")
        except DomainError as error:
            flash(error.message, "danger")
        return redirect(url_for("ReconciliationItemView.show", pk=pk))

    show_template = "admin/reconciliation_item_show.html"


class ReconciliationRunView(ModelView):
    datamodel = SQLAInterface(ReconciliationRun)
    class_permission_name = "ReconciliationRunView"
    base_permissions = ["can_list", "can_show"]
    base_order = ("bill_date", "desc")
    list_columns = ["bill_date", "channel", "status", "progress", "channel_count", "local_count", "mismatch_count",
                    "error", "finished_at"]
    search_columns = ["bill_date", "channel", "status"]
    label_columns = {"bill_date": _l("账单日期"), "channel": _l("渠道"), "status": _l("状态"),
                     "progress": _l("进度(%)"), "channel_count": _l("渠道笔数"), "local_count": _l("本地笔数"),
                     "mismatch_count": _l("差异数"), "error": _l("错误"), "finished_at": _l("完成时间")}
    list_title = _l("对账记录")
    related_views = [ReconciliationItemView]
