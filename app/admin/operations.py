"""Operations views: audit log (read-only; an administrator exports it)."""

from __future__ import annotations

import datetime as dt
import tempfile

from flask import after_this_request, flash, g, redirect, request, send_file, url_for
from flask_appbuilder import ModelView, expose
from flask_appbuilder.security.decorators import has_access
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from wtforms import StringField

from app import clock
from app.admin.filters import CriteriaInterface, day_range
from app.admin.list_tools import DatePresets
from app.admin.display import audit_action_label
from app.models import AuditLog

EXPORT_MAX_DAYS = 366

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
    formatters_columns = {"action": audit_action_label}
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
