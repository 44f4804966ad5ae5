"""数据分析 page: the analytics service's numbers as ECharts charts (vendored, no CDN) and a summary."""

from __future__ import annotations

from flask import flash, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import gettext as _

from app.services import date_ranges
from app.reports import analytics, analytics_tables
from app.services.errors import DomainError
from app.services.formatting import yuan, yuan_grouped


class AnalyticsView(BaseView):
    route_base = "/analytics"
    default_view = "index"

    def _query(self):
        """The range and channel asked for; a wrong date is said (and the last 30 days shown)."""
        try:
            start, end = date_ranges.parse_range(request.args.get("start"), request.args.get("end"))
        except DomainError as exc:
            flash(exc.message, "danger")
            start, end = date_ranges.parse_range(None, None)
        channel = request.args.get("channel") or None
        if channel not in (None, "wechat", "alipay"):
            channel = None
        before = analytics_tables.previous_period(start, end)
        return start, end, channel, analytics.compute(start, end, channel), analytics.compute(*before, channel)

    @expose("/export")
    @has_access
    def export(self):
        """Every table of the page (汇总 with the previous period, 渠道×业务, 按日) as one .xlsx."""
        import io

        from flask import g, send_file

        from app.services import audit

        start, end, channel, data, before = self._query()
        audit.staff_viewed("staff.analytics_export", g.user, target_type="analytics",
                           target_id=f"{start}..{end}", channel=channel)
        return send_file(io.BytesIO(analytics_tables.workbook(data, before)), as_attachment=True,
                         download_name=f"数据分析_{start:%Y%m%d}_{end:%Y%m%d}.xlsx",
                         mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")

    @expose("/")
    @has_access
    def index(self):
        start, end, channel, data, before = self._query()

        def money(name: str) -> list[str]:
            return [yuan(v) for v in data.daily(name, channel)]

        charts = {
            "days": data.days,
            "followers": {"follow": data.daily("follow", channel), "unfollow": data.daily("unfollow", channel),
                          "net": [a - b for a, b in zip(data.daily("follow", channel),
                                                        data.daily("unfollow", channel), strict=True)]},
            "bindings": {"bind": data.daily("bind", channel), "unbind": data.daily("unbind", channel),
                         "net": [a - b for a, b in zip(data.daily("bind", channel),
                                                       data.daily("unbind", channel), strict=True)]},
            "registrations": {"advance": data.daily("booking_advance", channel),
                              "same_day": data.daily("booking_same_day", channel)},
            "amounts": {"registration": money("amount_registration_fen"),
                        "outpatient": money("amount_outpatient_fen"), "deposit": money("amount_deposit_fen"),
                        "refund": money("refund_fen")},
            "counts": {"registration": data.daily("count_registration", channel),
                       "outpatient": data.daily("count_outpatient", channel),
                       "deposit": data.daily("count_deposit", channel)},
            "labels": {
                "follow": _("新增关注"), "unfollow": _("取消关注"), "net": _("净增"), "bind": _("新增绑卡"),
                "unbind": _("取消绑卡"), "advance": _("预约挂号"), "same_day": _("当天挂号"),
                "registration": _("挂号"), "outpatient": _("门诊缴费"), "deposit": _("住院押金"), "refund": _("退款"),
            },
        }
        args = {"start": start.isoformat(), "end": end.isoformat(), **({"channel": channel} if channel else {})}
        return self.render_template(
            "admin/analytics.html", start=start, end=end, channel=channel or "", charts=charts,
            summary=analytics_tables.summary_rows(data, before), cross=analytics_tables.cross_table(data),
            before=before, money=yuan_grouped, range_presets=date_ranges.presets(),
            active_preset=date_ranges.active_preset(start, end), keep={"channel": channel} if channel else {},
            export_url=url_for("AnalyticsView.export", **args))
