"""Outpatient bills (门诊缴费): pending bills by visit, paying them through the payment core, 导诊,
refunds the HIS asks for, and reminders of new bills.

The HIS is the truth about what is owed: amounts are recomputed from it when the patient pays, and a
bill paid at the window or changed meanwhile is refused before any money moves. A bill that the HIS
will not settle after the money arrived (paid at the window in between) is refunded automatically.

A "visit" (一次就诊) groups the bills one doctor of one department issued on one day: the HIS contract
carries no visit number, so (day, department, doctor) is the key.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from app.links import patient_url
from app import clock
from app.extensions import db
from app.his.errors import HisBusinessError
from app.his.errors import NotFound as HisNotFound
from app.his.interface import Bill
from app.models import (AppointmentOrder, BillPayment, BillPaymentItem, GuidanceRule, Notification, Patient,
                        PaymentOrder, Refund, RefundItem)
from app.models.base import utcnow
from app.payments.states import LIVE, PaymentStatus, RefundStatus
from app.payments import commands as payments
from app.services.errors import Conflict, DomainError, NotFound
from app.services.formatting import mask_name, yuan
from app.services.his_access import his_gateway
from app.messages.notifications import notify
from app.identity.patients import owned_patient
from app.services.settings import in_window, setting_hours
from app.services.uow import unit_of_work
from app.billing.states import BillPaymentStatus
from app.identity.states import PatientStatus
from app.registration.states import AppointmentStatus
from app.his.interface import TradeRecordStatus

log = logging.getLogger("billing")

MAX_BILLS_PER_PAYMENT = 20


# -- reading bills -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Visit:
    """The pending bills of one visit (same day, department and doctor) and what they add up to."""

    key: str
    day: dt.date
    department_name: str
    doctor_name: str
    bills: tuple[Bill, ...]
    total_fen: int


def visit_key(bill: Bill) -> str:
    """The visit a bill belongs to: ``20261126|产科门诊|钟雪``."""
    return f"{bill.created_at:%Y%m%d}|{bill.department_name}|{bill.doctor_name}"


def group_by_visit(bills: Iterable[Bill]) -> list[Visit]:
    """Bills grouped by visit, newest visit first, bills oldest first inside a visit."""
    groups: dict[str, list[Bill]] = defaultdict(list)
    for bill in bills:
        groups[visit_key(bill)].append(bill)
    visits = [Visit(key=key, day=items[0].created_at.date(), department_name=items[0].department_name,
                    doctor_name=items[0].doctor_name, bills=tuple(sorted(items, key=lambda b: b.created_at)),
                    total_fen=sum(b.amount_fen for b in items)) for key, items in groups.items()]
    return sorted(visits, key=lambda v: (v.day, v.key), reverse=True)


def _card_bills(patient: Patient) -> tuple[Bill, ...]:
    try:
        return his_gateway().pending_bills(patient.card_no)
    except HisNotFound:
        raise NotFound(_("医院系统中找不到该就诊卡，请联系门诊服务台")) from None


def bills_in_payment(bill_nos: Iterable[str]) -> dict[str, PaymentOrder]:
    """Bills that a live (unpaid or just paid) outpatient order already covers, with that order."""
    wanted = list(bill_nos)
    if not wanted:
        return {}
    unpaid_open = and_(PaymentOrder.status.in_(LIVE), PaymentOrder.expires_at > utcnow())
    rows = db.session.execute(
        select(BillPayment.bill_no, PaymentOrder)
        .join(PaymentOrder, PaymentOrder.id == BillPayment.payment_id)
        .where(BillPayment.bill_no.in_(wanted), or_(unpaid_open, PaymentOrder.status == PaymentStatus.PAID))).all()
    live = {bill_no: order for bill_no, order in rows}
    return live


def pending_visits(owner_id: int, patient_id: int | str | None) -> tuple[Patient, list[Visit], set[str]]:
    """The patient's unpaid bills grouped by visit, and which of them are being paid right now."""
    patient = owned_patient(owner_id, patient_id)
    bills = _card_bills(patient)
    paying = set(bills_in_payment(b.bill_no for b in bills))
    return patient, group_by_visit(bills), paying


