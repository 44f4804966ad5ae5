"""Reconciliation (对账): each channel's daily bill against our payments, refunds and the HIS.

Kinds of difference (ReconciliationItem.kind):
  channel_only     长款: the channel has money we have no paid order for
  local_only       短款: we think it was paid (or refunded), the channel's bill does not show it
  amount_mismatch  both have it, amounts differ
  state_mismatch   the channel has the payment, our order is not in a paid state
  his_unconfirmed  paid and kept (not refunded), but the HIS never confirmed it

and what the HIS reports (three-way: platform, channel bill, HIS; ``source = "his"``), asked per trade
of the day with ``trade_status`` and kept with both sides' records as ``evidence``:
  his_missing      we confirmed it (the HIS gave a receipt), the HIS holds nothing under the trade
  his_kept         the money went back to the patient (never confirmed), but the HIS holds the trade
  his_amount       the HIS holds another amount than we confirmed
  his_unknown      the HIS never said whether it applied the trade (confirm_unknown): not refunded
"""

from __future__ import annotations

import datetime as dt
import json
import logging

from sqlalchemy import delete, select

from app import clock
from app.channels import ChannelError
from app.extensions import db
from app.his.codec import to_plain
from app.his.errors import HisError
from app.models import PaymentOrder, ReconciliationItem, ReconciliationRun, Refund
from app.models.base import utcnow
from app.payments.states import MONEY_TAKEN, PaymentStatus as P, RefundStatus
from app.services import audit
from app.services.errors import DomainError, NotFound
from app.backoffice.orders import status_label
from app.services.uow import outermost, transaction, unit_of_work
from app.reconciliation.states import ReconciliationRunStatus
from app.his.interface import TradeRecordStatus

log = logging.getLogger("reconciliation")


