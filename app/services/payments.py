"""Payments: one core for registration fees (挂号费), outpatient bills (门诊缴费) and deposits (押金).

The payment order moves CREATED -> PAYING -> PAID -> (CONFIRMED | CONFIRM_FAILED) -> REFUNDING ->
(REFUNDED | PARTIALLY_REFUNDED), or to CLOSED when unpaid past its deadline (see states.PAYMENT).
Every move is a guarded UPDATE; a notification delivered twice, a query racing a notification or two
app processes sweeping at once therefore change an order once.

What each business does around the money (hold a slot, settle a bill at the HIS, credit a deposit)
plugs in as a ``PaymentKind`` registered under the order's ``kind``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from app.channels import (
    ChannelError,
    ChannelUnavailable,
    NotificationIgnored,
    NotificationRejected,
    OrderAlreadyPaid,
    PaymentChannel,
    PaymentNotification,
    PaymentStart,
    RefundNotification,
    make_channels,
)
from app.channels.base import CHINA_TZ
from app.extensions import db
from app.his.errors import HisBusinessError, HisError
from app.models import ChannelNotification, PaymentOrder, Refund, StateTransition
from app.models.base import new_order_no, utcnow
from app.services import states
from app.services.errors import Conflict, DomainError, Forbidden, NotFound
from app.services.formatting import yuan

log = logging.getLogger("payments")

ORDER_PREFIX = {"registration": "GH", "outpatient": "MZ", "deposit": "YJ"}
REFUND_PREFIX = "TK"
CHANNELS = ("wechat", "alipay")
#: seconds between HIS confirmation attempts; after the last the payment is refunded
CONFIRM_BACKOFF = (30, 60, 120, 300, 600)
SURVEY_TRIGGER = {"outpatient": "visit", "registration": "payment", "deposit": "payment"}
REFUNDABLE = ("paid", "confirmed", "confirm_failed", "refunding", "partially_refunded")


@dataclass(frozen=True)
class ConfirmOutcome:
    """What the HIS said when the money was handed over: receipt number and 导诊 lines."""

    receipt_no: str | None = None
    guidance: tuple[str, ...] = ()
    extra: Mapping[str, str] = field(default_factory=dict)


class PaymentKind(Protocol):
    """The business around one kind of payment (registration, outpatient, deposit)."""

    def confirm(self, payment: PaymentOrder) -> ConfirmOutcome:
        """Tell the HIS the money arrived. Raise HisBusinessError if the HIS refuses (the payment is
        then refunded), HisUnavailable/HisError to be retried with backoff. Must be idempotent."""

    def on_confirmed(self, payment: PaymentOrder, outcome: ConfirmOutcome) -> None:
        """Record the confirmation on the business order and notify the patient (same transaction)."""

    def on_closed(self, payment: PaymentOrder) -> None:
        """The order closed unpaid: release whatever was held (e.g. the slot)."""

    def on_confirm_failed(self, payment: PaymentOrder, reason: str) -> None:
        """The HIS refused or never answered; the money is being refunded."""

    def on_refunded(self, payment: PaymentOrder, refund: Refund) -> None:
        """A refund reached the patient: update the business order, notify the patient."""

    def result_url(self, payment: PaymentOrder) -> str:
        """Where the patient continues after paying (order detail page)."""


_KINDS: dict[str, PaymentKind] = {}


def register_kind(kind: str, handler: PaymentKind) -> None:
    """Plug a business into the payment core (called once at import of the business service)."""
    _KINDS[kind] = handler


def kind_handler(kind: str) -> PaymentKind:
    if kind not in _KINDS:
        raise LookupError(f"no payment kind registered for {kind!r}")
    return _KINDS[kind]


class PaymentRejected(DomainError):
    """A notification or query result that does not fit the order (amount, order, app/merchant)."""

    status = 400
    code = "payment_rejected"


# -- channels -----------------------------------------------------------------------------------

def channels() -> dict[str, PaymentChannel]:
    """The configured channel adapters (built once per app; they hold credentials, no patient state)."""
    built = current_app.extensions.get("payment_channels")
    if built is None:
        built = make_channels(current_app.config)
        current_app.extensions["payment_channels"] = built
    return built


def notify_url(channel: str, refund: bool = False) -> str:
    base = current_app.config["PUBLIC_BASE_URL"].rstrip("/")
    path = {"wechat": "/notify/wechatpay", "alipay": "/notify/alipay"}[channel]
    return f"{base}{path}{'/refund' if refund and channel == 'wechat' else ''}"


def _as_utc(moment: dt.datetime | None) -> dt.datetime | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(dt.UTC).replace(tzinfo=None)


# -- creating and starting ----------------------------------------------------------------------

def create_payment_order(*, kind: str, owner_id: int, patient_id: int, channel: str, amount_fen: int,
                         description: str, actor: str, business_ref: str | None = None,
                         appointment_id: int | None = None, detail: object = None,
                         expires_at: dt.datetime | None = None) -> PaymentOrder:
    """Add a CREATED payment order to the caller's unit of work (the caller commits)."""
    if kind not in ORDER_PREFIX:
        raise ValueError(f"unknown payment kind {kind!r}")
    if channel not in CHANNELS:
        raise DomainError(_("不支持的支付方式"))
    if not isinstance(amount_fen, int) or amount_fen <= 0:
        raise DomainError(_("支付金额不正确"))
    minutes = int(current_app.config.get("PAYMENT_TIMEOUT_MINUTES", 15))
    order = PaymentOrder(
        order_no=new_order_no(ORDER_PREFIX[kind]), kind=kind, owner_id=owner_id, patient_id=patient_id,
        channel=channel, amount_fen=amount_fen, description=description[:128], status="created",
        business_ref=business_ref, appointment_id=appointment_id,
        detail_json=None if detail is None else json.dumps(detail, ensure_ascii=False, default=str),
        expires_at=expires_at or utcnow() + dt.timedelta(minutes=minutes),
    )
    db.session.add(order)
    db.session.flush()
    db.session.add(StateTransition(order_type="payment", order_id=order.id, from_status="-", to_status="created",
                                   actor=actor, reason=description[:255]))
    log.info("payment created order=%s kind=%s channel=%s amount=%s", order.order_no, kind, channel,
             yuan(amount_fen))
    return order


