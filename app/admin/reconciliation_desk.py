"""对账工作台: per day 长款/短款/金额不符 per channel, a day's differences with both sides' records,
resolve one or many with a reason (audited), re-run a day, download the day as .xlsx."""

from __future__ import annotations

import datetime as dt

from flask import abort, flash, g, redirect, request, send_file, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app import clock
from app.services import date_ranges
from app.backoffice import orders
from app.reconciliation import desk
from app.services.errors import DomainError
from app.services.formatting import yuan_grouped
from app.reconciliation.states import ReconciliationRunStatus


def _day(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        abort(404)


class ReconciliationDeskView(BaseView):
    route_base = "/reconciliation"
    default_view = "index"
    base_permissions = ["can_list", "can_resolve", "can_rerun", "can_download"]
    method_permission_name = {"index": "list", "day": "list", "resolve": "resolve", "rerun": "rerun",
                              "download": "download"}

    @expose("/")
    @has_access
    def index(self):
        try:
            first, last = date_ranges.parse_range(request.args.get("start"), request.args.get("end"))
        except DomainError as exc:
            flash(exc.message, "danger")
            first, last = date_ranges.parse_range(None, None)
        rows = desk.days(first, last)
        return self.render_template("backoffice/reconciliation_desk.html", title=_l("对账工作台"), rows=rows,
                                    start=first.isoformat(), end=last.isoformat(), groups=desk.GROUP_LABELS,
                                    range_presets=date_ranges.presets(), keep={},
                                    active_preset=date_ranges.active_preset(first, last), labels=orders,
                                    yuan=yuan_grouped, yesterday=clock.today() - dt.timedelta(days=1),
                                    can_rerun=self.appbuilder.sm.has_access("can_rerun", self.class_permission_name))

    @expose("/day/<day>")
    @has_access
    def day(self, day: str):
        bill_date = _day(day)
        only_open = request.args.get("open") == "1"
        items = desk.day_items(bill_date, only_open)
        sm = self.appbuilder.sm
        from app.admin.reconciliation import evidence_html

        return self.render_template(
            "backoffice/reconciliation_day.html", title=_l("对账差异（按日）"), day=bill_date, items=items,
            rows=desk.days(bill_date, bill_date), groups=desk.GROUP_LABELS, group_of=desk.group_of,
            kinds=desk.KIND_LABELS, difference=desk.difference_fen, desk=desk, labels=orders, yuan=yuan_grouped,
            display=clock.display, evidence_html=evidence_html, only_open=only_open,
            can_resolve=sm.has_access("can_resolve", self.class_permission_name),
            can_rerun=sm.has_access("can_rerun", self.class_permission_name),
            can_download=sm.has_access("can_download", self.class_permission_name),
            comment=request.args.get("comment", ""))

    @expose("/day/<day>/resolve", methods=["POST"])
    @has_access
    def resolve(self, day: str):
        bill_date = _day(day)
        ids = [int(v) for v in request.form.getlist("item") if v.isdigit()]
        comment = request.form.get("comment", "")
        try:
            done = desk.resolve_many(ids, comment, g.user.username)
        except DomainError as exc:
            flash(exc.message, "danger")
            return redirect(url_for("ReconciliationDeskView.day", day=bill_date.isoformat(), comment=comment[:200]))
        flash(_("已处理 %(n)s 条差异", n=done), "success")
        return redirect(url_for("ReconciliationDeskView.day", day=bill_date.isoformat()))

    @expose("/day/<day>/rerun", methods=["POST"])
    @has_access
    def rerun(self, day: str):
        bill_date = _day(day)
        try:
            runs = desk.rerun_day(bill_date, g.user.username)
        except DomainError as exc:
            flash(exc.message, "danger")
        else:
            failed = [r for r in runs if r.status == ReconciliationRunStatus.FAILED]
            if failed:
                flash(_("重新对账未完成：%(error)s", error="; ".join(r.error or "" for r in failed)), "danger")
            else:
                flash(_("已重新对账：%(n)s 条差异", n=sum(r.mismatch_count for r in runs)), "success")
        return redirect(url_for("ReconciliationDeskView.day", day=bill_date.isoformat()))

    @expose("/day/<day>/download")
    @has_access
    def download(self, day: str):
        import io

        from app.services import audit

        bill_date = _day(day)
        data = desk.day_workbook(bill_date)
        audit.staff_viewed("staff.reconciliation_download", g.user, target_type="reconciliation_day",
                           target_id=bill_date.isoformat())
        return send_file(io.BytesIO(data), as_attachment=True, download_name=f"对账_{bill_date:%Y%m%d}.xlsx",
                         mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
