"""Deposit refunds at discharge (出院结算 押金多退少补) that the HIS asks for: POST /api/his/v1/deposit-refunds.

When a discharged patient's deposits exceed the final cost, the HIS returns the surplus of the deposits
paid through the platform to the original WeChat Pay / Alipay payments (原路退回). A channel refund must
name its original payment, so one request becomes one refund per deposit payment it draws on: the
stay's credited platform deposits, newest first, each up to what is left unrefunded on it.

Guarantees: never more than what is left on the stay's platform deposits (``exceeds_paid``, nothing
changes); idempotent on the HIS's ``request_no`` (the same request again answers the same refunds, the
number reused for another request is ``request_conflict``), also when both arrive at once; the money goes
back through the payment core (``payments.request_refund``), which tells the patient per refund.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app import clock
from app.extensions import db
from app.models import DepositRefundPart, DepositRefundRequest, PaymentOrder, Refund
from app.payments import commands as payments
from app.billing.bills import HisRefundRefused
from app.services.errors import Conflict
from app.services.formatting import yuan
from app.services.states import REFUND_IN_FLIGHT, PaymentStatus, RefundStatus
from app.services.uow import unit_of_work

log = logging.getLogger("deposit_refunds")

DEFAULT_REASON = "出院结算退押金"
_REQUEST_NO = re.compile(r"^[A-Za-z0-9_-]{1,48}$")
#: states of a deposit payment once the HIS credited it (its ``his_receipt_no`` is the deposit number); a
#: payment still ``paid`` is not credited yet and is left out: if the HIS refuses it, it is refunded whole
CREDITED = (PaymentStatus.CONFIRMED, PaymentStatus.REFUNDING, PaymentStatus.PARTIALLY_REFUNDED,
            PaymentStatus.REFUNDED)


@dataclass(frozen=True)
class DepositRefundAsk:
    """What the HIS asks for, validated."""

    request_no: str
    inpatient_no: str
    amount_fen: int
    reason: str


def parse_request(payload: object) -> DepositRefundAsk:
    """Validate the HIS's JSON body; anything unexpected is ``invalid_request`` (400)."""
    def bad(message: str) -> HisRefundRefused:
        return HisRefundRefused(message, code="invalid_request", status=400)

    if not isinstance(payload, dict):
        raise bad("body must be a JSON object")
    request_no, inpatient_no = payload.get("request_no"), payload.get("inpatient_no")
    if not isinstance(request_no, str) or not _REQUEST_NO.match(request_no):
        raise bad("request_no must be 1-48 characters of letters, digits, '-' or '_'")
    if not isinstance(inpatient_no, str) or not 0 < len(inpatient_no.strip()) <= 64:
        raise bad("inpatient_no is required")
    amount = payload.get("amount_fen")
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        raise bad("amount_fen must be a positive integer number of fen")
    reason = payload.get("reason", "")
    if not isinstance(reason, str) or len(reason) > 200:
        raise bad("reason must be text of at most 200 characters")
    return DepositRefundAsk(request_no, inpatient_no.strip(), amount, reason.strip() or DEFAULT_REASON)


def _same_request(row: DepositRefundRequest, ask: DepositRefundAsk) -> bool:
    return (row.inpatient_no, row.amount_fen, row.reason) == (ask.inpatient_no, ask.amount_fen, ask.reason)


def _find(request_no: str) -> DepositRefundRequest | None:
    return db.session.scalar(select(DepositRefundRequest).where(DepositRefundRequest.request_no == request_no))


def _answer_again(existing: DepositRefundRequest, ask: DepositRefundAsk) -> DepositRefundRequest:
    if _same_request(existing, ask):
        return existing
    raise HisRefundRefused("request_no was already used for another deposit refund", code="request_conflict",
                           status=409)


def platform_deposits(inpatient_no: str, *, lock: bool = False) -> list[PaymentOrder]:
    """The stay's deposit payments made through the platform and credited at the HIS, newest first.

    With ``lock`` the rows are locked (``SELECT … FOR UPDATE``, in id order so that two requests for one
    stay queue instead of deadlocking): what is left on them cannot change until the caller commits.
    """
    query = (select(PaymentOrder)
             .where(PaymentOrder.kind == "deposit", PaymentOrder.business_ref == inpatient_no,
                    PaymentOrder.status.in_(CREDITED), PaymentOrder.his_receipt_no.is_not(None))
             .order_by(PaymentOrder.id))
    if lock:
        query = query.with_for_update()
    rows = list(db.session.scalars(query))
    return sorted(rows, key=lambda p: (p.paid_at or p.created_at, p.id), reverse=True)


def refundable_fen(payment: PaymentOrder) -> int:
    """What is left to refund on a payment (``refunded_fen`` counts refunds in flight as well)."""
    return max(0, payment.amount_fen - payment.refunded_fen)


