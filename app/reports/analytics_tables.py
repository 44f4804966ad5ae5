"""数据分析 tables that answer questions: the summary with net rows (净关注, 净绑卡) beside the previous
period of the same length, the channel × business cross-table, and every table as one .xlsx workbook.
Figures come from ``analytics.compute`` (rollups for closed days, the order tables for the rest)."""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass

import xlsxwriter
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.reports import analytics
from app.services.formatting import yuan_grouped

#: (label, metric or (plus, minus) for a net row, is money)
SUMMARY_ROWS = (
    (_l("新增关注"), "follow", False), (_l("取消关注"), "unfollow", False),
    (_l("净关注"), ("follow", "unfollow"), False),
    (_l("新增绑卡"), "bind", False), (_l("取消绑卡"), "unbind", False), (_l("净绑卡"), ("bind", "unbind"), False),
    (_l("预约挂号人次"), "booking_advance", False), (_l("当天挂号人次"), "booking_same_day", False),
    (_l("挂号金额（元）"), "booking_fee_fen", True), (_l("挂号交易笔数"), "count_registration", False),
    (_l("诊间缴费笔数"), "count_outpatient", False), (_l("押金缴纳笔数"), "count_deposit", False),
    (_l("挂号收入（元）"), "amount_registration_fen", True), (_l("门诊缴费金额（元）"), "amount_outpatient_fen", True),
    (_l("押金金额（元）"), "amount_deposit_fen", True), (_l("退款金额（元）"), "refund_fen", True),
)
BUSINESSES = ((_l("挂号"), "count_registration", "amount_registration_fen"),
              (_l("门诊缴费"), "count_outpatient", "amount_outpatient_fen"),
              (_l("住院押金"), "count_deposit", "amount_deposit_fen"))
COLUMNS = ("wechat", "alipay", "all")


@dataclass
class SummaryRow:
    label: str
    values: dict[str, int]       # wechat / alipay / all, in units (fen for money)
    previous: int                # "all" over the previous period
    money: bool
    net: bool

    @property
    def change(self) -> int:
        return self.values["all"] - self.previous

    @property
    def change_percent(self) -> str:
        if not self.previous:
            return "—"
        return f"{self.change * 100 / abs(self.previous):+.1f}%"


def previous_period(start: dt.date, end: dt.date) -> tuple[dt.date, dt.date]:
    """The period of the same length just before [start, end]."""
    length = (end - start).days + 1
    return start - dt.timedelta(days=length), start - dt.timedelta(days=1)


def _value(summary: dict, metric, column: str) -> int:
    if isinstance(metric, tuple):
        plus, minus = metric
        return summary[plus][column] - summary[minus][column]
    return summary[metric][column]


def summary_rows(data: analytics.Analytics, before: analytics.Analytics) -> list[SummaryRow]:
    now, then = data.summary(), before.summary()
    return [SummaryRow(str(label), {c: _value(now, metric, c) for c in COLUMNS}, _value(then, metric, "all"), money,
                       isinstance(metric, tuple)) for label, metric, money in SUMMARY_ROWS]


def cross_table(data: analytics.Analytics) -> list[tuple[str, dict[str, tuple[int, int]]]]:
    """Business × channel: (count, amount in fen) per cell; a 合计 row; refunds as their own row."""
    summary = data.summary()
    rows = [(str(label), {c: (summary[count][c], summary[amount][c]) for c in COLUMNS})
            for label, count, amount in BUSINESSES]
    rows.append((_("合计"), {c: (sum(r[1][c][0] for r in rows), sum(r[1][c][1] for r in rows)) for c in COLUMNS}))
    rows.append((_("退款"), {c: (0, summary["refund_fen"][c]) for c in COLUMNS}))
    return rows


def workbook(data: analytics.Analytics, before: analytics.Analytics) -> bytes:
    """Every table of the page in one workbook: 汇总 (with the previous period), 渠道×业务, 按日."""
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True})
    head = book.add_format({"bold": True, "bg_color": "#F2F2F2", "border": 1})
    money = book.add_format({"num_format": "#,##0.00"})
    count = book.add_format({"num_format": "#,##0"})
    channel_names = [_("服务号"), _("服务窗"), _("合计")]

    sheet = book.add_worksheet(_("汇总"))
    sheet.write_row(0, 0, [_("指标"), *channel_names, _("上期合计"), _("变化")], head)
    sheet.set_column(0, 0, 20)
    sheet.set_column(1, 5, 14)
    for n, row in enumerate(summary_rows(data, before), 1):
        fmt = money if row.money else count
        sheet.write(n, 0, row.label)
        for col, column in enumerate(COLUMNS, 1):
            sheet.write_number(n, col, row.values[column] / 100 if row.money else row.values[column], fmt)
        sheet.write_number(n, 4, row.previous / 100 if row.money else row.previous, fmt)
        sheet.write_number(n, 5, row.change / 100 if row.money else row.change, fmt)
    sheet.write(len(SUMMARY_ROWS) + 2, 0, _("本期 %(a)s 至 %(b)s，上期 %(c)s 至 %(d)s", a=data.start.isoformat(),
                                            b=data.end.isoformat(), c=before.start.isoformat(),
                                            d=before.end.isoformat()))

    sheet = book.add_worksheet(_("渠道×业务"))
    sheet.write_row(0, 0, [_("业务")] + [f"{name}{suffix}" for name in channel_names
                                       for suffix in (_("笔数"), _("金额(元)"))], head)
    sheet.set_column(0, 6, 14)
    for n, (label, cells) in enumerate(cross_table(data), 1):
        sheet.write(n, 0, label)
        for i, column in enumerate(COLUMNS):
            sheet.write_number(n, 1 + 2 * i, cells[column][0], count)
            sheet.write_number(n, 2 + 2 * i, cells[column][1] / 100, money)

    sheet = book.add_worksheet(_("按日"))
    labels = [(str(label), metric, is_money) for label, metric, is_money in SUMMARY_ROWS]
    sheet.write_row(0, 0, [_("日期")] + [label for label, _m, _is in labels], head)
    sheet.set_column(0, len(labels), 14)
    daily = {name: data.daily(name, data.channel) for name in data.series}
    for n, day in enumerate(data.days, 1):
        sheet.write(n, 0, day)
        for col, (_label, metric, is_money) in enumerate(labels, 1):
            value = (daily[metric[0]][n - 1] - daily[metric[1]][n - 1]) if isinstance(metric, tuple) \
                else daily[metric][n - 1]
            sheet.write_number(n, col, value / 100 if is_money else value, money if is_money else count)
    book.close()
    return out.getvalue()


def money_text(fen: int) -> str:
    return yuan_grouped(fen)