def bill_detail(owner_id: int, patient_id: int | str | None, bill_no: str) -> tuple[Patient, Bill]:
    """One pending bill of the patient's card with every item; 404 for any other bill."""
    patient = owned_patient(owner_id, patient_id)
    for bill in _card_bills(patient):
        if bill.bill_no == bill_no:
            return patient, bill
    raise NotFound(_("账单不存在或已缴费"))


# -- paying ----------------------------------------------------------------------------------------

def _snapshot(bill: Bill) -> dict:
    return {"bill_no": bill.bill_no, "department_name": bill.department_name, "doctor_name": bill.doctor_name,
            "created_at": bill.created_at.isoformat(), "amount_fen": bill.amount_fen,
            "items": [{"seq": seq, "name": i.name, "category": i.category, "spec": i.spec, "quantity": i.quantity,
                       "unit_price_fen": i.unit_price_fen, "amount_fen": i.amount_fen}
                      for seq, i in enumerate(bill.items, 1)]}


def create_bill_payment(owner_id: int, patient_id: int | str | None, bill_nos: Sequence[str],
                        expected_fen: int | None, channel: str) -> PaymentOrder:
    """Open a payment order for bills of one visit, the amount recomputed from the HIS now.

    Refused before any money moves: no bill chosen, a bill no longer pending at the HIS (paid at the
    window, withdrawn), bills of different visits, a total that differs from what the patient saw
    (``expected_fen``), a bill another order is paying. The same patient reopening the same unpaid
    selection gets the order already open.
    """
    chosen = list(dict.fromkeys(n.strip() for n in bill_nos if n and n.strip()))
    if not chosen:
        raise DomainError(_("请选择要缴费的项目"))
    if len(chosen) > MAX_BILLS_PER_PAYMENT:
        raise DomainError(_("一次最多缴纳 %(count)s 张账单", count=MAX_BILLS_PER_PAYMENT))
    patient = owned_patient(owner_id, patient_id)
    pending = {b.bill_no: b for b in _card_bills(patient)}
    if any(n not in pending for n in chosen):
        raise Conflict(_("所选账单已缴费或已变更，请刷新后重新选择"))
    bills = [pending[n] for n in chosen]
    if len({visit_key(b) for b in bills}) != 1:
        raise DomainError(_("一次只能缴纳同一次就诊的费用"))
    total = sum(b.amount_fen for b in bills)
    if expected_fen is not None and expected_fen != total:
        raise Conflict(_("费用已变化，当前应缴 ¥%(amount)s，请核对后重新支付", amount=yuan(total)))
    busy = bills_in_payment(chosen)
    if busy:
        orders = {o.id: o for o in busy.values()}
        if len(orders) == 1:
            (order,) = orders.values()
            same = set(db.session.scalars(select(BillPayment.bill_no).where(BillPayment.payment_id == order.id)))
            if (order.owner_id == owner_id and order.status in LIVE and same == set(chosen)
                    and order.amount_fen == total):
                return order
        raise Conflict(_("所选账单正在支付中，请完成该笔支付或等待其超时关闭后再试"))
    with unit_of_work():
        order = payments.create_payment_order(
            kind="outpatient", owner_id=owner_id, patient_id=patient.id, channel=channel, amount_fen=total,
            description=f"门诊缴费-{bills[0].department_name}", actor=f"patient:{owner_id}",
            business_ref=bills[0].bill_no if len(bills) == 1 else visit_key(bills[0])[:64],
            detail={"card_no": patient.card_no, "visit": visit_key(bills[0]), "bills": [_snapshot(b) for b in bills]})
        for bill in bills:
            row = BillPayment(payment_id=order.id, bill_no=bill.bill_no, card_no=patient.card_no,
                              amount_fen=bill.amount_fen, status=BillPaymentStatus.PENDING)
            db.session.add(row)
            db.session.flush()
            db.session.add_all(BillPaymentItem(bill_payment_id=row.id, item_seq=seq, quantity=item.quantity,
                                               unit_price_fen=item.unit_price_fen)
                               for seq, item in enumerate(bill.items, 1))
    log.info("outpatient payment opened order=%s bills=%s amount=%s", order.order_no, ",".join(chosen), yuan(total))
    return order


