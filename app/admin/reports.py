"""Finance reports: transaction statistics (交易统计) with its chart, and report downloads (报表下载)."""

from __future__ import annotations

import datetime as dt
import json

from flask import abort, flash, g, jsonify, redirect, request, send_file, url_for
from flask_appbuilder import BaseView, ModelView
from flask_appbuilder.models.sqla.filters import FilterEqualFunction
from flask_appbuilder.security.decorators import has_access
from flask_appbuilder.views import expose
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup
from wtforms import StringField

from app import clock
from app.admin.filters import CriteriaInterface, beijing_time, day_range
from app.admin.list_tools import DatePresets
from app.models import ExportJob
from app.services import audit
from app.backoffice import orders
from app.reports import exports, statistics
from app.services.errors import DomainError
from app.services.formatting import yuan_grouped
from app.services.states import ExportStatus


def beijing_today() -> dt.date:
    return clock.today()


def requested_range() -> tuple[dt.date, dt.date]:
    """The range in the query string, or the last 30 days (Beijing) when none; a date that cannot be read
    or a reversed range is a DomainError with a message for the clerk."""
    from app.services import date_ranges

    return date_ranges.parse_range(request.values.get("start"), request.values.get("end"))


class StatisticsView(BaseView):
    """交易统计: counts and amounts by day, channel, business type and state, net of refunds."""

    route_base = "/statistics"
    default_view = "index"
    base_permissions = ["can_index", "can_export"]

    @expose("/")
    @has_access
    def index(self):
        try:
            start, end = requested_range()
            stats = statistics.transaction_statistics(start, end)
        except DomainError as exc:
            flash(exc.message, "danger")
            start, end = beijing_today() - dt.timedelta(days=29), beijing_today()
            stats = statistics.transaction_statistics(start, end)
        from app.services import date_ranges

        return self.render_template(
            "backoffice/statistics.html", title=_("交易统计"), stats=stats, start=start, end=end,
            range_presets=date_ranges.presets(), active_preset=date_ranges.active_preset(start, end), keep={},
            chart=statistics.daily_series(stats), yuan=yuan_grouped, labels=orders,
            can_export=self.appbuilder.sm.has_access("can_export", self.class_permission_name))

    @expose("/export", methods=["POST"])
    @has_access
    def export(self):
        """Queue the statistics workbook for the chosen range; the job page shows progress."""
        try:
            start, end = requested_range()
            job = exports.request_export("statistics", {"start": start.isoformat(), "end": end.isoformat()},
                                         g.user)
        except DomainError as exc:
            flash(exc.message, "danger")
            return redirect(url_for("StatisticsView.index"))
        return redirect(url_for("ExportJobView.show", pk=job.id))  # built by the outbox after the commit


def _progress_bar(value: int | None) -> Markup:
    value = int(value or 0)
    return Markup('<div class="progress" style="margin:0;min-width:120px"><div class="progress-bar" '
                  'role="progressbar" style="width:{0}%">{0}%</div></div>').format(value)


class ExportJobView(DatePresets, ModelView):
    """报表下载: the operator's own export jobs with a progress bar and, when done, the file."""

    datamodel = CriteriaInterface(ExportJob, {"created_at": day_range(_l("提交时间"))})
    date_filters = (("created_at", _l("提交时间")),)
    base_permissions = ["can_list", "can_show", "can_download"]
    method_permission_name = {"download": "download", "progress": "show", "list": "list", "show": "show"}
    base_filters = [["requested_by", FilterEqualFunction, lambda: g.user.id]]
    base_order = ("id", "desc")
    list_columns = ["id", "kind", "status", "progress", "row_count", "created_at", "finished_at"]
    show_columns = ["id", "kind", "params_json", "status", "progress", "row_count", "error", "created_at",
                    "finished_at"]
    search_columns = ["kind", "status", "created_at"]
    search_form_extra_fields = {"created_at": StringField(_l("提交时间"), description="YYYY-MM-DD")}
    label_columns = {"id": _l("编号"), "kind": _l("报表"), "status": _l("状态"), "progress": _l("进度"),
                     "row_count": _l("行数"), "created_at": _l("提交时间"), "finished_at": _l("完成时间"),
                     "params_json": _l("条件"), "error": _l("错误")}
    formatters_columns = {"progress": _progress_bar, "created_at": beijing_time, "finished_at": beijing_time,
                          "kind": lambda v: str(EXPORT_KINDS.get(v, v)),
                          "status": lambda v: str(EXPORT_STATUS.get(v, v))}
    list_title = _l("报表下载")
    show_title = _l("导出任务")
    show_template = "backoffice/export_show.html"

    def _own(self, pk) -> ExportJob:
        job = self.datamodel.get(pk, self._base_filters)
        if job is None:
            abort(404)
        return job

    @expose("/show/<pk>")
    @has_access
    def show(self, pk):
        job = self._own(pk)
        self.datamodel.session.refresh(job)  # the task wrote it in its own unit of work
        params = json.loads(job.params_json or "{}")
        return self.render_template(self.show_template, pk=pk, title=self.show_title, job=job,
                                    kind=str(EXPORT_KINDS.get(job.kind, job.kind)),
                                    status=str(EXPORT_STATUS.get(job.status, job.status)),
                                    conditions=exports.describe_conditions(job.kind, params),
                                    created=beijing_time(job.created_at), finished=beijing_time(job.finished_at),
                                    progress_url=url_for("ExportJobView.progress", pk=job.id),
                                    download_url=url_for("ExportJobView.download", pk=job.id))

    @expose("/progress/<int:pk>")
    @has_access
    def progress(self, pk: int):
        """What the job page polls: status, percent and rows so far."""
        job = self._own(pk)
        self.datamodel.session.refresh(job)
        return jsonify(status=job.status, status_label=str(EXPORT_STATUS.get(job.status, job.status)),
                       progress=job.progress, rows=job.row_count, error=job.error,
                       finished=beijing_time(job.finished_at),
                       download=(url_for("ExportJobView.download", pk=job.id) if job.status == ExportStatus.DONE
                                 else None))

    @expose("/download/<int:pk>")
    @has_access
    def download(self, pk: int):
        """The finished .xlsx; the download is audited (order lists carry personal data, masked)."""
        job = self._own(pk)
        try:
            path = exports.job_file(job)
        except DomainError as exc:
            flash(exc.message, "warning")
            return redirect(url_for("ExportJobView.show", pk=pk))
        audit.staff_viewed("staff.export_download", g.user, target_type="export_job", target_id=job.id,
                           kind=job.kind)
        return send_file(path, as_attachment=True, download_name=exports.file_name(job),
                         mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


EXPORT_KINDS = {"appointment_orders": _l("预约订单"), "payment_orders": _l("缴费订单"), "statistics": _l("交易统计")}
EXPORT_STATUS = {"queued": _l("排队中"), "running": _l("生成中"), "done": _l("已完成"), "failed": _l("失败")}