def owned_payment(order_no: str, owner_id: int) -> PaymentOrder:
    """The account's payment order, or 404 (another account's order is indistinguishable from none)."""
    order = db.session.scalar(select(PaymentOrder).where(PaymentOrder.order_no == order_no))
    if order is None or order.owner_id != owner_id:
        raise Forbidden(_("订单不存在"))
    return order


def start_payment(order_no: str, owner_id: int, payer_uid: str | None, return_url: str | None) -> PaymentStart:
    """Open the payment at the channel and return what the page needs (JSAPI params or cashier URL)."""
    order = owned_payment(order_no, owner_id)
    if order.status not in ("created", "paying"):
        raise Conflict(_("订单状态已变化，请刷新后查看"))
    if order.expires_at and order.expires_at <= utcnow():
        raise Conflict(_("订单已超过支付时限，请重新下单"))
    expire_at = order.expires_at.replace(tzinfo=dt.UTC).astimezone(CHINA_TZ) if order.expires_at else None
    try:
        start = channels()[order.channel].create_payment(
            order.order_no, order.amount_fen, order.description, payer_uid, notify_url(order.channel),
            return_url, expire_at)
    except ChannelUnavailable as exc:
        log.warning("channel unavailable on create order=%s: %s", order.order_no, exc)
        raise DomainError(_("支付渠道暂时不可用，请稍后再试"), status=503) from exc
    except ChannelError as exc:
        log.error("channel refused create order=%s code=%s msg=%s", order.order_no, exc.code, exc.message)
        raise DomainError(_("支付渠道拒绝了本次支付：%(reason)s", reason=exc.message or exc.code)) from exc
    if order.status == "created":
        states.move("payment", order.id, "created", "paying", actor=f"patient:{owner_id}",
                    reason="cashier opened", payer_uid=payer_uid)
    db.session.commit()
    return start


# -- money arrives -------------------------------------------------------------------------------