def order_bills(order: PaymentOrder) -> list[dict]:
    """The bills of an outpatient order as paid (items snapshot) with the HIS's receipt per bill."""
    detail = json.loads(order.detail_json or "{}")
    rows = {r.bill_no: r for r in db.session.scalars(select(BillPayment).where(BillPayment.payment_id == order.id))}
    out = []
    for bill in detail.get("bills", []):
        row = rows.get(bill["bill_no"])
        out.append(dict(bill, status=row.status if row else "pending", receipt_no=row.receipt_no if row else None,
                        guidance=(row.guidance or "").split("\n") if row and row.guidance else []))
    return out


def outpatient_orders(owner_id: int, limit: int = 50) -> list[PaymentOrder]:
    """The account's outpatient payment orders, newest first (unpaid ones that closed are left out)."""
    return list(db.session.scalars(
        select(PaymentOrder).where(PaymentOrder.owner_id == owner_id, PaymentOrder.kind == "outpatient",
                                   PaymentOrder.status != PaymentStatus.CLOSED)
        .order_by(PaymentOrder.created_at.desc(), PaymentOrder.id.desc()).limit(limit)))


def outpatient_order(owner_id: int, order_no: str) -> PaymentOrder:
    """One outpatient order of the account, else 404."""
    order = payments.owned_payment(order_no, owner_id)
    if order.kind != "outpatient":
        raise NotFound(_("订单不存在"))
    return order


def order_refunds(order: PaymentOrder) -> list[Refund]:
    return list(db.session.scalars(select(Refund).where(Refund.payment_id == order.id).order_by(Refund.id)))


# -- 导诊 -----------------------------------------------------------------------------------------

def rule_guidance(items: Iterable[tuple[str, str]]) -> list[str]:
    """Lines of the staff-edited 导诊 mapping that match (item name, category) pairs, in rule order.

    A rule with a category matches items of that category; with a keyword, items whose name contains
    it; with both, items matching both. A rule with neither matches nothing.
    """
    items = list(items)
    lines: list[str] = []
    for rule in db.session.scalars(select(GuidanceRule).order_by(GuidanceRule.sort, GuidanceRule.id)):
        category, keyword = (rule.match_category or "").strip(), (rule.match_keyword or "").strip()
        if not (category or keyword):
            continue
        if any((not category or cat == category) and (not keyword or keyword in name) for name, cat in items):
            if rule.guidance not in lines:
                lines.append(rule.guidance)
    return lines


def _merge_lines(*groups: Iterable[str]) -> tuple[str, ...]:
    seen: list[str] = []
    for group in groups:
        for line in group:
            if line and line not in seen:
                seen.append(line)
    return tuple(seen)


# -- the payment core's plug-in ------------------------------------------------------------------------