def split(amount_fen: int, deposits: list[PaymentOrder]) -> list[tuple[PaymentOrder, int]]:
    """``amount_fen`` spread over ``deposits`` in their order, each up to what is left on it.

    Raises ``exceeds_paid`` when they do not hold that much together.
    """
    parts: list[tuple[PaymentOrder, int]] = []
    left = amount_fen
    for payment in deposits:
        take = min(left, refundable_fen(payment))
        if take > 0:
            parts.append((payment, take))
            left -= take
        if left == 0:
            return parts
    available = amount_fen - left
    raise HisRefundRefused(f"only {available} fen of this stay's platform deposits is left to refund, "
                           f"not {amount_fen}", code="exceeds_paid", status=409)


def his_deposit_refund(payload: object) -> tuple[DepositRefundRequest, bool]:
    """Carry out a deposit refund the HIS asks for at discharge; returns (request, created).

    Refused before anything changes: a malformed body (``invalid_request``), a stay without deposits
    paid through the platform (``not_found``), more than is left on them (``exceeds_paid``), the
    ``request_no`` already used for another request (``request_conflict``).
    """
    ask = parse_request(payload)
    existing = _find(ask.request_no)
    if existing is not None:
        return _answer_again(existing, ask), False
    try:
        with unit_of_work():  # a refusal below rolls all of it back; SEND_REFUND goes after the commit
            # The request row goes in first: a second arrival of the same request_no waits on its unique
            # key and then fails, instead of reading the deposits before this one has reserved them.
            request = DepositRefundRequest(request_no=ask.request_no, inpatient_no=ask.inpatient_no,
                                           amount_fen=ask.amount_fen, reason=ask.reason)
            db.session.add(request)
            db.session.flush()
            deposits = platform_deposits(ask.inpatient_no, lock=True)
            if not deposits:
                raise HisRefundRefused("no deposit of this stay was paid through the platform", code="not_found",
                                       status=404)
            for n, (payment, amount) in enumerate(split(ask.amount_fen, deposits), 1):
                refund = payments.request_refund(payment, amount, ask.reason, requested_by="his",
                                                 request_key=f"deposit:{ask.request_no}:{n}")
                db.session.add(DepositRefundPart(request_id=request.id, refund_id=refund.id))
    except HisRefundRefused:
        raise
    except Conflict as exc:  # the payment core's guarded reservation refused: nothing was reserved
        raise HisRefundRefused(exc.message, code="exceeds_paid", status=409) from None
    except IntegrityError:
        # The same request_no arrived twice at once: the other call won; answer with its refunds.
        existing = _find(ask.request_no)
        if existing is None:
            raise
        return _answer_again(existing, ask), False
    log.info("deposit refund request=%s stay=%s amount=%s refunds=%s", ask.request_no, ask.inpatient_no,
             yuan(ask.amount_fen), ",".join(f"{p.refund.refund_no}:{yuan(p.refund.amount_fen)}" for p in request.parts))
    return request, True


def his_deposit_refund_status(request_no: str) -> DepositRefundRequest:
    """The deposit refund created for the HIS's ``request_no``, else ``not_found``."""
    request = _find(request_no)
    if request is None:
        raise HisRefundRefused("no deposit refund for this request_no", code="not_found", status=404)
    return request


def overall_status(refunds: list[Refund]) -> str:
    """``processing`` while any refund is with the channel (ABNORMAL included: it is not final),
    ``success`` when all went through, else
    ``failed`` (at least one refused: its amount is free to be asked for again)."""
    if any(r.status in REFUND_IN_FLIGHT for r in refunds):
        return "processing"
    return "success" if all(r.status == RefundStatus.SUCCESS for r in refunds) else "failed"


def _hospital_time(moment: dt.datetime | None) -> str | None:
    return None if moment is None else clock.to_beijing(moment).replace(microsecond=0).isoformat()


def deposit_refund_answer(request: DepositRefundRequest) -> dict:
    """The request as the HIS API documents it (money in fen, hospital local time)."""
    refunds = [part.refund for part in request.parts]
    return {
        "request_no": request.request_no, "inpatient_no": request.inpatient_no, "amount_fen": request.amount_fen,
        "reason": request.reason, "status": overall_status(refunds),
        "refunded_fen": sum(r.amount_fen for r in refunds if r.status == RefundStatus.SUCCESS),
        "failed_fen": sum(r.amount_fen for r in refunds if r.status == RefundStatus.FAILED),
        "requested_at": _hospital_time(request.created_at),
        "refunds": [{"refund_no": r.refund_no, "order_no": r.payment.order_no, "trade_no": r.payment.channel_trade_no,
                     "deposit_no": r.payment.his_receipt_no, "channel": r.payment.channel,
                     "amount_fen": r.amount_fen,
                     "status": "processing" if r.status in REFUND_IN_FLIGHT else r.status,
                     "succeeded_at": _hospital_time(r.succeeded_at), "failure_reason": r.failure_reason}
                    for r in refunds],
    }