def apply_payment(order: PaymentOrder, *, trade_no: str, amount_fen: int, paid_at: dt.datetime | None,
                  raw: object, actor: str) -> bool:
    """Record that the channel has the money for ``order``; True if this call changed anything.

    Refuses a wrong amount. Money that arrives after the order closed is recorded (CLOSED -> PAID),
    flagged and refunded in full automatically. The caller commits.
    """
    if amount_fen != order.amount_fen:
        log.error("payment amount mismatch order=%s expected=%s got=%s", order.order_no, order.amount_fen,
                  amount_fen)
        raise PaymentRejected("amount mismatch")
    values = {"channel_trade_no": trade_no, "paid_at": _as_utc(paid_at) or utcnow(),
              "raw_notification": json.dumps(raw, ensure_ascii=False, default=str)[:60000],
              "next_his_attempt_at": utcnow()}
    if states.move("payment", order.id, "paying", "paid", actor=actor, reason="channel reports paid", **values):
        log.info("payment paid order=%s trade=%s by=%s", order.order_no, trade_no, actor)
        return True
    if states.move("payment", order.id, "closed", "paid", actor=actor, reason="paid after close",
                   flag="paid_after_close", **dict(values, next_his_attempt_at=None)):
        log.warning("payment arrived after close order=%s trade=%s: refunding", order.order_no, trade_no)
        db.session.refresh(order)
        request_refund(order, order.amount_fen, _("订单已超时关闭，款项原路退回"),
                       requested_by="system:paid_after_close", request_key=f"paid_after_close:{order.order_no}")
        return True
    return False


def handle_notification(channel_name: str, headers: Mapping[str, str], body: bytes) -> tuple[str, int, str]:
    """Verify, deduplicate and apply one payment or refund notification; answer in the channel's format.

    The answer is produced only after the change is committed, so an unanswered channel retries.
    """
    adapter = channels()[channel_name]
    try:
        note = adapter.parse_notification(headers, body)
    except NotificationIgnored as exc:
        log.info("%s notification ignored: %s", channel_name, exc)
        return adapter.notification_ack(True)
    except NotificationRejected as exc:
        log.warning("%s notification REJECTED (%s): %s", channel_name, exc.code, exc.message)
        _record_notification(channel_name, "unknown", f"rejected-{utcnow().timestamp()}", None,
                             f"rejected:{exc.code}"[:32], body)
        db.session.commit()
        return adapter.notification_ack(False, "verification failed")
    kind = "payment" if isinstance(note, PaymentNotification) else "refund"
    notify_id = note.notification_id or (
        f"{note.order_no}:{note.trade_no}" if isinstance(note, PaymentNotification) else
        f"{note.order_no}:{note.refund_no}:{note.state}")
    try:
        if kind == "payment":
            outcome = _apply_payment_notification(channel_name, note)
        else:
            outcome = _apply_refund_notification(channel_name, note)
    except PaymentRejected as exc:
        db.session.rollback()
        log.warning("%s %s notification for order=%s rejected: %s", channel_name, kind, note.order_no, exc.message)
        _record_notification(channel_name, kind, f"{notify_id}:rejected", note.order_no, f"rejected:{exc.message}",
                             body)
        db.session.commit()
        return adapter.notification_ack(False, exc.message)
    if not _record_notification(channel_name, kind, notify_id, note.order_no, outcome, body):
        outcome = "duplicate"
    db.session.commit()
    send_queued_refunds()
    log.info("%s %s notification order=%s outcome=%s", channel_name, kind, note.order_no, outcome)
    if kind == "payment" and outcome == "applied":
        _enqueue_confirm(note.order_no)
    return adapter.notification_ack(True)


def _record_notification(channel: str, kind: str, notify_id: str, order_no: str | None, outcome: str,
                         body: bytes) -> bool:
    """Keep every notification received; False when this notification id was seen before."""
    try:
        with db.session.begin_nested():
            db.session.add(ChannelNotification(channel=channel, kind=kind, notify_id=notify_id[:96],
                                               order_no=order_no, outcome=outcome[:32],
                                               raw=body[:20000].decode("utf-8", "replace")))
        return True
    except IntegrityError:
        return False


