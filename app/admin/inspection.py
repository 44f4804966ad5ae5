"""巡检报告 and 健康检查 pages for Operations."""

from __future__ import annotations

from flask import Response, request
from flask_appbuilder import BaseView, expose, has_access
from flask_login import current_user

from app.services import audit
from app.services.inspection import build_report
from app.services.uow import unit_of_work


class InspectionView(BaseView):
    route_base = "/inspection"
    default_view = "index"

    def _report(self):
        days = max(1, min(int(request.args.get("days", 90) or 90), 366))
        return build_report(days), days

    @expose("/")
    @has_access
    def index(self):
        report, days = self._report()
        return self.render_template("admin/inspection.html", report=report, days=days)

    @expose("/download")
    @has_access
    def download(self):
        report, days = self._report()
        with unit_of_work():
            audit.record("inspection.download", actor_type="staff", actor_id=str(current_user.id),
                         actor_name=current_user.username, detail=f"days={days}")
        filename = f"inspection-{report.generated_at:%Y%m%d}.md"
        return Response(report.to_markdown(), mimetype="text/markdown; charset=utf-8",
                        headers={"Content-Disposition": f"attachment; filename={filename}"})
