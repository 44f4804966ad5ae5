"""对账工作台: reconciliation as finance works it, day by day.

Per day and channel: how many 长款 / 短款 / 金额不符 (and other) differences, their amounts, how many are
still open; a day's differences with both sides' records; resolving one or many with a reason (each
audited, through ``reconciliation.resolve_item``); re-running a day; the day as an .xlsx workbook.
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass, field

import xlsxwriter
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from app import clock
from app.extensions import db
from app.models import ReconciliationItem, ReconciliationRun
from app.backoffice import orders
from app.reconciliation.states import RUN_STATUS_LABELS
from app.services.errors import DomainError

#: how finance groups the kinds of difference
GROUPS = {
    "channel_only": "long", "local_only": "short", "amount_mismatch": "amount", "his_amount": "amount",
}
GROUP_LABELS = {"long": _l("长款"), "short": _l("短款"), "amount": _l("金额不符"), "other": _l("其他差异")}
KIND_LABELS = {
    "channel_only": _l("长款（仅渠道有）"), "local_only": _l("短款（仅本地有）"),
    "amount_mismatch": _l("金额不一致"), "state_mismatch": _l("状态不一致"),
    "his_unconfirmed": _l("医院未确认"), "his_missing": _l("医院无此笔"), "his_kept": _l("已退款但医院已入账"),
    "his_amount": _l("医院金额不符"), "his_unknown": _l("医院结果未知"),
}
CHANNEL_CODES = ("wechat", "alipay")


def group_of(kind: str) -> str:
    return GROUPS.get(kind, "other")


def channel_fen(item: ReconciliationItem) -> int | None:
    """What the channel took. A difference found against the HIS (医院无此笔 …) keeps the HIS's figure in
    ``channel_amount_fen``; the channel took the platform's amount for that trade (a channel-side
    difference on the same trade would be its own item), so that is shown, never the HIS's 0.00."""
    return item.local_amount_fen if item.source == "his" else item.channel_amount_fen


def his_fen(item: ReconciliationItem) -> int | None:
    """What the HIS holds for a difference found against the HIS (None for a channel difference)."""
    return item.channel_amount_fen if item.source == "his" else None


def difference_fen(item: ReconciliationItem) -> int:
    """What the difference is worth: 长款 the channel's amount, 短款 ours, otherwise channel minus ours."""
    group = group_of(item.kind)
    if group == "long":
        return item.channel_amount_fen or 0
    if group == "short":
        return item.local_amount_fen or 0
    return (item.channel_amount_fen or 0) - (item.local_amount_fen or 0)


@dataclass
class GroupFigures:
    count: int = 0
    open: int = 0
    fen: int = 0


@dataclass
class DayRow:
    day: dt.date
    channel: str
    run: ReconciliationRun
    groups: dict[str, GroupFigures] = field(default_factory=lambda: {g: GroupFigures() for g in GROUP_LABELS})

    @property
    def open(self) -> int:
        return sum(g.open for g in self.groups.values())

    @property
    def count(self) -> int:
        return sum(g.count for g in self.groups.values())


def days(first: dt.date, last: dt.date) -> list[DayRow]:
    """Every reconciled day and channel in [first, last], newest first, with its differences counted."""
    runs = list(db.session.scalars(select(ReconciliationRun).where(
        ReconciliationRun.bill_date >= first, ReconciliationRun.bill_date <= last)
        .order_by(ReconciliationRun.bill_date.desc(), ReconciliationRun.channel)))
    rows = {run.id: DayRow(run.bill_date, run.channel, run) for run in runs}
    if rows:
        for item in db.session.scalars(select(ReconciliationItem).where(ReconciliationItem.run_id.in_(rows))):
            figures = rows[item.run_id].groups[group_of(item.kind)]
            figures.count += 1
            figures.fen += difference_fen(item)
            if item.resolved_at is None:
                figures.open += 1
    return list(rows.values())


def day_items(day: dt.date, only_open: bool = False) -> list[ReconciliationItem]:
    """One day's differences (both channels), open ones first."""
    stmt = (select(ReconciliationItem).join(ReconciliationRun, ReconciliationItem.run_id == ReconciliationRun.id)
            .where(ReconciliationRun.bill_date == day))
    if only_open:
        stmt = stmt.where(ReconciliationItem.resolved_at.is_(None))
    items = list(db.session.scalars(stmt.order_by(ReconciliationRun.channel, ReconciliationItem.id)))
    items.sort(key=lambda i: (i.resolved_at is not None,))
    return items