class OutpatientPayment:
    """PaymentKind "outpatient": settle each bill at the HIS once the money arrived."""

    def confirm(self, payment: PaymentOrder) -> payments.ConfirmOutcome:
        """Settle every bill (idempotent on the trade number); a bill the HIS refuses is refunded later.

        All bills refused: raise, and the core refunds the whole payment. HisUnavailable propagates
        and the core retries with backoff (settled bills answer the same settlement again).
        """
        his = his_gateway()
        rows = list(db.session.scalars(select(BillPayment).where(BillPayment.payment_id == payment.id)
                                       .order_by(BillPayment.id)))
        detail = {b["bill_no"]: b for b in json.loads(payment.detail_json or "{}").get("bills", [])}
        settled: dict[str, dict] = {}
        refused: dict[str, str] = {}
        first_refusal: HisBusinessError | None = None
        for row in rows:
            try:
                done = his.settle_bill(row.bill_no, row.amount_fen, payment.channel_trade_no or "", payment.channel)
            except HisBusinessError as exc:
                log.warning("HIS refused bill=%s order=%s: %s %s", row.bill_no, payment.order_no, exc.code,
                            exc.message)
                refused[row.bill_no] = f"{exc.code}: {exc.message}"[:255]
                first_refusal = first_refusal or exc
                continue
            settled[row.bill_no] = {"receipt_no": done.receipt_no, "settled_at": done.settled_at.isoformat(),
                                    "guidance": list(done.guidance)}
        if not settled:
            assert first_refusal is not None
            raise first_refusal
        if refused:
            # Part of the money goes back: only on the HIS's own word that it holds none of it for those bills.
            status = his.trade_status(payment.channel_trade_no or "")  # HisUnavailable: retried later
            for record in status.records:
                if record.kind == "bill" and record.status == TradeRecordStatus.APPLIED and record.ref in refused:
                    log.warning("HIS refused bill=%s order=%s but holds it under this trade: settled",
                                record.ref, payment.order_no)
                    refused.pop(record.ref)
                    settled[record.ref] = {"receipt_no": record.receipt_no, "guidance": [],
                                           "settled_at": (record.applied_at or clock.beijing_now()).isoformat()}
        his_lines = [line for info in settled.values() for line in info["guidance"]]
        items = [(i["name"], i["category"]) for no in settled for i in detail.get(no, {}).get("items", [])]
        receipts = ",".join(info["receipt_no"] for info in settled.values())
        return payments.ConfirmOutcome(receipt_no=receipts[:64] or None,
                                       guidance=_merge_lines(his_lines, rule_guidance(items)),
                                       extra={"settled": json.dumps(settled, ensure_ascii=False),
                                              "refused": json.dumps(refused, ensure_ascii=False)})

    def on_confirmed(self, payment: PaymentOrder, outcome: payments.ConfirmOutcome) -> None:
        settled = json.loads(outcome.extra.get("settled", "{}"))
        refused = json.loads(outcome.extra.get("refused", "{}"))
        refused_fen = 0
        for row in db.session.scalars(select(BillPayment).where(BillPayment.payment_id == payment.id)):
            if row.bill_no in settled:
                info = settled[row.bill_no]
                row.status, row.receipt_no = BillPaymentStatus.SETTLED, info["receipt_no"]
                row.settled_at = dt.datetime.fromisoformat(info["settled_at"])
                row.guidance = "\n".join(info["guidance"]) or None
            elif row.bill_no in refused:
                row.status, row.his_error = BillPaymentStatus.REFUSED, refused[row.bill_no]
                refused_fen += row.amount_fen
        paid_fen = payment.amount_fen - refused_fen
        body = _("%(patient)s 门诊缴费成功，金额 ¥%(amount)s。", patient=mask_name(payment.patient.name),
                 amount=yuan(paid_fen))
        if outcome.guidance:
            body += _("导诊：") + "；".join(outcome.guidance)
        notify(payment.owner_id, "bill_paid", _("缴费成功"), body, dedupe_key=f"bill_paid:{payment.order_no}",
               link=patient_url("h5.bill_order", order_no=payment.order_no),
               payload={"order_no": payment.order_no, "amount_fen": paid_fen, "receipt_no": outcome.receipt_no,
                        "guidance": list(outcome.guidance)})
        if refused_fen:
            db.session.flush()
            payments.request_refund(payment, refused_fen, _("部分账单已在窗口缴费或已变更，该部分款项原路退回"),
                                    requested_by="system:bill_refused", request_key=f"bill_refused:{payment.order_no}")

    def on_closed(self, payment: PaymentOrder) -> None:
        """Nothing is held at the HIS while a bill is unpaid."""

    def on_confirm_failed(self, payment: PaymentOrder, reason: str) -> None:
        for row in db.session.scalars(select(BillPayment).where(BillPayment.payment_id == payment.id)):
            row.status, row.his_error = BillPaymentStatus.REFUSED, reason[:255]
        notify(payment.owner_id, "bill_failed", _("缴费未成功"),
               _("医院系统未能确认本次门诊缴费（¥%(amount)s），款项将原路退回。", amount=yuan(payment.amount_fen)),
               dedupe_key=f"bill_failed:{payment.order_no}",
               link=patient_url("h5.bill_order", order_no=payment.order_no))

    def on_refunded(self, payment: PaymentOrder, refund: Refund) -> None:
        _notify_refund(payment, refund)

    def on_refund_failed(self, payment: PaymentOrder, refund: Refund) -> None:
        """The refund finally failed: the units it took on the bill items may be asked for again."""
        release_refund_items(refund)

    def on_refund_retry(self, payment: PaymentOrder, failed: Refund, carrier: Refund) -> bool:
        """A failed refund is tried again (by ``carrier``: itself, or a new refund): take its units
        back for the carrier (False when another refund took them meanwhile)."""
        return retake_refund_items(failed, carrier)

    def result_url(self, payment: PaymentOrder) -> str:
        return patient_url("h5.bill_order", order_no=payment.order_no)


