"""巡检报告 and 健康检查 pages for Operations: the live inspection, the kept ones to compare quarter by
quarter, and downloads as Word (.docx) or Markdown."""

from __future__ import annotations

from flask import Response, abort, flash, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import gettext as _
from flask_login import current_user

from app import clock
from app.models import InspectionRecord
from app.services import audit
from app.operations import inspection
from app.operations.inspection import InspectionReport, build_report
from app.services.uow import unit_of_work

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


class InspectionView(BaseView):
    route_base = "/inspection"
    default_view = "index"
    method_permission_name = {"index": "index", "download": "download", "save": "index", "record": "index"}

    def _days(self) -> int:
        try:
            return max(1, min(int(request.values.get("days", 90) or 90), 366))
        except ValueError:
            return 90

    def _kept(self, pk: int) -> InspectionRecord:
        from app.extensions import db

        record = db.session.get(InspectionRecord, pk)
        if record is None:
            abort(404)
        return record

    @expose("/")
    @has_access
    def index(self):
        days = self._days()
        report = build_report(days)
        before = inspection.previous_of(None)
        return self._page(report, days, None, before)

    @expose("/record/<int:pk>")
    @has_access
    def record(self, pk: int):
        kept = self._kept(pk)
        return self._page(InspectionReport.from_record(kept), None, kept, inspection.previous_of(pk))

    def _page(self, report, days, kept, before):
        previous = InspectionReport.from_record(before) if before is not None else None
        return self.render_template("admin/inspection.html", report=report, days=days, kept=kept, before=before,
                                    changes=inspection.compare(report, previous), records=inspection.records(),
                                    display=clock.display)

    @expose("/save", methods=["POST"])
    @has_access
    def save(self):
        pk = inspection.save(build_report(self._days()), current_user.username)
        flash(_("本次巡检已保存，可与以往巡检对比"), "success")
        return redirect(url_for("InspectionView.record", pk=pk))

    @expose("/download")
    @has_access
    def download(self):
        pk = request.args.get("record", type=int)
        report = InspectionReport.from_record(self._kept(pk)) if pk else build_report(self._days())
        as_word = request.args.get("format") == "docx"
        with unit_of_work():
            audit.record("inspection.download", actor_type="staff", actor_id=str(current_user.id),
                         actor_name=current_user.username,
                         detail=f"record={pk or '-'} format={'docx' if as_word else 'md'}")
        stem = f"巡检报告_{clock.display(report.generated_at, '%Y%m%d')}"
        from urllib.parse import quote

        if as_word:
            name = quote(f"{stem}.docx")
            return Response(report.to_docx(), mimetype=DOCX,
                            headers={"Content-Disposition": f"attachment; filename*=UTF-8''{name}"})
        name = quote(f"{stem}.md")
        return Response(report.to_markdown(), mimetype="text/markdown; charset=utf-8",
                        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{name}"})