def _order_for(channel_name: str, order_no: str) -> PaymentOrder:
    order = db.session.scalar(select(PaymentOrder).where(PaymentOrder.order_no == order_no))
    if order is None:
        raise PaymentRejected("unknown order")
    if order.channel != channel_name:
        raise PaymentRejected("order belongs to another channel")
    return order


def _apply_payment_notification(channel_name: str, note: PaymentNotification) -> str:
    order = _order_for(channel_name, note.order_no)
    changed = apply_payment(order, trade_no=note.trade_no, amount_fen=note.amount_fen, paid_at=note.paid_at,
                            raw=dict(note.raw), actor=f"channel:{channel_name}")
    return "applied" if changed else "duplicate"


def refresh_from_channel(order_no: str, owner_id: int) -> PaymentOrder:
    """When the patient returns from the cashier, ask the channel instead of trusting the page."""
    order = owned_payment(order_no, owner_id)
    if order.status not in ("created", "paying"):
        return order
    try:
        status = channels()[order.channel].query_payment(order.order_no)
    except ChannelError as exc:
        log.warning("query failed order=%s: %s", order.order_no, exc)
        return order
    if status.state == "paid" and status.trade_no:
        changed = apply_payment(order, trade_no=status.trade_no, amount_fen=status.amount_fen or -1,
                                paid_at=status.paid_at, raw=dict(status.raw), actor="query")
        db.session.commit()
        send_queued_refunds()
        if changed:
            _enqueue_confirm(order.order_no)
        db.session.refresh(order)
    return order


# -- handing over to the HIS ------------------------------------------------------------------

def _enqueue_confirm(order_no: str) -> None:
    from app.tasks.payments import confirm_payment_task

    confirm_payment_task(order_no)


def confirm_payment(order_no: str) -> str:
    """Confirm a PAID order to the HIS (idempotent); returns the resulting status.

    A refusal by the HIS, or no answer after every backoff step, refunds the patient in full.
    """
    order = db.session.scalar(select(PaymentOrder).where(PaymentOrder.order_no == order_no))
    if order is None or order.status != "paid":
        return order.status if order else "missing"
    handler = kind_handler(order.kind)
    try:
        outcome = handler.confirm(order)
    except HisBusinessError as exc:
        db.session.rollback()
        return _confirm_failed(order, f"HIS refused: {exc.code} {exc.message}")
    except HisError as exc:
        db.session.rollback()
        attempts = order.his_attempts + 1
        if attempts > len(CONFIRM_BACKOFF):
            return _confirm_failed(order, f"HIS unavailable after {attempts} attempts: {exc}")
        db.session.execute(update(PaymentOrder).where(PaymentOrder.id == order.id, PaymentOrder.status == "paid")
                           .values(his_attempts=attempts, his_error=str(exc)[:255],
                                   next_his_attempt_at=utcnow() + dt.timedelta(seconds=CONFIRM_BACKOFF[attempts - 1])))
        db.session.commit()
        log.warning("HIS confirm retry order=%s attempt=%s: %s", order.order_no, attempts, exc)
        return "paid"
    if states.move("payment", order.id, "paid", "confirmed", actor="system:his",
                   reason="HIS confirmed", his_receipt_no=outcome.receipt_no, his_error=None,
                   his_attempts=order.his_attempts + 1, guidance="\n".join(outcome.guidance) or None):
        db.session.refresh(order)
        handler.on_confirmed(order, outcome)
        # 满意度调查: an outpatient bill is paid after the consultation, i.e. a completed visit.
        from app.services.content import offer_survey

        offer_survey(order.owner_id, SURVEY_TRIGGER.get(order.kind, "payment"), order.order_no)
        log.info("payment confirmed order=%s receipt=%s", order.order_no, outcome.receipt_no)
    db.session.commit()
    send_queued_refunds()  # on_confirmed may refund part of the payment (e.g. a bill paid at the window)
    return "confirmed"


