"""Payments (缴费): one core for registration fees (挂号费), outpatient bills (门诊缴费), deposits (押金)
and prenatal classes, as commands (Superset style): build with the request's data, ``run()`` once.

Each command is one step of a walk and runs in one unit of work (``app.services.uow``); a command run
from inside another joins the outer unit. A command that must call the HIS or a channel after writing
(ConfirmAtHis, SendRefund, the sweeps) is a short sequence of units with the call between them, never
inside one, and refuses to run inside another unit of work (``uow.outermost``). Calls to the outside
that must wait for a commit are outbox rows (``CONFIRM_AT_HIS``, ``SEND_REFUND``) that the unit of work
dispatches after it commits:

    channel notification -> ApplyChannelNotification   (PAID; writes CONFIRM_AT_HIS)
                         -> ConfirmAtHis               (outbox: the HIS applies it; the kind notifies the patient)
    refund               -> RequestRefund              (amount reserved; writes SEND_REFUND)
                         -> SendRefund                 (outbox: the channel is asked; its answer recorded)

Faces (routes, API, tasks, CLI) call the command classes at the end of this module; the functions
above them are the commands' steps (several are still called directly by modules other engineers own).
The states and ``decide`` live in ``app.payments.states``.

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
from sqlalchemy import or_, select, update
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
    PaymentStatus as PaymentStatus_,
    RefundNotification,
    RefundResult,
    make_channels,
)
from app import outbox
from app.channels.base import CHINA_TZ
from app.clock import utcnow
from app.extensions import db
from app.his.codec import to_plain
from app.his.errors import HisBusinessError, HisError
from app.his.interface import TradeStatus
from app.models import ChannelNotification, HisCheck, PaymentOrder, Refund, StateTransition
from app.models.base import new_order_no
from app.services import states
from app.services.errors import Conflict, DomainError, NotFound
from app.services.formatting import yuan
from app.services.his_access import his_gateway
from app.payments.queries import owned_payment, payment_by_no, refund_by_no
from app.payments.states import PaymentEvent, RefundEvent, decide_payment, decide_refund
from app.services.states import AWAITING_HIS, LIVE, REFUNDABLE, PaymentStatus, RefundStatus
from app.services import uow
from app.services.uow import outermost, savepoint, transaction, unit_of_work
from app.services.states import NO_STATE

log = logging.getLogger("payments")

ORDER_PREFIX = {"registration": "GH", "outpatient": "MZ", "deposit": "YJ"}
REFUND_PREFIX = "TK"
#: outbox kinds: the calls to the outside a payment transaction decides (run after it commits)
CONFIRM_AT_HIS = "payment.confirm_at_his"
SEND_REFUND = "refund.send"
CHANNELS = ("wechat", "alipay")
#: seconds between HIS confirmation attempts; after the last the payment is refunded
CONFIRM_BACKOFF = (30, 60, 120, 300, 600)
SURVEY_TRIGGER = {"outpatient": "visit", "registration": "payment", "deposit": "payment"}


@dataclass(frozen=True)
class ConfirmOutcome:
    """What the HIS said when the money was handed over: receipt number and 导诊 lines."""

    receipt_no: str | None = None
    guidance: tuple[str, ...] = ()
    extra: Mapping[str, str] = field(default_factory=dict)


class PaymentKind(Protocol):
    """The business around one kind of payment (registration, outpatient, deposit).

    Optional hooks, looked up with ``getattr``: ``prepare(payment)`` (local moves before the HIS is
    called; committed first, so no row is locked during the call), ``on_refund_failed(payment,
    refund)`` (a refund finally failed: give back what it held, e.g. bill items' units) and
    ``on_refund_retry(payment, failed, carrier) -> bool`` (take that back again for a retry).
    """

    def confirm(self, payment: PaymentOrder) -> ConfirmOutcome:
        """Tell the HIS the money arrived: HIS calls only, no database writes. Raise HisBusinessError if
        the HIS refuses, HisUnavailable/HisError to be retried with backoff; either way the core asks the
        HIS what it did with the trade before any refund. Must be idempotent on the trade number."""

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
    """The configured channel adapters (built once per app and address; they hold credentials, no patient
    state). Keyed by the address they were built for: a late thread that built them for an address the app
    no longer has (tests point the app at a live server and back) never leaves them in use."""
    address = (current_app.config.get("PAYMENT_MODE"), current_app.config.get("SANDBOX_BASE_URL"))
    cached = current_app.extensions.get("payment_channels")
    if not (isinstance(cached, tuple) and cached[0] == address):
        cached = (address, make_channels(current_app.config))
        current_app.extensions["payment_channels"] = cached
    return cached[1]


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
    order = PaymentOrder(**_new_payment(kind, owner_id, patient_id, channel, amount_fen, description, business_ref,
                                        appointment_id, detail, expires_at))
    db.session.add(order)
    db.session.flush()
    states.record("payment", order.id, NO_STATE, PaymentStatus.CREATED, actor=actor, reason=description[:255])
    log.info("payment created order=%s kind=%s channel=%s amount=%s", order.order_no, kind, channel,
             yuan(amount_fen))
    return order


_PAYMENT_INSERT = PaymentOrder.__table__.insert()


def open_payment_order(*, kind: str, owner_id: int, patient_id: int, channel: str, amount_fen: int,
                       description: str, actor: str, business_ref: str | None = None,
                       appointment_id: int | None = None, detail: object = None,
                       expires_at: dt.datetime | None = None) -> str:
    """``create_payment_order`` for a caller that needs only the new order's number (the booking): the
    same row and transition, written by two Core INSERTs instead of an ORM object and its flush."""
    values = _new_payment(kind, owner_id, patient_id, channel, amount_fen, description, business_ref, appointment_id,
                          detail, expires_at)
    result = uow.execute(_PAYMENT_INSERT, values)
    states.record("payment", result.inserted_primary_key[0], NO_STATE, PaymentStatus.CREATED, actor=actor,
                  reason=description[:255])
    log.info("payment created order=%s kind=%s channel=%s amount=%s", values["order_no"], kind, channel,
             yuan(amount_fen))
    return values["order_no"]


def _new_payment(kind: str, owner_id: int, patient_id: int, channel: str, amount_fen: int, description: str,
                 business_ref: str | None, appointment_id: int | None, detail: object,
                 expires_at: dt.datetime | None) -> dict:
    """The columns of a new CREATED payment order, or the refusal of a wrong kind, channel or amount."""
    if kind not in ORDER_PREFIX:
        raise ValueError(f"unknown payment kind {kind!r}")
    if channel not in CHANNELS:
        raise DomainError(_("不支持的支付方式"))
    if not isinstance(amount_fen, int) or amount_fen <= 0:
        raise DomainError(_("支付金额不正确"))
    minutes = int(current_app.config.get("PAYMENT_TIMEOUT_MINUTES", 15))
    return dict(
        order_no=new_order_no(ORDER_PREFIX[kind]), kind=kind, owner_id=owner_id, patient_id=patient_id,
        channel=channel, amount_fen=amount_fen, description=description[:128], status=PaymentStatus.CREATED,
        business_ref=business_ref, appointment_id=appointment_id,
        detail_json=None if detail is None else json.dumps(detail, ensure_ascii=False, default=str),
        expires_at=expires_at or utcnow() + dt.timedelta(minutes=minutes),
    )


@transaction
def start_payment(order_no: str, owner_id: int, payer_uid: str | None, return_url: str | None) -> PaymentStart:
    """Open the payment at the channel and return what the page needs (JSAPI params or cashier URL).

    The channel is asked before anything is written: no row is locked while it answers."""
    order = owned_payment(order_no, owner_id)
    if order.status not in LIVE:
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
    if order.status == PaymentStatus.CREATED:
        states.move("payment", order.id, PaymentStatus.CREATED, decide_payment(order, PaymentEvent.CASHIER_OPENED),
                    actor=f"patient:{owner_id}", reason="cashier opened", payer_uid=payer_uid)
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
    # Take the order's row first, by its key: concurrent deliveries then queue here, instead of holding
    # index gaps from the guarded UPDATEs below that the HIS confirmation's own move needs (a deadlock).
    db.session.execute(select(PaymentOrder.id).where(PaymentOrder.id == order.id).with_for_update())
    # CREATED too: the cashier may have been opened by a request whose answer never reached our commit.
    for source in (PaymentStatus.PAYING, PaymentStatus.CREATED):
        if states.move("payment", order.id, source, PaymentStatus.PAID, actor=actor, reason="channel reports paid",
                       **values):
            log.info("payment paid order=%s trade=%s by=%s (was %s)", order.order_no, trade_no, actor, source)
            outbox.add(CONFIRM_AT_HIS, order.order_no, {"order_no": order.order_no})
            return True
    if states.move("payment", order.id, PaymentStatus.CLOSED, PaymentStatus.PAID, actor=actor,
                   reason="paid after close", flag="paid_after_close", **dict(values, next_his_attempt_at=None)):
        log.warning("payment arrived after close order=%s trade=%s: refunding", order.order_no, trade_no)
        db.session.refresh(order)
        request_refund(order, order.amount_fen, _("订单已超时关闭，款项原路退回"),
                       requested_by="system:paid_after_close", request_key=f"paid_after_close:{order.order_no}")
        return True
    # Nothing moved: the same money again is harmless; money we cannot place is never acknowledged.
    # A locking read: a plain one may see the snapshot from before a concurrent delivery recorded it.
    recorded = db.session.scalar(select(PaymentOrder.channel_trade_no).where(PaymentOrder.id == order.id)
                                 .with_for_update())
    if recorded != trade_no:
        log.error("payment for order=%s under trade=%s but the order holds trade=%s", order.order_no, trade_no,
                  recorded)
        raise PaymentRejected("the order holds another trade")
    return False


def notification_key(note: PaymentNotification | RefundNotification) -> tuple[str, str]:
    """The notification's kind and the id it is deduplicated on."""
    if isinstance(note, PaymentNotification):
        return "payment", note.notification_id or f"{note.order_no}:{note.trade_no}"
    return "refund", note.notification_id or f"{note.order_no}:{note.refund_no}:{note.state}"


def apply_notification(channel_name: str, note: PaymentNotification | RefundNotification, body: bytes) -> str:
    """Apply one verified notification and keep it; the outcome ("applied" or "duplicate"). Raises
    PaymentRejected when it does not fit the order. Money that lands writes CONFIRM_AT_HIS (outbox);
    the caller's unit of work commits before the channel is answered."""
    kind, notify_id = notification_key(note)
    if kind == "payment":
        outcome = _apply_payment_notification(channel_name, note)
    else:
        outcome = _apply_refund_notification(channel_name, note)
    if not _record_notification(channel_name, kind, notify_id, note.order_no, outcome, body):
        outcome = "duplicate"
    log.info("%s %s notification order=%s outcome=%s", channel_name, kind, note.order_no, outcome)
    return outcome


def record_rejected_notification(channel_name: str, note: PaymentNotification | RefundNotification | None,
                                 why: str, body: bytes) -> None:
    """Keep a notification we refused (bad signature: ``note`` None; or it does not fit the order)."""
    if note is None:
        _record_notification(channel_name, "unknown", f"rejected-{utcnow().timestamp()}", None,
                             f"rejected:{why}"[:32], body)
        return
    kind, notify_id = notification_key(note)
    _record_notification(channel_name, kind, f"{notify_id}:rejected", note.order_no, f"rejected:{why}", body)


def _record_notification(channel: str, kind: str, notify_id: str, order_no: str | None, outcome: str,
                         body: bytes) -> bool:
    """Keep every notification received; False when this notification id was seen before."""
    try:
        with savepoint():
            db.session.add(ChannelNotification(channel=channel, kind=kind, notify_id=notify_id[:96],
                                               order_no=order_no, outcome=outcome[:32],
                                               raw=body[:20000].decode("utf-8", "replace")))
        return True
    except IntegrityError:
        return False


def _order_for(channel_name: str, order_no: str) -> PaymentOrder:
    order = payment_by_no(order_no)
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
    if order.status not in (PaymentStatus.CREATED, PaymentStatus.PAYING):
        return order
    try:
        status = channels()[order.channel].query_payment(order.order_no)
    except ChannelError as exc:
        log.warning("query failed order=%s: %s", order.order_no, exc)
        return order
    if status.state == "paid" and status.trade_no:
        _apply_queried_payment(order, status, "query")
        db.session.refresh(order)
    return order


def _apply_queried_payment(order: PaymentOrder, status: PaymentStatus_, actor: str) -> bool:
    """Record money a channel query reports in its own unit of work (which then hands the HIS confirmation,
    CONFIRM_AT_HIS, and any refund this money started to the queue)."""
    try:
        with unit_of_work():
            return apply_payment(order, trade_no=status.trade_no or "", amount_fen=status.amount_fen or -1,
                                 paid_at=status.paid_at, raw=dict(status.raw), actor=actor)
    except PaymentRejected as exc:  # rolled back; the order is flagged instead
        with unit_of_work():
            db.session.execute(update(PaymentOrder).where(PaymentOrder.id == order.id)
                               .values(flag="channel_mismatch", his_error=f"channel query: {exc.message}"[:255])
                               .execution_options(synchronize_session=False))
        log.error("channel query for order=%s does not fit it (%s): flagged for finance", order.order_no, exc.message)
        return False


# -- handing over to the HIS ------------------------------------------------------------------

#: a trade the HIS did not answer for is asked about again this often (the order stays flagged)
HIS_RECHECK_SECONDS = 600


def confirm_payment(order_no: str) -> str:
    """Confirm a PAID order to the HIS (idempotent); returns the resulting status.

    The business's local moves (``prepare``) are committed first: no row stays locked while the HIS
    is called. A refusal, or no answer after every backoff step, is never refunded on its own word:
    the HIS is asked what it did with the trade (``_ask_his_before_refund``).
    """
    outermost("confirming at the HIS")
    order = payment_by_no(order_no)
    if order is None or order.status != PaymentStatus.PAID:
        return order.status if order else "missing"
    handler = kind_handler(order.kind)
    prepare = getattr(handler, "prepare", None)
    if prepare is not None:
        with unit_of_work():
            prepare(order)
    try:
        outcome = handler.confirm(order)
    except HisBusinessError as exc:
        db.session.rollback()
        return _ask_his_before_refund(order, f"HIS refused: {exc.code} {exc.message}")
    except HisError as exc:
        db.session.rollback()
        attempts = order.his_attempts + 1
        if attempts > len(CONFIRM_BACKOFF):
            return _ask_his_before_refund(order, f"HIS unavailable after {attempts} attempts: {exc}")
        with unit_of_work():
            db.session.execute(update(PaymentOrder)
                               .where(PaymentOrder.id == order.id, PaymentOrder.status == PaymentStatus.PAID)
                               .values(his_attempts=attempts, his_error=str(exc)[:255],
                                       next_his_attempt_at=utcnow() + dt.timedelta(
                                           seconds=CONFIRM_BACKOFF[attempts - 1])))
        log.warning("HIS confirm retry order=%s attempt=%s: %s", order.order_no, attempts, exc)
        return PaymentStatus.PAID
    return _record_confirmed(order, outcome, PaymentStatus.PAID)


@transaction
def _record_confirmed(order: PaymentOrder, outcome: ConfirmOutcome, source: str, actor: str = "system:his") -> str:
    if states.move("payment", order.id, source, PaymentStatus.CONFIRMED, actor=actor,
                   reason="HIS confirmed" if source == PaymentStatus.PAID else "HIS holds the trade: confirmed",
                   his_receipt_no=outcome.receipt_no, his_error=None, his_attempts=order.his_attempts + 1,
                   guidance="\n".join(outcome.guidance) or None):
        _clear_flag(order, "his_unknown")
        db.session.refresh(order)
        kind_handler(order.kind).on_confirmed(order, outcome)
        # 满意度调查: an outpatient bill is paid after the consultation, i.e. a completed visit.
        from app.messages.content import offer_survey

        offer_survey(order.owner_id, SURVEY_TRIGGER.get(order.kind, "payment"), order.order_no)
        log.info("payment confirmed order=%s receipt=%s", order.order_no, outcome.receipt_no)
    # on_confirmed may refund part of the payment (a bill paid at the window): sent after the commit
    return PaymentStatus.CONFIRMED


def _clear_flag(order: PaymentOrder, flag: str) -> None:
    db.session.execute(update(PaymentOrder).where(PaymentOrder.id == order.id, PaymentOrder.flag == flag)
                       .values(flag=None).execution_options(synchronize_session=False))


def ask_his_about(order: PaymentOrder, why: str, actor: str) -> TradeStatus | None:
    """Ask the HIS what it did with the order's trade and keep the question and answer as evidence
    (``his_check``, committed with the caller's unit of work); None when the HIS could not answer."""
    try:
        status = his_gateway().trade_status(order.channel_trade_no or "")
    except HisError as exc:
        db.session.add(HisCheck(payment_id=order.id, trade_no=order.channel_trade_no or "", why=why[:255],
                                answer="unavailable", detail=f"{exc.code}: {exc.message}"[:2000], actor=actor,
                                asked_at=utcnow()))
        return None
    db.session.add(HisCheck(payment_id=order.id, trade_no=order.channel_trade_no or "", why=why[:255],
                            answer="applied" if status.applied else "not_applied",
                            detail=json.dumps(to_plain(status), ensure_ascii=False)[:8000], actor=actor,
                            asked_at=utcnow()))
    return status


def _ask_his_before_refund(order: PaymentOrder, reason: str, source: str = PaymentStatus.PAID,
                           actor: str = "system:his") -> str:
    """The confirmation failed or never answered: refund only on the HIS's definite "not applied".

    The HIS holds the trade (its answer was lost): the confirmation is asked for again (idempotent) and
    recorded. The HIS cannot say: the order becomes CONFIRM_UNKNOWN, flagged ``his_unknown`` with the
    evidence for finance, and is asked again every ``HIS_RECHECK_SECONDS``; no money moves.
    """
    db.session.refresh(order)
    with unit_of_work():  # nothing is locked yet: the HIS is asked, then its answer kept as evidence
        status = ask_his_about(order, reason, actor)
    if status is None:
        return _his_unknown(order, source, f"{reason}; the HIS could not say whether it applied the trade")
    if not status.applied:  # whoever asked moves it, on the HIS's word (as a "holds it" answer below)
        return _confirm_failed(order, f"{reason}; HIS: trade not applied", source, actor)
    try:
        outcome = kind_handler(order.kind).confirm(order)
    except HisError as exc:
        db.session.rollback()
        return _his_unknown(order, source, f"{reason}; the HIS holds the trade ({yuan(status.applied_fen)} yuan) "
                                           f"but confirming it again failed: {exc.code} {exc.message}")
    log.warning("HIS had applied order=%s although its answer was lost: confirmed", order.order_no)
    return _record_confirmed(order, outcome, source, actor)


@transaction
def _his_unknown(order: PaymentOrder, source: str, reason: str) -> str:
    values = {"his_error": reason[:255], "flag": "his_unknown",
              "next_his_attempt_at": utcnow() + dt.timedelta(seconds=HIS_RECHECK_SECONDS)}
    if source == PaymentStatus.CONFIRM_UNKNOWN:
        db.session.execute(update(PaymentOrder)
                           .where(PaymentOrder.id == order.id, PaymentOrder.status == PaymentStatus.CONFIRM_UNKNOWN)
                           .values(**values).execution_options(synchronize_session=False))
    elif not states.move("payment", order.id, source, PaymentStatus.CONFIRM_UNKNOWN, actor="system:his",
                         reason=reason[:255], **values):
        db.session.rollback()
        return db.session.scalar(select(PaymentOrder.status).where(PaymentOrder.id == order.id))
    log.error("HIS result UNKNOWN order=%s: %s; not refunded, flagged for finance", order.order_no, reason)
    return PaymentStatus.CONFIRM_UNKNOWN


@transaction
def _confirm_failed(order: PaymentOrder, reason: str, source: str = PaymentStatus.PAID,
                    actor: str = "system:his") -> str:
    """The HIS definitely did not apply the trade: the business is undone and the patient refunded."""
    if not states.move("payment", order.id, source, PaymentStatus.CONFIRM_FAILED, actor=actor, reason=reason[:255],
                       his_error=reason[:255]):
        db.session.rollback()
        return db.session.scalar(select(PaymentOrder.status).where(PaymentOrder.id == order.id))
    _clear_flag(order, "his_unknown")
    db.session.refresh(order)
    log.error("HIS confirm FAILED order=%s: %s; refunding", order.order_no, reason)
    kind_handler(order.kind).on_confirm_failed(order, reason)
    request_refund(order, order.amount_fen - order.refunded_fen, _("医院系统未能确认，款项原路退回"),
                   requested_by="system:confirm_failed", request_key=f"confirm_failed:{order.order_no}")
    return PaymentStatus.CONFIRM_FAILED


def recheck_unknown(order_no: str, actor: str = "system:his_recheck") -> str:
    """Ask the HIS again about a CONFIRM_UNKNOWN order: confirmed, refunded, or still unknown."""
    outermost("asking the HIS again")
    order = payment_by_no(order_no)
    if order is None or order.status != PaymentStatus.CONFIRM_UNKNOWN:
        return order.status if order else "missing"
    return _ask_his_before_refund(order, "asked again: the HIS had not said whether it applied the trade",
                                  PaymentStatus.CONFIRM_UNKNOWN, actor)


@transaction
def refund_unknown_checked_by_staff(order_no: str, note: str, staff: str) -> str:
    """Finance checked with the hospital (the HIS still cannot be asked) that it did NOT apply the trade:
    refund. The check is recorded as evidence beside the HIS's own answers; the caller audits."""
    note = (note or "").strip()
    if not note:
        raise DomainError(_("请填写与医院核实的情况"))
    order = payment_by_no(order_no)
    if order is None:
        raise NotFound(_("订单不存在"))
    if order.status != PaymentStatus.CONFIRM_UNKNOWN:
        raise Conflict(_("只有医院结果未知的订单可以这样退款"))
    db.session.add(HisCheck(payment_id=order.id, trade_no=order.channel_trade_no or "", why="finance check",
                            answer="not_applied", detail=note[:2000], actor=f"staff:{staff}", asked_at=utcnow()))
    return _confirm_failed(order, f"checked with the hospital by {staff}: not applied ({note})"[:255],
                           PaymentStatus.CONFIRM_UNKNOWN, f"staff:{staff}")


def sweep_confirmations(limit: int = 100) -> int:
    """Confirm every PAID order whose next attempt is due, and ask the HIS again about every
    CONFIRM_UNKNOWN one that is due (finishes what a killed task left)."""
    outermost("the confirmation sweep")
    with unit_of_work():  # only the list: each order is confirmed in its own units of work
        due = db.session.execute(select(PaymentOrder.order_no, PaymentOrder.status).where(
            PaymentOrder.status.in_(AWAITING_HIS), PaymentOrder.next_his_attempt_at <= utcnow())
            .order_by(PaymentOrder.next_his_attempt_at).limit(limit)).all()
    for order_no, status in due:
        if status == PaymentStatus.PAID:
            confirm_payment(order_no)
        else:
            recheck_unknown(order_no)
    return len(due)


# -- closing unpaid orders -------------------------------------------------------------------

def close_expired(limit: int = 200, now: dt.datetime | None = None) -> int:
    """Close unpaid orders past their deadline, here and at the channel; returns how many closed.

    Nothing is closed on a guess: any unpaid order may have been opened at a cashier (even one still
    ``created`` here), so the channel is asked first. Money it reports is recorded (and confirmed at
    the HIS) instead; an order it cannot answer for is left for the next sweep. No row is locked
    while the channel is asked: each order is one short transaction after the answer.
    """
    outermost("the close sweep")
    now = now or utcnow()
    with unit_of_work():  # only the list: nothing is held while the channels are asked
        expired = db.session.scalars(select(PaymentOrder).where(
            PaymentOrder.status.in_(LIVE), PaymentOrder.expires_at <= now)
            .order_by(PaymentOrder.expires_at).limit(limit)).all()
    closed = 0
    for order in expired:
        channel = channels()[order.channel]
        try:
            status = channel.query_payment(order.order_no)
            if status.state == "paid" and status.trade_no:
                _apply_queried_payment(order, status, "system:close_sweep")
                continue
            if status.state == "refunded":
                log.error("order=%s unpaid here but refunded at the channel: flagged, not closed", order.order_no)
                with unit_of_work():
                    db.session.execute(update(PaymentOrder).where(PaymentOrder.id == order.id)
                                       .values(flag="channel_mismatch").execution_options(synchronize_session=False))
                continue
            if status.state != "closed":
                channel.close_payment(order.order_no)
        except OrderAlreadyPaid:
            try:
                status = channel.query_payment(order.order_no)
            except ChannelError as exc:
                log.warning("query after close refusal failed order=%s: %s (retry next sweep)", order.order_no, exc)
                continue
            if status.state == "paid" and status.trade_no:
                _apply_queried_payment(order, status, "system:close_sweep")
            continue
        except ChannelError as exc:
            log.warning("close sweep could not ask the channel order=%s: %s (retry next sweep)", order.order_no, exc)
            continue
        with unit_of_work():  # then dispatches e.g. the release of the HIS lock of the registration that expired
            source = db.session.scalar(select(PaymentOrder.status).where(PaymentOrder.id == order.id))
            if source in LIVE and states.move(
                    "payment", order.id, source, PaymentStatus.CLOSED, actor="system:deadline",
                    reason=f"unpaid past deadline (channel: {status.state})", closed_at=now):
                db.session.refresh(order)
                kind_handler(order.kind).on_closed(order)
                closed += 1
    if closed:
        log.info("closed %s unpaid payment orders", closed)
    return closed


def cancel_unpaid(order: PaymentOrder, actor: str, reason: str) -> bool:
    """Close an unpaid order now (the patient cancelled); the caller commits. False if already paid.

    The channel is told first (also for a ``created`` order: its cashier may have been opened); if it
    cannot be reached the order still closes here, and money that arrives later is recorded and
    refunded (paid after close).
    """
    if order.status not in (PaymentStatus.CREATED, PaymentStatus.PAYING):
        return False
    try:
        channels()[order.channel].close_payment(order.order_no)
    except OrderAlreadyPaid:
        return False
    except ChannelError as exc:
        log.warning("close at channel failed order=%s: %s", order.order_no, exc)
    return states.move("payment", order.id, order.status, PaymentStatus.CLOSED, actor=actor, reason=reason,
                       closed_at=utcnow())


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
    if order.status != PaymentStatus.REFUNDING:
        states.move("payment", order.id, order.status, decide_payment(order, PaymentEvent.REFUND_REQUESTED),
                    actor=requested_by, reason=reason[:255])
    refund = Refund(refund_no=new_order_no(REFUND_PREFIX), payment_id=order.id, amount_fen=amount_fen,
                    reason=reason[:255], status=RefundStatus.REQUESTED, requested_by=requested_by,
                    request_key=request_key)
    db.session.add(refund)
    db.session.flush()
    db.session.add(StateTransition(order_type="refund", order_id=refund.id, from_status=NO_STATE,
                                   to_status=RefundStatus.REQUESTED, actor=requested_by, reason=reason[:255]))
    log.info("refund requested refund=%s order=%s amount=%s by=%s", refund.refund_no, order.order_no,
             yuan(amount_fen), requested_by)
    # sent once the reservation is committed; the outbox and refund sweeps finish what a crash left
    outbox.add(SEND_REFUND, refund.refund_no, {"refund_no": refund.refund_no})
    return refund


def send_queued_refunds() -> None:
    """After a commit outside a unit of work: hand the outbox rows it wrote (refunds to send, HIS
    confirmations) to the queue. A unit of work does this itself."""
    outbox.dispatch()


def process_refund(refund_no: str) -> str:
    """Send a REQUESTED refund to the channel (a FAILED one: ``retry_refund``); returns its status.

    REQUESTED -> PROCESSING is committed first; the channel is then asked with nothing locked, and its
    answer recorded in a unit of work of its own."""
    outermost("sending a refund")
    refund = refund_by_no(refund_no)
    if refund is None:
        return "missing"
    if refund.status == RefundStatus.FAILED:
        return retry_refund(refund_no, "system:refund").status
    if refund.status == RefundStatus.REQUESTED:
        with unit_of_work():
            moved = states.move("refund", refund.id, RefundStatus.REQUESTED,
                                decide_refund(refund, RefundEvent.SEND), actor="system:refund",
                                reason="sent to channel", attempts=refund.attempts + 1)
        if not moved:  # another worker sent it
            return db.session.get(Refund, refund.id).status
        db.session.refresh(refund)
    elif refund.status != RefundStatus.PROCESSING:
        return refund.status
    return _send_to_channel(refund)


def retry_refund(refund_no: str, actor: str) -> Refund:
    """Try a FAILED refund again (staff's 重试, audited by the caller); returns the refund now carrying it.

    The channel is asked first. If it never received that refund number, the same refund is sent
    again; if it closed it, a refund number is final at the channel, so a new refund (same amount,
    reason and bill items) is made. Either way the amount, and the bill items' units, are reserved
    again by the same guarded UPDATEs as any refund: if another refund took them meanwhile, nothing
    happens (``Conflict``).
    """
    outermost("retrying a refund")
    refund = refund_by_no(refund_no)
    if refund is None:
        raise NotFound(_("退款记录不存在"))
    if refund.status != RefundStatus.FAILED:
        raise Conflict(_("只有退款失败的记录可以重试"))
    order = refund.payment
    try:
        known = channels()[order.channel].query_refund(order.order_no, refund.refund_no)
    except ChannelUnavailable as exc:
        raise DomainError(_("支付渠道暂时不可用，请稍后再试"), status=503) from exc
    except ChannelError as exc:  # it answered, and not about this refund: say what, trying again would not help
        raise DomainError(_("支付渠道答复：%(message)s（%(code)s），未重新发起退款，请核对该笔交易",
                            message=exc.message, code=exc.code), code="channel_refused", status=409) from exc
    if known.state == "succeeded":  # it went through after all: record it
        _refund_succeeded(refund, known.channel_refund_no, known.raw)
        return db.session.get(Refund, refund.id)
    if known.state != "not_found":
        key = f"retry:{refund.refund_no}"
        done = db.session.scalar(select(Refund).where(Refund.request_key == key))
        if done is not None:
            return done
        with unit_of_work():  # a refusal below rolls the new refund back with it; SEND_REFUND after the commit
            again = request_refund(order, refund.amount_fen, refund.reason, requested_by=actor, request_key=key)
            retake = getattr(kind_handler(order.kind), "on_refund_retry", None)
            if retake is not None and not retake(order, refund, again):
                raise Conflict(_("退款金额超过可退金额或订单状态不允许退款"))
        return db.session.get(Refund, again.id)
    with unit_of_work():
        reserved = db.session.execute(
            update(PaymentOrder)
            .where(PaymentOrder.id == order.id, PaymentOrder.status.in_(REFUNDABLE),
                   PaymentOrder.refunded_fen + refund.amount_fen <= PaymentOrder.amount_fen)
            .values(refunded_fen=PaymentOrder.refunded_fen + refund.amount_fen)
            .execution_options(synchronize_session=False))
        retake = getattr(kind_handler(order.kind), "on_refund_retry", None)
        if reserved.rowcount != 1 or (retake is not None and not retake(order, refund, refund)):
            raise Conflict(_("退款金额超过可退金额或订单状态不允许退款"))
        db.session.refresh(order)
        if order.status != PaymentStatus.REFUNDING:
            states.move("payment", order.id, order.status, decide_payment(order, PaymentEvent.REFUND_REQUESTED),
                        actor=actor, reason="refund retried")
        if not states.move("refund", refund.id, RefundStatus.FAILED, decide_refund(refund, RefundEvent.SEND),
                           actor=actor, reason="the channel never received it: sent again",
                           attempts=refund.attempts + 1, failure_reason=None):
            raise Conflict(_("订单状态已变化，请刷新后查看"))
    db.session.refresh(refund)
    _send_to_channel(refund)
    return db.session.get(Refund, refund.id)


def _send_to_channel(refund: Refund) -> str:
    """Ask the channel for a PROCESSING refund (same refund number on every try) and record its answer.

    A refusal of the request is not taken on its own word: the channel is asked whether it has the
    refund (an earlier try may have reached it), and only "never received" fails the refund.
    """
    order = refund.payment
    channel = channels()[order.channel]
    try:
        result = channel.refund(order.order_no, refund.refund_no, refund.amount_fen, order.amount_fen, refund.reason,
                                notify_url(order.channel, True))
    except ChannelUnavailable as exc:
        log.warning("refund %s: channel unavailable (%s); the sweep retries", refund.refund_no, exc)
        return RefundStatus.PROCESSING
    except ChannelError as exc:
        refused = f"{exc.code}: {exc.message}"
        try:
            result = channel.query_refund(order.order_no, refund.refund_no)
        except ChannelError as query_exc:
            log.warning("refund %s refused (%s) and its query failed (%s); the sweep asks again", refund.refund_no,
                        refused, query_exc)
            return RefundStatus.PROCESSING
        if result.state == "not_found":
            return _refund_failed(refund, refused)
    return _record_channel_answer(refund, result)


@transaction
def _record_channel_answer(refund: Refund, result: RefundResult) -> str:
    """Apply what the channel says about a refund; only its final word ends the refund."""
    if result.state == "succeeded":
        return _refund_succeeded(refund, result.channel_refund_no, result.raw)
    if result.state == "failed":
        return _refund_failed(refund, json.dumps(dict(result.raw), ensure_ascii=False, default=str)[:200])
    if result.state == "abnormal":
        return _refund_abnormal(refund, result.channel_refund_no, result.raw)
    db.session.execute(update(Refund).where(Refund.id == refund.id)
                       .values(channel_refund_no=result.channel_refund_no or refund.channel_refund_no,
                               updated_at=utcnow()))
    return _refund_status(refund)


@transaction
def _refund_succeeded(refund: Refund, channel_refund_no: str | None, raw: object) -> str:
    """The channel paid the refund out: record it, whatever we thought before (money that left is
    always recorded). A success after FAILED reserves the amount again; if something else took it
    meanwhile, the payment is flagged ``refund_overpaid`` for finance."""
    values = {"channel_refund_no": channel_refund_no, "succeeded_at": utcnow(), "failure_reason": None,
              "raw": json.dumps(raw, ensure_ascii=False, default=str)[:20000]}
    source = _refund_status(refund)
    if source == RefundStatus.FAILED:
        order = db.session.get(PaymentOrder, refund.payment_id)
        kept = db.session.execute(
            update(PaymentOrder).where(PaymentOrder.id == refund.payment_id,
                                       PaymentOrder.refunded_fen + refund.amount_fen <= PaymentOrder.amount_fen)
            .values(refunded_fen=PaymentOrder.refunded_fen + refund.amount_fen, flag="refund_late_success")
            .execution_options(synchronize_session=False)).rowcount == 1
        retake = getattr(kind_handler(order.kind), "on_refund_retry", None)
        if not kept or (retake is not None and not retake(order, refund, refund)):
            db.session.execute(update(PaymentOrder).where(PaymentOrder.id == refund.payment_id)
                               .values(flag="refund_overpaid").execution_options(synchronize_session=False))
            log.error("refund %s succeeded at the channel after it was marked failed, and its amount was taken "
                      "again meanwhile: flagged refund_overpaid", refund.refund_no)
        db.session.refresh(order)
        if order.status in REFUNDABLE and order.status != PaymentStatus.REFUNDING:
            states.move("payment", order.id, order.status, PaymentStatus.REFUNDING, actor="channel",
                        reason="late refund success")
    elif source not in (RefundStatus.PROCESSING, RefundStatus.ABNORMAL):
        return source
    if not states.move("refund", refund.id, source, RefundStatus.SUCCESS, actor="channel",
                       reason="refund succeeded", **values):
        db.session.rollback()
        return _refund_status(refund)
    db.session.refresh(refund)
    order = refund.payment
    db.session.refresh(order)
    if order.flag == "refund_abnormal" and not _has_refund_in(order, (RefundStatus.ABNORMAL,)):
        db.session.execute(update(PaymentOrder).where(PaymentOrder.id == order.id, PaymentOrder.flag == order.flag)
                           .values(flag=None).execution_options(synchronize_session=False))
    _settle_payment_after_refunds(order)
    kind_handler(order.kind).on_refunded(order, refund)
    log.info("refund succeeded refund=%s order=%s amount=%s", refund.refund_no, order.order_no,
             yuan(refund.amount_fen))
    return RefundStatus.SUCCESS


@transaction
def _refund_abnormal(refund: Refund, channel_refund_no: str | None, raw: object) -> str:
    """WeChat ABNORMAL: the account the money goes back to is gone. Not final: the amount stays
    reserved, the payment is flagged ``refund_abnormal`` for finance (handled at the merchant
    platform), and the sweep keeps asking the channel until it says SUCCESS or CLOSED."""
    if states.move("refund", refund.id, RefundStatus.PROCESSING, RefundStatus.ABNORMAL, actor="channel",
                   reason="channel reports ABNORMAL: needs handling at the merchant platform",
                   channel_refund_no=channel_refund_no or refund.channel_refund_no,
                   failure_reason="ABNORMAL",
                   raw=json.dumps(raw, ensure_ascii=False, default=str)[:20000]):
        db.session.execute(update(PaymentOrder).where(PaymentOrder.id == refund.payment_id)
                           .values(flag="refund_abnormal").execution_options(synchronize_session=False))
        log.error("refund ABNORMAL refund=%s: needs handling at the merchant platform", refund.refund_no)
    else:
        db.session.execute(update(Refund).where(Refund.id == refund.id).values(updated_at=utcnow()))
    return _refund_status(refund)


@transaction
def _refund_failed(refund: Refund, reason: str) -> str:
    """The channel's final "no" (closed, or never received): the reservation is released, the bill
    items' units too, and the payment flagged for staff."""
    source = _refund_status(refund)
    if source not in (RefundStatus.REQUESTED, RefundStatus.PROCESSING, RefundStatus.ABNORMAL) or not states.move(
            "refund", refund.id, source, RefundStatus.FAILED, actor="channel", reason=reason[:255],
            failure_reason=reason[:255]):
        db.session.rollback()
        return _refund_status(refund)
    # the reservation goes back once, and never below nothing (a reservation lost to seeded or repaired data
    # is logged, not turned into a negative 已退款)
    released = db.session.execute(
        update(PaymentOrder).where(PaymentOrder.id == refund.payment_id,
                                   PaymentOrder.refunded_fen >= refund.amount_fen)
        .values(refunded_fen=PaymentOrder.refunded_fen - refund.amount_fen, flag="refund_failed")
        .execution_options(synchronize_session=False)).rowcount == 1
    if not released:
        db.session.execute(update(PaymentOrder).where(PaymentOrder.id == refund.payment_id)
                           .values(flag="refund_failed").execution_options(synchronize_session=False))
        log.error("refund FAILED refund=%s held no reservation on its payment: nothing released", refund.refund_no)
    order = db.session.get(PaymentOrder, refund.payment_id)
    db.session.refresh(order)
    release = getattr(kind_handler(order.kind), "on_refund_failed", None)
    if release is not None:
        release(order, refund)
    _settle_payment_after_refunds(order)
    _tell_patient_refund_failed(order, refund)
    log.error("refund FAILED refund=%s order=%s: %s", refund.refund_no, order.order_no, reason)
    return RefundStatus.FAILED


def _tell_patient_refund_failed(order: PaymentOrder, refund: Refund) -> None:
    """The patient hears of a failed refund as of a successful one: what failed and what happens next
    (finance sees it on its worklist and sends it again; the patient need not ask again)."""
    from app.messages.notifications import notify

    body = _("您的%(what)s退款 ¥%(amount)s 未能原路退回。医院财务将核实后重新退款，您无需再次申请；"
             "如有疑问请联系门诊服务台。", what=order.description, amount=yuan(refund.amount_fen))
    notify(order.owner_id, "refund_failed", _("退款失败"), body, dedupe_key=f"refund_failed:{refund.refund_no}",
           payload={"order_no": order.order_no, "refund_no": refund.refund_no})


def _has_refund_in(order: PaymentOrder, statuses) -> bool:
    wanted = [str(s) for s in statuses]
    return db.session.scalar(select(Refund.id).where(Refund.payment_id == order.id, Refund.status.in_(wanted))
                             .limit(1)) is not None


def _refund_status(refund: Refund) -> str:
    """The refund's status as committed now, row locked until the caller's commit: neither the session's
    cached copy nor a REPEATABLE READ snapshot taken before a concurrent notification moved it."""
    return db.session.scalar(select(Refund.status).where(Refund.id == refund.id).with_for_update())


def _settle_payment_after_refunds(order: PaymentOrder) -> None:
    """Leave REFUNDING once no refund is in flight: REFUNDED, PARTIALLY_REFUNDED or back where it was."""
    if order.status != PaymentStatus.REFUNDING or _has_refund_in(order, states.REFUND_IN_FLIGHT):
        return
    refunded = db.session.scalar(select(db.func.coalesce(db.func.sum(Refund.amount_fen), 0)).where(
        Refund.payment_id == order.id, Refund.status == RefundStatus.SUCCESS))
    target = decide_payment(order, PaymentEvent.REFUNDS_SETTLED, refunded_fen=int(refunded))
    states.move("payment", order.id, PaymentStatus.REFUNDING, target, actor="system:refund", reason="refunds settled")


def _apply_refund_notification(channel_name: str, note: RefundNotification) -> str:
    order = _order_for(channel_name, note.order_no)
    refund = db.session.scalar(select(Refund).where(Refund.refund_no == note.refund_no))
    if refund is None or refund.payment_id != order.id:
        raise PaymentRejected("unknown refund")
    if note.refund_fen is not None and note.refund_fen != refund.amount_fen:
        raise PaymentRejected("refund amount mismatch")
    if note.refunded_total_fen is not None and note.refunded_total_fen > order.amount_fen:
        raise PaymentRejected("refunded total exceeds payment")
    before = refund.status
    if note.state == "succeeded":
        after = _refund_succeeded(refund, note.channel_refund_no, dict(note.raw))
    elif note.state == "failed" and before in states.REFUND_IN_FLIGHT:
        after = _refund_failed(refund, "channel notification: closed")
    elif note.state == "abnormal" and before == RefundStatus.PROCESSING:
        after = _refund_abnormal(refund, note.channel_refund_no, dict(note.raw))
    else:
        return "duplicate"
    return "applied" if after != before else "duplicate"


#: an ABNORMAL refund waits for a person at the merchant platform: asked about less often
ABNORMAL_RECHECK_FACTOR = 10


def sweep_refunds(limit: int = 100, older_than_s: int = 60) -> int:
    """Finish refunds a killed task or a lost notification left: send REQUESTED, ask the channel about
    PROCESSING and ABNORMAL ones (until its final word), send again what it never received."""
    outermost("the refund sweep")
    now = utcnow()
    cutoff = now - dt.timedelta(seconds=older_than_s)
    abnormal_cutoff = now - dt.timedelta(seconds=older_than_s * ABNORMAL_RECHECK_FACTOR)
    stale = db.session.scalars(select(Refund).where(
        or_(Refund.status.in_((RefundStatus.REQUESTED, RefundStatus.PROCESSING)) & (Refund.updated_at <= cutoff),
            (Refund.status == RefundStatus.ABNORMAL) & (Refund.updated_at <= abnormal_cutoff)))
        .order_by(Refund.updated_at).limit(limit)).all()
    for refund in stale:
        if refund.status == RefundStatus.REQUESTED:
            process_refund(refund.refund_no)
            continue
        order = refund.payment
        try:
            result = channels()[order.channel].query_refund(order.order_no, refund.refund_no)
        except ChannelError as exc:
            log.warning("refund query failed refund=%s: %s", refund.refund_no, exc)
            continue
        if result.state == "not_found" and refund.status == RefundStatus.PROCESSING:
            # The channel does not know it: send it again under the same refund number.
            with unit_of_work():
                db.session.execute(update(Refund).where(Refund.id == refund.id).values(updated_at=utcnow()))
            _send_to_channel(refund)
        elif result.state == "not_found":
            log.error("refund %s is ABNORMAL here but unknown to the channel: left for finance", refund.refund_no)
            with unit_of_work():
                db.session.execute(update(Refund).where(Refund.id == refund.id).values(updated_at=utcnow()))
        else:
            _record_channel_answer(refund, result)
    return len(stale)


@transaction
def staff_refund(order_no: str, amount_fen: int, reason: str, staff: str) -> Refund:
    """A refund started by finance staff (audited by the caller's view through audit.record)."""
    order = payment_by_no(order_no)
    if order is None:
        raise NotFound(_("订单不存在"))
    if not reason.strip():
        raise DomainError(_("请填写退款原因"))
    return request_refund(order, amount_fen, reason, requested_by=f"staff:{staff}")


# -- the commands: what the faces (notify API, pay pages, tasks, CLI) call --------------------------------

@dataclass(frozen=True)
class ApplyChannelNotification:
    """A WeChat Pay / Alipay notification: verified, deduplicated, applied and committed before the answer,
    so a channel whose notification we could not keep retries it. Money that lands writes CONFIRM_AT_HIS."""

    channel: str
    headers: Mapping[str, str]
    body: bytes

    def run(self) -> tuple[str, int, str]:
        adapter = channels()[self.channel]
        try:
            note = adapter.parse_notification(self.headers, self.body)
        except NotificationIgnored as exc:
            log.info("%s notification ignored: %s", self.channel, exc)
            return adapter.notification_ack(True)
        except NotificationRejected as exc:
            log.warning("%s notification REJECTED (%s): %s", self.channel, exc.code, exc.message)
            with unit_of_work():
                record_rejected_notification(self.channel, None, exc.code, self.body)
            return adapter.notification_ack(False, "verification failed")
        try:
            with unit_of_work():
                apply_notification(self.channel, note, self.body)
        except PaymentRejected as exc:  # rolled back; the refusal itself is kept
            log.warning("%s notification for order=%s rejected: %s", self.channel, note.order_no, exc.message)
            with unit_of_work():
                record_rejected_notification(self.channel, note, exc.message, self.body)
            return adapter.notification_ack(False, exc.message)
        return adapter.notification_ack(True)


@dataclass(frozen=True)
class StartPayment:
    """The patient pressed 支付: the channel opens its cashier (no row is locked while it is asked)."""

    order_no: str
    owner_id: int
    payer_uid: str | None
    return_url: str | None

    def run(self) -> PaymentStart:
        return start_payment(self.order_no, self.owner_id, self.payer_uid, self.return_url)


@dataclass(frozen=True)
class QueryChannel:
    """The patient came back from the cashier: ask the channel instead of trusting the page."""

    order_no: str
    owner_id: int

    def run(self) -> PaymentOrder:
        return refresh_from_channel(self.order_no, self.owner_id)


@dataclass(frozen=True)
class ConfirmAtHis:
    """Hand a PAID order's money to the HIS (outbox CONFIRM_AT_HIS, or the sweep); idempotent.

    The HIS is called with no row locked; its refusal or silence is never refunded on its own word."""

    order_no: str

    def run(self) -> str:
        return confirm_payment(self.order_no)


@dataclass(frozen=True)
class RecheckAtHis:
    """Ask the HIS again about a CONFIRM_UNKNOWN order: confirmed, refunded, or still unknown."""

    order_no: str
    actor: str = "system:his_recheck"

    def run(self) -> str:
        return recheck_unknown(self.order_no, self.actor)


@dataclass(frozen=True)
class RequestRefund:
    """Finance refunds part or all of a payment (the caller's view audits it); writes SEND_REFUND."""

    order_no: str
    amount_fen: int
    reason: str
    staff: str

    def run(self) -> Refund:
        return staff_refund(self.order_no, self.amount_fen, self.reason, self.staff)


@dataclass(frozen=True)
class SendRefund:
    """Send a REQUESTED refund to the channel (outbox SEND_REFUND, or the sweep) and record its answer."""

    refund_no: str

    def run(self) -> str:
        return process_refund(self.refund_no)


@dataclass(frozen=True)
class RetryRefund:
    """Staff's 重试 of a FAILED refund: the channel is asked first, then it is sent again or replaced."""

    refund_no: str
    actor: str

    def run(self) -> Refund:
        return retry_refund(self.refund_no, self.actor)


@dataclass(frozen=True)
class CloseUnpaid:
    """Close unpaid orders past their deadline, here and at the channel (asked first); how many closed."""

    limit: int = 200

    def run(self) -> int:
        return close_expired(self.limit)


@dataclass(frozen=True)
class SweepPayments:
    """The minute's sweep: confirmations due, and refunds a lost task or notification left."""

    def run(self) -> tuple[int, int]:
        return sweep_confirmations(), sweep_refunds()


def register_payments() -> None:
    """Called by ``create_app``: the outbox kinds of the payment core and the businesses around the money
    (registration, outpatient bills, deposits, prenatal classes) plug in here, not on import."""
    from app.maternity.classes import KIND as CLASS_KIND, PrenatalClassKind
    from app.billing.bills import OutpatientPayment
    from app.registration.commands import RegistrationKind
    from app.inpatient.deposits import DepositPayment

    outbox.handler(CONFIRM_AT_HIS)(lambda payload: ConfirmAtHis(payload["order_no"]).run())
    outbox.handler(SEND_REFUND)(lambda payload: SendRefund(payload["refund_no"]).run())
    register_kind("registration", RegistrationKind())
    register_kind("outpatient", OutpatientPayment())
    register_kind("deposit", DepositPayment())
    register_kind(CLASS_KIND, PrenatalClassKind())