def _notify_refund(payment: PaymentOrder, refund: Refund) -> None:
    notify(payment.owner_id, "refund_success", _("退费成功"),
           _("您的退费 ¥%(amount)s 已原路退回（%(reason)s），订单号 %(order_no)s。", amount=yuan(refund.amount_fen),
             reason=refund.reason, order_no=payment.order_no),
           dedupe_key=f"refund_success:{refund.refund_no}",
           link=patient_url("h5.bill_order", order_no=payment.order_no),
           payload={"order_no": payment.order_no, "refund_no": refund.refund_no, "amount_fen": refund.amount_fen})


# -- refunds the HIS asks for (POST /api/his/v1/refunds) ---------------------------------------------

_REQUEST_NO = re.compile(r"^[A-Za-z0-9_-]{1,48}$")


class HisRefundRefused(DomainError):
    """A refund request the platform will not carry out; ``code`` is part of the HIS API contract."""


@dataclass(frozen=True)
class RefundRequest:
    request_no: str
    bill_no: str
    items: tuple[tuple[int, int], ...] | None  # (item_seq, quantity); None: everything left on the bill
    amount_fen: int | None
    reason: str


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def parse_refund_request(payload: object) -> RefundRequest:
    """Validate the HIS's JSON body; anything unexpected is ``invalid_request`` (400)."""
    def bad(message: str) -> HisRefundRefused:
        return HisRefundRefused(message, code="invalid_request", status=400)

    if not isinstance(payload, dict):
        raise bad("body must be a JSON object")
    request_no, bill_no = payload.get("request_no"), payload.get("bill_no")
    if not isinstance(request_no, str) or not _REQUEST_NO.match(request_no):
        raise bad("request_no must be 1-48 characters of letters, digits, '-' or '_'")
    if not isinstance(bill_no, str) or not 0 < len(bill_no) <= 32:
        raise bad("bill_no is required")
    amount = payload.get("amount_fen")
    if amount is not None and (not _is_int(amount) or amount <= 0):
        raise bad("amount_fen must be a positive integer number of fen")
    reason = payload.get("reason", "")
    if not isinstance(reason, str) or len(reason) > 200:
        raise bad("reason must be text of at most 200 characters")
    raw_items = payload.get("items")
    items: tuple[tuple[int, int], ...] | None = None
    if raw_items is not None:
        if not isinstance(raw_items, list) or not raw_items or len(raw_items) > 100:
            raise bad("items must be a non-empty list (omit it to refund the whole bill)")
        pairs = []
        for entry in raw_items:
            if (not isinstance(entry, dict) or not _is_int(entry.get("item_seq")) or entry["item_seq"] < 1
                    or not _is_int(entry.get("quantity")) or entry["quantity"] < 1):
                raise bad("each item needs item_seq >= 1 and quantity >= 1 (integers)")
            pairs.append((entry["item_seq"], entry["quantity"]))
        if len({seq for seq, _ in pairs}) != len(pairs):
            raise bad("an item_seq appears twice")
        items = tuple(sorted(pairs))
    return RefundRequest(request_no, bill_no.strip(), items, amount, reason.strip() or "医院发起退费")


def _request_key(request_no: str) -> str:
    return f"his:{request_no}"


def _refund_lines(refund: Refund) -> list[RefundItem]:
    return list(db.session.scalars(select(RefundItem).where(RefundItem.refund_id == refund.id)
                                   .order_by(RefundItem.item_seq)))


def _same_request(refund: Refund, req: RefundRequest) -> bool:
    lines = _refund_lines(refund)
    if not lines or any(line.bill_no != req.bill_no for line in lines):
        return False
    if req.amount_fen is not None and req.amount_fen != refund.amount_fen:
        return False
    return req.items is None or tuple((line.item_seq, line.quantity) for line in lines) == req.items