def _confirm_failed(order: PaymentOrder, reason: str) -> str:
    if not states.move("payment", order.id, "paid", "confirm_failed", actor="system:his", reason=reason[:255],
                       his_error=reason[:255]):
        db.session.rollback()
        return db.session.get(PaymentOrder, order.id).status
    db.session.refresh(order)
    log.error("HIS confirm FAILED order=%s: %s; refunding", order.order_no, reason)
    kind_handler(order.kind).on_confirm_failed(order, reason)
    request_refund(order, order.amount_fen - order.refunded_fen, _("医院系统未能确认，款项原路退回"),
                   requested_by="system:confirm_failed", request_key=f"confirm_failed:{order.order_no}")
    db.session.commit()
    send_queued_refunds()
    return "confirm_failed"


def sweep_confirmations(limit: int = 100) -> int:
    """Confirm every PAID order whose next attempt is due (finishes what a killed task left)."""
    due = db.session.scalars(select(PaymentOrder.order_no).where(
        PaymentOrder.status == "paid", PaymentOrder.next_his_attempt_at <= utcnow()).limit(limit)).all()
    for order_no in due:
        confirm_payment(order_no)
    return len(due)


# -- closing unpaid orders -------------------------------------------------------------------

def close_expired(limit: int = 200, now: dt.datetime | None = None) -> int:
    """Close unpaid orders past their deadline, at the channel too; returns how many closed."""
    now = now or utcnow()
    expired = db.session.scalars(select(PaymentOrder).where(
        PaymentOrder.status.in_(("created", "paying")), PaymentOrder.expires_at <= now).limit(limit)).all()
    closed = 0
    for order in expired:
        if order.status == "paying":
            try:
                channels()[order.channel].close_payment(order.order_no)
            except OrderAlreadyPaid:
                refresh_from_channel(order.order_no, order.owner_id)
                continue
            except ChannelError as exc:
                log.warning("close at channel failed order=%s: %s (retry next sweep)", order.order_no, exc)
                continue
        if states.move("payment", order.id, order.status, "closed", actor="system:deadline",
                       reason="unpaid past deadline", closed_at=now):
            db.session.refresh(order)
            kind_handler(order.kind).on_closed(order)
            closed += 1
        db.session.commit()
    if closed:
        log.info("closed %s unpaid payment orders", closed)
    return closed


def cancel_unpaid(order: PaymentOrder, actor: str, reason: str) -> bool:
    """Close an unpaid order now (the patient cancelled); the caller commits. False if already paid."""
    if order.status == "paying":
        try:
            channels()[order.channel].close_payment(order.order_no)
        except OrderAlreadyPaid:
            return False
        except ChannelError as exc:
            log.warning("close at channel failed order=%s: %s", order.order_no, exc)
    return states.move("payment", order.id, order.status, "closed", actor=actor, reason=reason,
                       closed_at=utcnow()) if order.status in ("created", "paying") else False


# -- refunds -------------------------------------------------------------------------------------

def request_refund(order: PaymentOrder, amount_fen: int, reason: str, *, requested_by: str,
                   request_key: str | None = None) -> Refund:
    """Reserve ``amount_fen`` of what was paid for a refund and queue it; the caller commits.

    Idempotent on ``request_key``. Partial refunds add up and can never exceed what was paid: the
    reservation is one guarded UPDATE on ``refunded_fen``.
    """
    if request_key:
        existing = db.session.scalar(select(Refund).where(Refund.request_key == request_key))
        if existing is not None:
            if existing.payment_id != order.id or existing.amount_fen != amount_fen:
                raise Conflict(_("退款请求编号已被使用"))
            return existing
    if not isinstance(amount_fen, int) or amount_fen <= 0:
        raise DomainError(_("退款金额不正确"))
    reserved = db.session.execute(
        update(PaymentOrder)
        .where(PaymentOrder.id == order.id, PaymentOrder.status.in_(REFUNDABLE),
               PaymentOrder.refunded_fen + amount_fen <= PaymentOrder.amount_fen)
        .values(refunded_fen=PaymentOrder.refunded_fen + amount_fen)
        .execution_options(synchronize_session=False))
    if reserved.rowcount != 1:
        raise Conflict(_("退款金额超过可退金额或订单状态不允许退款"))
    db.session.refresh(order)
    if order.status != "refunding":
        states.move("payment", order.id, order.status, "refunding", actor=requested_by, reason=reason[:255])
    refund = Refund(refund_no=new_order_no(REFUND_PREFIX), payment_id=order.id, amount_fen=amount_fen,
                    reason=reason[:255], status="requested", requested_by=requested_by, request_key=request_key)
    db.session.add(refund)
    db.session.flush()
    db.session.add(StateTransition(order_type="refund", order_id=refund.id, from_status="-", to_status="requested",
                                   actor=requested_by, reason=reason[:255]))
    log.info("refund requested refund=%s order=%s amount=%s by=%s", refund.refund_no, order.order_no,
             yuan(amount_fen), requested_by)
    _after_commit_process_refund(refund.refund_no)
    return refund


