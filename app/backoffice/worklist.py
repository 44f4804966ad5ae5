"""The back-office home page: today at a glance and the worklist of things a person must look at.

"Today" is the hospital's (Beijing) day from app/clock.py, compared with the same weekday last week.
Each worklist entry counts rows that the matching back-office list shows under the same criterion
(``stuck``/``overdue`` in app/backoffice/orders.py), so a count and the list it links to always agree.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import func, select

from app import clock
from app.extensions import db
from app.models import AppointmentOrder, Notification, PaymentOrder, ReconciliationItem, Refund
from app.payments.states import MONEY_TAKEN, PaymentStatus
from app.payments.states import RefundStatus
from app.registration.states import AppointmentStatus
from app.services.states import NoticeStatus

#: how long each state may last before a person should look (the sweepers normally finish sooner)
DEADLINES = {
    "payment_paid": dt.timedelta(minutes=30),       # paid, the HIS not confirmed: backoff ends after ~19 min
    "payment_unpaid": dt.timedelta(minutes=10),     # created/paying past its pay deadline: the closer runs each minute
    "payment_refunding": dt.timedelta(hours=1),
    "appointment_unpaid": dt.timedelta(minutes=10),  # holding/pending_payment past its pay deadline
    "appointment_paid": dt.timedelta(minutes=30),   # paid, the HIS booking not confirmed
    "refund_pending": dt.timedelta(hours=1),        # requested/processing without the channel's final word
}


@dataclass
class ChannelFigures:
    bookings: int = 0
    payments: int = 0
    paid_fen: int = 0
    refunds: int = 0
    refund_fen: int = 0


@dataclass
class Glance:
    """Figures of one day by channel, beside the same weekday a week before."""

    day: dt.date
    last_week: dt.date
    today: dict[str, ChannelFigures] = field(default_factory=dict)
    before: dict[str, ChannelFigures] = field(default_factory=dict)

    def total(self, which: str) -> ChannelFigures:
        out = ChannelFigures()
        for fig in getattr(self, which).values():
            for name in ("bookings", "payments", "paid_fen", "refunds", "refund_fen"):
                setattr(out, name, getattr(out, name) + getattr(fig, name))
        return out


def _figures_of(day: dt.date) -> dict[str, ChannelFigures]:
    start, end = clock.beijing_day_bounds_utc(day)
    out: dict[str, ChannelFigures] = {}

    def row(channel: str) -> ChannelFigures:
        return out.setdefault(channel, ChannelFigures())

    for channel, count in db.session.execute(
            select(AppointmentOrder.channel, func.count()).where(
                AppointmentOrder.created_at >= start, AppointmentOrder.created_at < end,
                AppointmentOrder.paid_at.is_not(None)).group_by(AppointmentOrder.channel)):
        row(channel).bookings = count
    for channel, count, fen in db.session.execute(
            select(PaymentOrder.channel, func.count(), func.coalesce(func.sum(PaymentOrder.amount_fen), 0)).where(
                PaymentOrder.paid_at >= start, PaymentOrder.paid_at < end,
                PaymentOrder.status.in_(MONEY_TAKEN)).group_by(PaymentOrder.channel)):
        row(channel).payments, row(channel).paid_fen = count, int(fen)
    for channel, count, fen in db.session.execute(
            select(PaymentOrder.channel, func.count(), func.coalesce(func.sum(Refund.amount_fen), 0))
            .join(PaymentOrder, Refund.payment_id == PaymentOrder.id)
            .where(Refund.status == RefundStatus.SUCCESS, Refund.succeeded_at >= start, Refund.succeeded_at < end)
            .group_by(PaymentOrder.channel)):
        row(channel).refunds, row(channel).refund_fen = count, int(fen)
    return out


def at_a_glance(day: dt.date | None = None) -> Glance:
    """Paid bookings, payments and successful refunds of ``day`` (default today) and a week before."""
    day = day or clock.today()
    before = day - dt.timedelta(days=7)
    return Glance(day=day, last_week=before, today=_figures_of(day), before=_figures_of(before))


# --- stuck / overdue conditions (shared with the list criteria) ------------------------------------


def payment_stuck(now: dt.datetime | None = None):
    now = now or clock.utcnow()
    return (((PaymentOrder.status == PaymentStatus.PAID) & (PaymentOrder.paid_at < now - DEADLINES["payment_paid"]))
            | (PaymentOrder.status.in_((PaymentStatus.CREATED, PaymentStatus.PAYING))
               & (PaymentOrder.expires_at < now - DEADLINES["payment_unpaid"]))
            | ((PaymentOrder.status == PaymentStatus.REFUNDING)
               & (PaymentOrder.updated_at < now - DEADLINES["payment_refunding"])))


def appointment_stuck(now: dt.datetime | None = None):
    now = now or clock.utcnow()
    return ((AppointmentOrder.status.in_((AppointmentStatus.HOLDING, AppointmentStatus.PENDING_PAYMENT))
             & (AppointmentOrder.expires_at < now - DEADLINES["appointment_unpaid"]))
            | ((AppointmentOrder.status == AppointmentStatus.PAID)
               & (AppointmentOrder.paid_at < now - DEADLINES["appointment_paid"])))


def refund_overdue(now: dt.datetime | None = None):
    now = now or clock.utcnow()
    return (Refund.status.in_((RefundStatus.REQUESTED, RefundStatus.PROCESSING))
            & (Refund.created_at < now - DEADLINES["refund_pending"]))


@dataclass
class WorkItem:
    key: str
    label: str
    count: int
    url: str
    view: str        # the back-office view whose list the link opens (for the role check)
    hint: str = ""


def worklist(allowed=lambda view: True) -> list[WorkItem]:
    """What a person must look at, with counts and links to the filtered lists; ``allowed(view)`` says
    whether the signed-in role may open that list (entries it may not open are left out)."""
    from flask_babel import gettext as _

    def count(stmt) -> int:
        return int(db.session.scalar(stmt) or 0)

    entries = [
        ("payment_confirm_failed", _("缴费确认失败（待退费或人工处理）"), "PaymentOrderView",
         lambda: count(select(func.count()).select_from(PaymentOrder)
                       .where(PaymentOrder.status == PaymentStatus.CONFIRM_FAILED)),
         "/paymentorderview/list/?_flt_0_status=confirm_failed", _("医院拒绝入账，款项应原路退回")),
        ("payment_confirm_unknown", _("医院结果未知，待核实"), "PaymentOrderView",
         lambda: count(select(func.count()).select_from(PaymentOrder)
                       .where(PaymentOrder.status == PaymentStatus.CONFIRM_UNKNOWN)),
         "/paymentorderview/list/?_flt_0_status=confirm_unknown", _("在订单详情中点“立即向医院核实”")),
        ("refund_failed", _("退款失败"), "RefundView",
         lambda: count(select(func.count()).select_from(Refund).where(Refund.status == RefundStatus.FAILED)),
         "/refundview/list/?_flt_0_status=failed", _("可在退费记录中重试")),
        ("refund_abnormal", _("退款异常待处理"), "RefundView",
         lambda: count(select(func.count()).select_from(Refund).where(Refund.status == RefundStatus.ABNORMAL)),
         "/refundview/list/?_flt_0_status=abnormal", _("需在商户平台处理后回填")),
        ("refund_overdue", _("退款超时未完成"), "RefundView",
         lambda: count(select(func.count()).select_from(Refund).where(refund_overdue())),
         "/refundview/list/?_flt_0_overdue=1", _("已申请超过 1 小时仍无渠道结果")),
        ("reconciliation_open", _("对账差异未处理"), "ReconciliationItemView",
         lambda: count(select(func.count()).select_from(ReconciliationItem)
                       .where(ReconciliationItem.resolved_at.is_(None))),
         "/reconciliationitemview/list/?_flt_0_open=1", ""),
        ("payment_stuck", _("缴费订单超时未推进"), "PaymentOrderView",
         lambda: count(select(func.count()).select_from(PaymentOrder).where(payment_stuck())),
         "/paymentorderview/list/?_flt_0_stuck=1", _("已支付未入账超过 30 分钟、超时未关闭或退费中超过 1 小时")),
        ("appointment_stuck", _("预约订单超时未推进"), "AppointmentOrderView",
         lambda: count(select(func.count()).select_from(AppointmentOrder).where(appointment_stuck())),
         "/appointmentorderview/list/?_flt_0_stuck=1", _("已支付未确认预约超过 30 分钟或超时未释放")),
        ("notice_failed", _("消息未能推送"), "NotificationView",
         lambda: count(select(func.count()).select_from(Notification)
                       .where(Notification.status == NoticeStatus.FAILED)),
         "/notificationview/list/?_flt_3_status=failed", _("患者可能未收到通知，请电话告知")),
    ]
    return [WorkItem(key, label, counter(), url, view, hint)
            for key, label, view, counter, url, hint in entries if allowed(view)]