def his_refund(payload: object) -> tuple[Refund, bool]:
    """Carry out a refund the HIS asks for; returns (refund, created).

    Idempotent on the HIS's ``request_no``: the same request again answers the first refund; the
    number reused for a different refund is ``request_conflict``. Full (no ``items``: everything not
    yet refunded) or partial by item and quantity; never beyond what was paid for an item, a bill or
    the payment, however many requests arrive at once: each item's units are taken by a guarded
    UPDATE of its ``bill_payment_item`` row (the database refuses the second taker of the last
    unit), and the payment's total by the payment core's guarded ``refunded_fen``. Rows are taken in
    one order (the payment, then its items by sequence) so concurrent refunds queue instead of
    deadlocking. The money goes back through the channel asynchronously (status query).
    """
    req = parse_refund_request(payload)
    key = _request_key(req.request_no)
    existing = db.session.scalar(select(Refund).where(Refund.request_key == key))
    if existing is not None:
        if _same_request(existing, req):
            return existing, False
        raise HisRefundRefused("request_no was already used for another refund", code="request_conflict",
                               status=409)
    row = db.session.scalar(select(BillPayment).where(BillPayment.bill_no == req.bill_no,
                                                      BillPayment.status == BillPaymentStatus.SETTLED))
    if row is None:
        raise HisRefundRefused("no payment through the platform settled this bill", code="not_found", status=404)
    try:
        with unit_of_work():  # a refusal below rolls all of it back; SEND_REFUND goes after the commit
            payment = db.session.scalar(select(PaymentOrder).where(PaymentOrder.id == row.payment_id).with_for_update())
            # A locking read sees the latest committed counters (a plain read may see an older snapshot).
            items = {item.item_seq: item for item in db.session.scalars(
                select(BillPaymentItem).where(BillPaymentItem.bill_payment_id == row.id)
                .order_by(BillPaymentItem.item_seq).with_for_update())}
            if req.items is None:
                wanted = [(seq, item.quantity - item.refunded_qty) for seq, item in sorted(items.items())
                          if item.quantity > item.refunded_qty]
                if not wanted:
                    raise HisRefundRefused("everything on this bill was already refunded", code="exceeds_paid",
                                           status=409)
            else:
                unknown = [seq for seq, _ in req.items if seq not in items]
                if unknown:
                    raise HisRefundRefused(f"item_seq {unknown[0]} is not on bill {req.bill_no}",
                                           code="invalid_request", status=400)
                wanted = list(req.items)
            amount = sum(qty * items[seq].unit_price_fen for seq, qty in wanted)
            if req.amount_fen is not None and req.amount_fen != amount:
                raise HisRefundRefused(f"the items come to {amount} fen, not {req.amount_fen}",
                                       code="amount_mismatch", status=409)
            if amount <= 0:
                raise HisRefundRefused("nothing to refund: the items are free of charge", code="invalid_request",
                                       status=400)
            for seq, qty in sorted(wanted):
                if not take_item_units(items[seq].id, qty):
                    left = db.session.scalar(select(BillPaymentItem.quantity - BillPaymentItem.refunded_qty)
                                             .where(BillPaymentItem.id == items[seq].id))
                    raise HisRefundRefused(f"item_seq {seq}: only {left} left to refund", code="exceeds_paid",
                                           status=409)
            refund = payments.request_refund(payment, amount, req.reason, requested_by="his", request_key=key)
            for seq, qty in wanted:
                db.session.add(RefundItem(refund_id=refund.id, bill_no=req.bill_no, item_seq=seq, quantity=qty,
                                          amount_fen=qty * items[seq].unit_price_fen))
    except HisRefundRefused:
        raise
    except Conflict as exc:
        raise HisRefundRefused(exc.message, code="exceeds_paid", status=409) from None
    except IntegrityError:
        # The same request_no arrived twice at once: the other call won; answer with its refund.
        existing = db.session.scalar(select(Refund).where(Refund.request_key == key))
        if existing is not None and _same_request(existing, req):
            return existing, False
        raise
    log.info("HIS refund request=%s bill=%s order=%s amount=%s refund=%s", req.request_no, req.bill_no,
             payment.order_no, yuan(amount), refund.refund_no)
    return refund, True