def resolve_many(item_ids: list[int], comment: str, staff: str) -> int:
    """Resolve each chosen open difference with the same reason (each audited on its own); returns how
    many were open and are now resolved."""
    from app.reconciliation.runs import resolve_item

    comment = (comment or "").strip()
    if not item_ids:
        raise DomainError(_("请至少选择一条差异"), code="nothing_chosen")
    if len(comment) < 2:
        raise DomainError(_("请填写处理说明"), code="reason_required")
    done = 0
    for item_id in item_ids:
        item = db.session.get(ReconciliationItem, item_id)
        if item is None or item.resolved_at is not None:
            continue
        resolve_item(item_id, comment, staff)
        done += 1
    return done


def rerun_day(day: dt.date, staff: str) -> list[ReconciliationRun]:
    """Reconcile the day again for every channel (open differences are found afresh; resolved ones stay
    as history); audited. A day not over yet cannot be reconciled."""
    from app.services import audit
    from app.reconciliation.runs import reconcile
    from app.services.uow import unit_of_work

    if day >= clock.today():
        raise DomainError(_("只能对已结束的日期重新对账"), code="day_not_over")
    with unit_of_work():
        audit.record("reconciliation.rerun", actor_type="staff", actor_name=staff, target_type="reconciliation_day",
                     target_id=day.isoformat())
    return [reconcile(channel, day) for channel in CHANNEL_CODES]


def day_workbook(day: dt.date) -> bytes:
    """The day's runs and every difference (both sides, state, who resolved it and why) as .xlsx."""
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    bold = book.add_format({"bold": True, "bg_color": "#F2F2F2", "border": 1})
    money = book.add_format({"num_format": "#,##0.00"})
    money_bold = book.add_format({"num_format": "#,##0.00", "bold": True})
    summary = book.add_worksheet(_("汇总"))
    heads = [_("渠道"), _("状态"), _("渠道笔数"), _("渠道金额(元)"), _("本地笔数"), _("本地金额(元)"), _("差异数"),
             _("未处理")]
    summary.write_row(0, 0, heads, bold)
    summary.set_column(0, len(heads), 14)
    rows = [r for r in days(day, day)]
    for n, r in enumerate(rows, 1):
        summary.write_row(n, 0, [orders.label(orders.CHANNELS, r.channel),
                                 orders.label(RUN_STATUS_LABELS, r.run.status), r.run.channel_count])
        summary.write_number(n, 3, r.run.channel_total_fen / 100, money)
        summary.write_number(n, 4, r.run.local_count)
        summary.write_number(n, 5, r.run.local_total_fen / 100, money)
        summary.write_row(n, 6, [r.count, r.open])
    sheet = book.add_worksheet(_("差异明细"))
    heads = [_("渠道"), _("分类"), _("差异类型"), _("订单号"), _("渠道交易号"), _("本地金额(元)"), _("渠道金额(元)"),
             _("医院金额(元)"), _("差额(元)"), _("说明"), _("处理状态"), _("处理人"), _("处理时间")]
    sheet.write_row(0, 0, heads, bold)
    sheet.freeze_panes(1, 0)
    sheet.set_column(0, len(heads), 16)
    total = 0
    items = day_items(day)
    for n, item in enumerate(items, 1):
        run = db.session.get(ReconciliationRun, item.run_id)
        sheet.write_row(n, 0, [orders.label(orders.CHANNELS, run.channel), str(GROUP_LABELS[group_of(item.kind)]),
                               str(KIND_LABELS.get(item.kind, item.kind)), item.order_no or "",
                               item.channel_trade_no or ""])
        for col, fen in ((5, item.local_amount_fen), (6, channel_fen(item)), (7, his_fen(item))):
            if fen is not None:
                sheet.write_number(n, col, fen / 100, money)
        sheet.write_number(n, 8, difference_fen(item) / 100, money)
        total += difference_fen(item)
        sheet.write_row(n, 9, [item.note or "", _("已处理") if item.resolved_at else _("未处理"),
                               item.resolved_by or "", clock.display(item.resolved_at)])
    sheet.write(len(items) + 1, 0, _("合计"), bold)
    sheet.write_number(len(items) + 1, 8, total / 100, money_bold)
    book.close()
    return buffer.getvalue()
