"""Operations views: audit log (read-only; an administrator exports it)."""

from __future__ import annotations

import datetime as dt
import tempfile

from flask import after_this_request, flash, g, redirect, request, send_file, url_for
from flask_appbuilder import ModelView, expose
from flask_appbuilder.security.decorators import has_access
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup

from wtforms import StringField

from app import clock
from app.admin.filters import CriteriaInterface, day_range
from app.admin.list_tools import DatePresets
from app.models import AuditLog

EXPORT_MAX_DAYS = 366

#: each audited action as staff read it (the code stays beside it: the runbook and the logs name the code)
AUDIT_ACTIONS = {
    "staff.login": _l("登录后台"), "staff.logout": _l("退出登录"), "staff.login_failed": _l("登录失败"),
    "staff.login_refused_locked": _l("账号已锁定，拒绝登录"), "staff.login_throttled": _l("登录过于频繁，已限制"),
    "staff.account_locked": _l("账号被锁定"), "staff.session_ended": _l("会话已结束"),
    "staff.password_changed": _l("修改密码"), "staff.password_change_refused": _l("修改密码被拒绝"),
    "staff.view_order": _l("查看订单"), "staff.view_patient": _l("查看就诊人"),
    "staff.trace_search": _l("订单全链路查询"),
    "staff.search_personal": _l("按个人信息搜索"), "staff.export_requested": _l("提交导出"),
    "staff.export_download": _l("下载导出文件"), "staff.analytics_export": _l("导出数据分析"),
    "staff.audit_export": _l("导出审计日志"), "staff.reconciliation_download": _l("下载对账表"),
    "staff.operator_add": _l("新增操作员"), "staff.operator_create": _l("创建操作员"),
    "staff.operator_edit": _l("修改操作员"), "staff.operator_disable": _l("停用操作员"),
    "staff.operator_deactivate": _l("停用操作员"), "staff.operator_delete": _l("删除操作员"),
    "staff.operator_department": _l("修改操作员科室"), "staff.operator_reset_password": _l("重置操作员密码"),
    "staff.operator_unlock": _l("解锁操作员"), "staff.role_create": _l("新建角色"), "staff.role_delete": _l("删除角色"),
    "staff.role_permissions": _l("修改角色权限"),
    "booking.cancel": _l("取消预约"), "booking.attendance": _l("标记就诊情况"), "schedule.stopped": _l("停诊"),
    "payment.recheck_his": _l("向医院核实缴费"), "payment.refund_unknown": _l("确认医院未入账并退款"),
    "refund.retry": _l("重试退款"), "reconciliation.resolve": _l("标记对账差异已处理"),
    "reconciliation.rerun": _l("重新对账"), "repair.propose": _l("提交数据维护申请"),
    "repair.apply": _l("审批并执行数据维护"), "repair.reject": _l("驳回数据维护申请"),
    "repair.withdraw": _l("撤回数据维护申请"), "repair.failed": _l("数据维护执行失败"),
    "inspection.save": _l("保存巡检报告"), "inspection.download": _l("下载巡检报告"),
    "patient.sign_in": _l("患者登录"), "patient.bind": _l("患者绑卡"), "patient.bind_failed": _l("患者绑卡失败"),
    "patient.bind_throttled": _l("患者绑卡过于频繁"), "patient.unbind": _l("患者解绑"),
    "patient.update": _l("患者修改就诊人"), "patient.view_report": _l("患者查看报告"),
    "system.audit_purged": _l("清理过期审计日志"),
}


def action_label(code: str | None) -> Markup:
    """"登录后台 staff.login": the action in Chinese, its code small beside it (searched by, named in the runbook)."""
    if not code:
        return Markup("")
    text = AUDIT_ACTIONS.get(code)
    if text is None:
        return Markup("{}").format(code)
    return Markup('{} <small class="text-muted">{}</small>').format(str(text), code)


class AuditLogView(DatePresets, ModelView):
    datamodel = CriteriaInterface(AuditLog, {"at": day_range(_l("时间"))})
    date_filters = (("at", _l("时间")),)
    search_form_extra_fields = {"at": StringField(_l("时间"), description="YYYY-MM-DD")}
    base_permissions = ["can_list", "can_show", "can_export"]
    base_order = ("at", "desc")
    list_columns = ["at", "actor_type", "actor_name", "action", "target_type", "target_id", "ip"]
    show_columns = list_columns + ["actor_id", "detail"]
    search_columns = ["actor_type", "actor_name", "action", "target_type", "target_id", "at"]
    label_columns = {
        "at": _l("时间"), "actor_type": _l("操作者类型"), "actor_name": _l("操作者"), "actor_id": _l("操作者编号"),
        "action": _l("操作"), "target_type": _l("对象类型"), "target_id": _l("对象编号"), "detail": _l("详情"),
        "ip": _l("IP 地址"),
    }
    formatters_columns = {"action": action_label}
    list_title = _l("审计日志")
    show_title = _l("审计日志详情")

    @expose("/export/")
    @has_access
    def export(self):
        """审计日志 of Beijing days ?start=YYYY-MM-DD&end=YYYY-MM-DD (default: the last 30 days) as .xlsx;
        the export itself is audited."""
        from app.security.audit_trail import write_workbook
        from app.services import audit
        from app.services.uow import unit_of_work

        try:
            end = dt.date.fromisoformat(request.args.get("end") or clock.today().isoformat())
            start = dt.date.fromisoformat(request.args.get("start") or (end - dt.timedelta(days=29)).isoformat())
        except ValueError:
            flash(_("日期格式应为 YYYY-MM-DD"), "danger")
            return redirect(url_for("AuditLogView.list"))
        if start > end or (end - start).days >= EXPORT_MAX_DAYS:
            flash(_("导出范围须在 %(n)d 天以内", n=EXPORT_MAX_DAYS), "danger")
            return redirect(url_for("AuditLogView.list"))
        handle = tempfile.NamedTemporaryFile(suffix=".xlsx", delete=False)
        handle.close()
        rows = write_workbook(handle.name, start, end)
        with unit_of_work():
            audit.record_staff("staff.audit_export", g.user, target_type="audit_log", start=start, end=end,
                               rows=rows)

        @after_this_request
        def _remove(response):
            import os

            try:
                os.unlink(handle.name)
            except OSError:
                pass
            return response

        return send_file(handle.name, as_attachment=True, download_name=f"审计日志_{start:%Y%m%d}-{end:%Y%m%d}.xlsx",
                         mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