def take_item_units(item_id: int, quantity: int) -> bool:
    """Reserve ``quantity`` units of a paid bill item for a refund; False when fewer are left.

    The guard is the UPDATE's own condition (and the table's CHECK), so it holds under any
    concurrency and isolation level. The caller's unit of work commits.
    """
    result = db.session.execute(
        update(BillPaymentItem)
        .where(BillPaymentItem.id == item_id, BillPaymentItem.refunded_qty + quantity <= BillPaymentItem.quantity)
        .values(refunded_qty=BillPaymentItem.refunded_qty + quantity)
        .execution_options(synchronize_session=False))
    return result.rowcount == 1


def _refund_item_rows(refund: Refund) -> list[tuple[int, int]]:
    """(bill_payment_item id, quantity) of every item line of a refund, in item order."""
    return [(item_id, qty) for item_id, qty in db.session.execute(
        select(BillPaymentItem.id, RefundItem.quantity)
        .join(BillPayment, BillPayment.id == BillPaymentItem.bill_payment_id)
        .join(RefundItem, (RefundItem.bill_no == BillPayment.bill_no)
              & (RefundItem.item_seq == BillPaymentItem.item_seq))
        .where(RefundItem.refund_id == refund.id, BillPayment.payment_id == refund.payment_id)
        .order_by(BillPaymentItem.id))]


def release_refund_items(refund: Refund) -> None:
    """A refund finally failed: its item units may be asked for again. The caller commits."""
    for item_id, qty in _refund_item_rows(refund):
        db.session.execute(update(BillPaymentItem)
                           .where(BillPaymentItem.id == item_id, BillPaymentItem.refunded_qty >= qty)
                           .values(refunded_qty=BillPaymentItem.refunded_qty - qty)
                           .execution_options(synchronize_session=False))


def retake_refund_items(failed: Refund, carrier: Refund) -> bool:
    """A failed refund is tried again by ``carrier`` (itself or a new refund): take its item units back
    and, for a new refund, copy its item lines; False (nothing taken) when another refund has taken
    them meanwhile. The caller commits or rolls back."""
    if not all(take_item_units(item_id, qty) for item_id, qty in _refund_item_rows(failed)):
        return False
    if carrier.id != failed.id:
        for line in _refund_lines(failed):
            db.session.add(RefundItem(refund_id=carrier.id, bill_no=line.bill_no, item_seq=line.item_seq,
                                      quantity=line.quantity, amount_fen=line.amount_fen))
    return True


def his_refund_status(request_no: str) -> Refund:
    """The refund created for the HIS's ``request_no``, else ``not_found``."""
    refund = db.session.scalar(select(Refund).where(Refund.request_key == _request_key(request_no)))
    if refund is None:
        raise HisRefundRefused("no refund for this request_no", code="not_found", status=404)
    return refund


def _hospital_time(moment: dt.datetime | None) -> str | None:
    return None if moment is None else clock.to_beijing(moment).replace(microsecond=0).isoformat()


def refund_answer(refund: Refund) -> dict:
    """The refund as the HIS API documents it (money in fen, hospital local time)."""
    lines = _refund_lines(refund)
    order = refund.payment
    names = {}
    if lines:
        bill = next((b for b in json.loads(order.detail_json or "{}").get("bills", [])
                     if b["bill_no"] == lines[0].bill_no), {"items": []})
        names = {i["seq"]: i["name"] for i in bill["items"]}
    # Only the channel's final word is final for the HIS too: an ABNORMAL refund is still on its way.
    status = {RefundStatus.REQUESTED: "processing", RefundStatus.PROCESSING: "processing",
              RefundStatus.ABNORMAL: "processing"}.get(
        refund.status, refund.status)
    request_no = (refund.request_key or "")[len("his:"):]
    return {"request_no": request_no, "refund_no": refund.refund_no, "order_no": order.order_no,
            "bill_no": lines[0].bill_no if lines else None, "amount_fen": refund.amount_fen, "status": status,
            "reason": refund.reason, "requested_at": _hospital_time(refund.created_at),
            "succeeded_at": _hospital_time(refund.succeeded_at), "failure_reason": refund.failure_reason,
            "items": [{"item_seq": line.item_seq, "name": names.get(line.item_seq, ""), "quantity": line.quantity,
                       "amount_fen": line.amount_fen} for line in lines]}


# -- reminders (待缴费提醒) ---------------------------------------------------------------------------