def _after_commit_process_refund(refund_no: str) -> None:
    """Remember to send the refund once the reservation is committed (see ``send_queued_refunds``)."""
    db.session.info.setdefault("refunds_to_send", []).append(refund_no)


def send_queued_refunds() -> None:
    """Enqueue the refunds requested in the transaction just committed. Call after commit; the refund
    sweep sends any that a crash between commit and enqueue left behind."""
    from app.tasks.payments import process_refund_task

    queued = db.session.info.pop("refunds_to_send", [])
    for refund_no in queued:
        try:
            process_refund_task(refund_no)
        except Exception:
            log.exception("could not enqueue refund %s", refund_no)


def process_refund(refund_no: str) -> str:
    """Send a REQUESTED (or retried FAILED) refund to the channel; returns the refund's status."""
    refund = db.session.scalar(select(Refund).where(Refund.refund_no == refund_no))
    if refund is None:
        return "missing"
    if refund.status in ("requested", "failed"):
        if not states.move("refund", refund.id, refund.status, "processing", actor="system:refund",
                           reason="sent to channel", attempts=refund.attempts + 1):
            db.session.rollback()
            return db.session.get(Refund, refund.id).status
        db.session.commit()
        db.session.refresh(refund)
    elif refund.status != "processing":
        return refund.status
    return _send_to_channel(refund)


def _send_to_channel(refund: Refund) -> str:
    """Ask the channel for a PROCESSING refund (same refund number on every try) and record its answer."""
    order = refund.payment
    try:
        result = channels()[order.channel].refund(order.order_no, refund.refund_no, refund.amount_fen,
                                                  order.amount_fen, refund.reason, notify_url(order.channel, True))
    except ChannelUnavailable as exc:
        log.warning("refund %s: channel unavailable (%s); the sweep retries", refund.refund_no, exc)
        return "processing"
    except ChannelError as exc:
        return _refund_failed(refund, f"{exc.code}: {exc.message}")
    if result.state == "succeeded":
        return _refund_succeeded(refund, result.channel_refund_no, result.raw)
    if result.state == "failed":
        return _refund_failed(refund, json.dumps(dict(result.raw), ensure_ascii=False, default=str)[:200])
    db.session.execute(update(Refund).where(Refund.id == refund.id).values(channel_refund_no=result.channel_refund_no))
    db.session.commit()
    return "processing"


def _refund_succeeded(refund: Refund, channel_refund_no: str | None, raw: object) -> str:
    if not states.move("refund", refund.id, "processing", "success", actor="channel", reason="refund succeeded",
                       channel_refund_no=channel_refund_no, succeeded_at=utcnow(),
                       raw=json.dumps(raw, ensure_ascii=False, default=str)[:20000]):
        db.session.rollback()
        return db.session.get(Refund, refund.id).status
    db.session.refresh(refund)
    order = refund.payment
    db.session.refresh(order)
    _settle_payment_after_refunds(order)
    kind_handler(order.kind).on_refunded(order, refund)
    db.session.commit()
    log.info("refund succeeded refund=%s order=%s amount=%s", refund.refund_no, order.order_no,
             yuan(refund.amount_fen))
    return "success"