def _utc_window(bill_date: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The Beijing calendar day as naive UTC bounds (the channels bill by Beijing day)."""
    return clock.beijing_day_bounds_utc(bill_date)


def reconcile(channel: str, bill_date: dt.date) -> ReconciliationRun:
    """Compare one channel's bill for one day with our records and store every difference.

    Re-running a day replaces that day's findings (resolved findings are kept as history).
    """
    from app.payments.commands import channels

    outermost("reconciliation")
    with unit_of_work():
        run = db.session.scalar(select(ReconciliationRun).where(ReconciliationRun.channel == channel,
                                                                ReconciliationRun.bill_date == bill_date))
        if run is None:
            run = ReconciliationRun(channel=channel, bill_date=bill_date)
            db.session.add(run)
        run.status, run.progress, run.error = ReconciliationRunStatus.RUNNING, 5, None
        db.session.flush()
        db.session.execute(delete(ReconciliationItem).where(ReconciliationItem.run_id == run.id,
                                                            ReconciliationItem.resolved_at.is_(None)))
    try:
        rows = channels()[channel].download_bill(bill_date)
    except ChannelError as exc:
        with unit_of_work():
            run.status, run.error = ReconciliationRunStatus.FAILED, f"{exc.code}: {exc.message}"[:255]
            run.finished_at = utcnow()
        log.error("reconciliation %s %s: bill download failed: %s", channel, bill_date, exc)
        return run
    with unit_of_work():  # our side; committed before the HIS is asked, so nothing stays locked meanwhile
        run.progress = 40
        start, end = _utc_window(bill_date)
        payments = {p.order_no: p for p in db.session.scalars(select(PaymentOrder).where(
            PaymentOrder.channel == channel, PaymentOrder.paid_at >= start, PaymentOrder.paid_at < end))}
        refunds = {r.refund_no: r for r in db.session.scalars(
            select(Refund).join(PaymentOrder, Refund.payment_id == PaymentOrder.id).where(
                PaymentOrder.channel == channel, Refund.status == RefundStatus.SUCCESS,
                Refund.succeeded_at >= start, Refund.succeeded_at < end))}
        items: list[ReconciliationItem] = []
        seen_pay: set[str] = set()
        seen_refund: set[str] = set()
        channel_total = 0
        for row in rows:
            if row.kind == "payment":
                channel_total += row.amount_fen
                seen_pay.add(row.order_no)
                local = payments.get(row.order_no) or db.session.scalar(
                    select(PaymentOrder).where(PaymentOrder.order_no == row.order_no))
                if local is None:
                    items.append(_item("channel_only", row.order_no, row.trade_no, None, row.amount_fen,
                                       "渠道有收款，本地无订单"))
                elif local.status not in MONEY_TAKEN:  # 医院结果未知 too: the HIS side asks about it
                    items.append(_item("state_mismatch", row.order_no, row.trade_no, local.amount_fen, row.amount_fen,
                                       f"渠道已收款，本地订单状态为 {status_label('payment', local.status)}"))
                elif local.amount_fen != row.amount_fen:
                    items.append(_item("amount_mismatch", row.order_no, row.trade_no, local.amount_fen, row.amount_fen,
                                       "金额不一致"))
            else:
                channel_total -= row.amount_fen
                seen_refund.add(row.refund_no or "")
                local_refund = refunds.get(row.refund_no or "") or db.session.scalar(
                    select(Refund).where(Refund.refund_no == row.refund_no))
                if local_refund is None:
                    items.append(_item("channel_only", row.order_no, row.trade_no, None, -row.amount_fen,
                                       f"渠道有退款 {row.refund_no}，本地无记录"))
                elif local_refund.status != RefundStatus.SUCCESS:
                    items.append(_item("state_mismatch", row.order_no, row.trade_no, -local_refund.amount_fen,
                                       -row.amount_fen, f"渠道已退款 {row.refund_no}，本地状态为 "
                                                        f"{status_label('refund', local_refund.status)}"))
                elif local_refund.amount_fen != row.amount_fen:
                    items.append(_item("amount_mismatch", row.order_no, row.trade_no, -local_refund.amount_fen,
                                       -row.amount_fen, f"退款 {row.refund_no} 金额不一致"))
        run.progress = 70
        local_total = 0
        for order_no, payment in payments.items():
            local_total += payment.amount_fen
            if order_no not in seen_pay:
                items.append(_item("local_only", order_no, payment.channel_trade_no, payment.amount_fen, None,
                                   "本地已收款，渠道账单无此笔"))
            elif payment.status == P.CONFIRM_FAILED and payment.refunded_fen < payment.amount_fen:
                items.append(_item("his_unconfirmed", order_no, payment.channel_trade_no, payment.amount_fen,
                                   payment.amount_fen, "已收款但医院系统未确认，且未全额退款"))
        for refund_no, refund in refunds.items():
            local_total -= refund.amount_fen
            if refund_no not in seen_refund:
                items.append(_item("local_only", refund.payment.order_no, refund.payment.channel_trade_no,
                                   -refund.amount_fen, None, f"本地退款 {refund_no} 成功，渠道账单无此笔"))
        run.progress = 80
    his_items, unanswered = _his_differences(list(payments.values()))
    items.extend(his_items)
    if unanswered:
        run.error = f"医院 HIS 有 {unanswered} 笔交易未答复：请重新对账这一天再比较"[:255]
    with unit_of_work():
        for item in items:
            item.run_id = run.id
            db.session.add(item)
        run.channel_count = len(rows)
        run.channel_total_fen = channel_total
        run.local_count = len(payments) + len(refunds)
        run.local_total_fen = local_total
        run.mismatch_count = len(items)
        run.status, run.progress, run.finished_at = ReconciliationRunStatus.DONE, 100, utcnow()
    log.info("reconciliation %s %s: %s channel rows, %s local, %s differences", channel, bill_date, len(rows),
             run.local_count, len(items))
    return run


def _item(kind: str, order_no: str | None, trade_no: str | None, local: int | None, remote: int | None,
          note: str, *, source: str = "channel", evidence: object = None) -> ReconciliationItem:
    return ReconciliationItem(kind=kind, order_no=order_no, channel_trade_no=trade_no, local_amount_fen=local,
                              channel_amount_fen=remote, note=note, source=source,
                              evidence=None if evidence is None else json.dumps(evidence, ensure_ascii=False,
                                                                                  default=str)[:20000])


#: the kinds of payment the HIS is told about (a 孕妇学校 class fee, say, never reaches it)
HIS_KINDS = ("registration", "outpatient", "deposit")
#: our states in which the HIS should hold the trade, and those in which it must not (never confirmed)
HIS_SHOULD_HOLD = (P.CONFIRMED, P.PARTIALLY_REFUNDED)
HIS_MUST_NOT_HOLD = (P.CONFIRM_FAILED, P.REFUNDING, P.REFUNDED)


def _his_differences(payments: list[PaymentOrder]) -> tuple[list[ReconciliationItem], int]:
    """The HIS side of the comparison: ask the HIS about every trade of the day (no row is locked while
    it answers) and keep what disagrees with our state, with both sides' records. Returns the items
    and how many trades the HIS did not answer for."""
    from app.services.his_access import his_gateway

    his = his_gateway()
    items: list[ReconciliationItem] = []
    unanswered = 0
    for payment in payments:
        if payment.kind not in HIS_KINDS or not payment.channel_trade_no or payment.status == P.PAID:
            continue  # not the HIS's, or still being confirmed right now
        ours = {"order_no": payment.order_no, "status": payment.status, "amount_fen": payment.amount_fen,
                "refunded_fen": payment.refunded_fen, "his_receipt_no": payment.his_receipt_no,
                "his_error": payment.his_error}
        try:
            status = his.trade_status(payment.channel_trade_no)
        except HisError as exc:
            unanswered += 1
            if payment.status == P.CONFIRM_UNKNOWN:
                items.append(_item("his_unknown", payment.order_no, payment.channel_trade_no, payment.amount_fen, None,
                                   "医院未答复是否已入账，款项未退回", source="his",
                                   evidence={"platform": ours, "his": f"{exc.code}: {exc.message}"}))
            continue
        theirs = to_plain(status)
        held = sum(r.amount_fen for r in status.records if r.status == TradeRecordStatus.APPLIED)
        evidence = {"platform": ours, "his": theirs}
        if payment.status == P.CONFIRM_UNKNOWN:
            items.append(_item("his_unknown", payment.order_no, payment.channel_trade_no, payment.amount_fen, held,
                               "医院结果未知：" + ("医院现答复已入账" if status.applied else "医院现答复未入账"),
                               source="his", evidence=evidence))
        elif payment.status in HIS_SHOULD_HOLD and not status.applied:
            items.append(_item("his_missing", payment.order_no, payment.channel_trade_no, payment.amount_fen, 0,
                               "平台已确认，医院无此笔入账", source="his", evidence=evidence))
        elif payment.status in HIS_MUST_NOT_HOLD and payment.his_receipt_no is None and status.applied:
            items.append(_item("his_kept", payment.order_no, payment.channel_trade_no, payment.amount_fen, held,
                               "款项已原路退回（或正在退回），医院却已入账", source="his", evidence=evidence))
        elif payment.status == P.CONFIRMED and payment.refunded_fen == 0 and status.applied and \
                held != payment.amount_fen:
            items.append(_item("his_amount", payment.order_no, payment.channel_trade_no, payment.amount_fen, held,
                               "医院入账金额与平台不一致", source="his", evidence=evidence))
    return items, unanswered


@transaction
def resolve_item(item_id: int, comment: str, staff: str) -> ReconciliationItem:
    """Finance marks a difference as handled; the comment is required and audited."""
    comment = (comment or "").strip()
    if not comment:
        raise DomainError("请填写处理说明")
    item = db.session.get(ReconciliationItem, item_id)
    if item is None:
        raise NotFound("差异记录不存在")
    if item.resolved_at is None:
        item.resolved_at, item.resolved_by = utcnow(), staff
        item.note = f"{item.note or ''} | 处理：{comment}"[:255]
        audit.record("reconciliation.resolve", actor_type="staff", actor_name=staff, target_type="reconciliation_item",
                     target_id=item.id, detail=f"{item.kind} {item.order_no}: {comment}")
    return item