def in_quiet_hours(now: dt.datetime | None = None) -> bool:
    """Whether ``now`` (UTC, naive) falls in the hospital's reminder quiet hours (Beijing time)."""
    beijing = clock.to_beijing(now or clock.utcnow())
    return in_window(beijing.time(), setting_hours("reminder.quiet_hours"))


#: how often the reminder task runs (app/tasks/billing.py): the clock turns the rotation below
REMINDER_PERIOD = dt.timedelta(minutes=10)


def cards_to_check(now: dt.datetime, max_cards: int) -> list[str]:
    """The bound cards this run asks the HIS about: first every card with a clinic visit today (new
    bills come from today's doctors), then one slice of all bound cards. The slices are ``patient.id
    modulo N`` with N just large enough that a slice holds ``max_cards``, and the clock picks the
    slice, so every bound card is asked once every N runs however many there are, with no cursor
    to keep."""
    today = clock.beijing_date(now)
    visiting = list(db.session.scalars(
        select(Patient.card_no).join(AppointmentOrder, AppointmentOrder.patient_id == Patient.id)
        .where(Patient.status == PatientStatus.BOUND, AppointmentOrder.clinic_date == today,
               AppointmentOrder.status.in_((AppointmentStatus.BOOKED, AppointmentStatus.VISITED)))
        .distinct().order_by(Patient.card_no).limit(max_cards)))
    bound = db.session.scalar(select(func.count()).select_from(Patient)
                              .where(Patient.status == PatientStatus.BOUND)) or 0
    slices = max(1, -(-bound // max(1, max_cards)))
    turn = int((now - dt.datetime(2000, 1, 1)) / REMINDER_PERIOD) % slices
    rotation = db.session.scalars(
        select(Patient.card_no).where(Patient.status == PatientStatus.BOUND, Patient.id % slices == turn)
        .distinct().order_by(Patient.card_no).limit(max_cards))
    return list(dict.fromkeys([*visiting, *rotation]))


def remind_pending_bills(now: dt.datetime | None = None, max_cards: int = 2000) -> int:
    """Remind each account once per new pending bill of its bound cards; returns reminders written.

    Nothing is sent in quiet hours (the next run after them sends what is due). A bill being paid is
    skipped; a bill already reminded to an account is never reminded again (the outbox dedupe key).
    Which cards one run asks about: ``cards_to_check``.
    """
    now = now or utcnow()
    if in_quiet_hours(now):
        return 0
    cards = cards_to_check(now, max_cards)
    by_card: dict[str, list[Patient]] = defaultdict(list)
    for start in range(0, len(cards), 500):
        for patient in db.session.scalars(select(Patient).where(Patient.status == PatientStatus.BOUND,
                                                               Patient.card_no.in_(cards[start:start + 500]))):
            by_card[patient.card_no].append(patient)
    his = his_gateway()
    pending: dict[str, tuple[Bill, ...]] = {}
    for card_no in cards:  # the HIS first: no notice row (and no lock) is held while it answers
        try:
            bills = his.pending_bills(card_no)
        except HisNotFound:
            continue
        if bills:
            pending[card_no] = bills
    written = 0
    with unit_of_work():
        for card_no, bills in pending.items():
            paying = set(bills_in_payment(b.bill_no for b in bills))
            keys = {f"bill_reminder:{p.owner_id}:{b.bill_no}": (p, b)
                    for b in bills if b.bill_no not in paying for p in by_card[card_no]}
            sent = set(db.session.scalars(select(Notification.dedupe_key)
                                          .where(Notification.dedupe_key.in_(list(keys)))))
            for key, (patient, bill) in keys.items():
                if key in sent:
                    continue
                notify(patient.owner_id, "bill_reminder", _("待缴费提醒"),
                       _("%(patient)s 有一笔待缴费用 ¥%(amount)s（%(department)s %(doctor)s），"
                         "请在“门诊缴费”中查看并支付。", patient=mask_name(patient.name),
                         amount=yuan(bill.amount_fen), department=bill.department_name, doctor=bill.doctor_name),
                       dedupe_key=key, link=patient_url("h5.bills", patient_id=patient.id),
                       payload={"bill_no": bill.bill_no, "amount_fen": bill.amount_fen, "patient_id": patient.id})
                written += 1
    if written:
        log.info("bill reminders written: %s", written)
    return written