def _refund_failed(refund: Refund, reason: str) -> str:
    """A refund the channel refused: the reservation is released and the payment flagged for staff."""
    if not states.move("refund", refund.id, "processing", "failed", actor="channel", reason=reason[:255],
                       failure_reason=reason[:255]):
        db.session.rollback()
        return db.session.get(Refund, refund.id).status
    db.session.execute(update(PaymentOrder).where(PaymentOrder.id == refund.payment_id)
                       .values(refunded_fen=PaymentOrder.refunded_fen - refund.amount_fen, flag="refund_failed")
                       .execution_options(synchronize_session=False))
    order = db.session.get(PaymentOrder, refund.payment_id)
    db.session.refresh(order)
    _settle_payment_after_refunds(order)
    db.session.commit()
    log.error("refund FAILED refund=%s order=%s: %s", refund.refund_no, order.order_no, reason)
    return "failed"


def _settle_payment_after_refunds(order: PaymentOrder) -> None:
    """Leave REFUNDING once no refund is in flight: REFUNDED, PARTIALLY_REFUNDED or back where it was."""
    in_flight = db.session.scalar(select(Refund.id).where(
        Refund.payment_id == order.id, Refund.status.in_(("requested", "processing"))).limit(1))
    if in_flight is not None or order.status != "refunding":
        return
    refunded = db.session.scalar(select(db.func.coalesce(db.func.sum(Refund.amount_fen), 0)).where(
        Refund.payment_id == order.id, Refund.status == "success"))
    if refunded >= order.amount_fen:
        target = "refunded"
    elif refunded > 0:
        target = "partially_refunded"
    else:
        target = "confirmed" if order.his_receipt_no else "confirm_failed"
    states.move("payment", order.id, "refunding", target, actor="system:refund", reason="refunds settled")


def _apply_refund_notification(channel_name: str, note: RefundNotification) -> str:
    order = _order_for(channel_name, note.order_no)
    refund = db.session.scalar(select(Refund).where(Refund.refund_no == note.refund_no))
    if refund is None or refund.payment_id != order.id:
        raise PaymentRejected("unknown refund")
    if note.refund_fen is not None and note.refund_fen != refund.amount_fen:
        raise PaymentRejected("refund amount mismatch")
    if note.refunded_total_fen is not None and note.refunded_total_fen > order.amount_fen:
        raise PaymentRejected("refunded total exceeds payment")
    if refund.status != "processing":
        return "duplicate"
    if note.state == "succeeded":
        return "applied" if _refund_succeeded(refund, note.channel_refund_no, dict(note.raw)) == "success" \
            else "duplicate"
    if note.state == "failed":
        return "applied" if _refund_failed(refund, "channel notification: failed") == "failed" else "duplicate"
    return "duplicate"


def sweep_refunds(limit: int = 100, older_than_s: int = 60) -> int:
    """Finish refunds a killed task or a lost notification left: send REQUESTED, query PROCESSING."""
    cutoff = utcnow() - dt.timedelta(seconds=older_than_s)
    stale = db.session.scalars(select(Refund).where(
        Refund.status.in_(("requested", "processing")), Refund.updated_at <= cutoff).limit(limit)).all()
    for refund in stale:
        if refund.status == "requested":
            process_refund(refund.refund_no)
            continue
        order = refund.payment
        try:
            result = channels()[order.channel].query_refund(order.order_no, refund.refund_no)
        except ChannelError as exc:
            log.warning("refund query failed refund=%s: %s", refund.refund_no, exc)
            continue
        if result.state == "succeeded":
            _refund_succeeded(refund, result.channel_refund_no, result.raw)
        elif result.state == "failed":
            # The channel does not know it: send it again under the same refund number.
            db.session.execute(update(Refund).where(Refund.id == refund.id).values(updated_at=utcnow()))
            db.session.commit()
            _send_to_channel(refund)
    return len(stale)


def staff_refund(order_no: str, amount_fen: int, reason: str, staff: str) -> Refund:
    """A refund started by finance staff (audited by the caller's view through audit.record)."""
    order = db.session.scalar(select(PaymentOrder).where(PaymentOrder.order_no == order_no))
    if order is None:
        raise NotFound(_("订单不存在"))
    if not reason.strip():
        raise DomainError(_("请填写退款原因"))
    refund = request_refund(order, amount_fen, reason, requested_by=f"staff:{staff}")
    db.session.commit()
    send_queued_refunds()
    return refund
