"""数据分析 page: the analytics service's numbers as ECharts charts (vendored, no CDN) and a summary."""

from __future__ import annotations

import datetime as dt

from flask import request
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import gettext as _

from app.services import analytics
from app.services.formatting import yuan


def _beijing_today() -> dt.date:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(hours=8)).date()


def _parse(value: str | None, default: dt.date) -> dt.date:
    try:
        return dt.date.fromisoformat(value) if value else default
    except ValueError:
        return default


class AnalyticsView(BaseView):
    route_base = "/analytics"
    default_view = "index"

    @expose("/")
    @has_access
    def index(self):
        today = _beijing_today()
        end = _parse(request.args.get("end"), today)
        start = _parse(request.args.get("start"), end - dt.timedelta(days=29))
        if (end - start).days > 366:
            start = end - dt.timedelta(days=366)
        channel = request.args.get("channel") or None
        if channel not in (None, "wechat", "alipay"):
            channel = None
        data = analytics.compute(start, end, channel)
        summary = data.summary()

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
        rows = [
            (_("新增关注"), "follow", False), (_("取消关注"), "unfollow", False), (_("新增绑卡"), "bind", False),
            (_("取消绑卡"), "unbind", False), (_("预约挂号人次"), "booking_advance", False),
            (_("当天挂号人次"), "booking_same_day", False), (_("挂号金额（元）"), "booking_fee_fen", True),
            (_("挂号交易笔数"), "count_registration", False), (_("诊间缴费笔数"), "count_outpatient", False),
            (_("押金缴纳笔数"), "count_deposit", False), (_("挂号收入（元）"), "amount_registration_fen", True),
            (_("门诊缴费金额（元）"), "amount_outpatient_fen", True), (_("押金金额（元）"), "amount_deposit_fen", True),
            (_("退款金额（元）"), "refund_fen", True),
        ]
        table = [(label, {k: (yuan(v) if is_money else v) for k, v in summary[key].items()}) for label, key, is_money
                 in rows]
        return self.render_template("admin/analytics.html", start=start, end=end, channel=channel or "",
                                    charts=charts, table=table)
