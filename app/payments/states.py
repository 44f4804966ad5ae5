"""The payment order's and the refund's lifecycles: names, tables, the sets derived from them, and
the pure ``decide`` per machine (Indico's ``next(transaction, action)``).

``decide_*(order, event)`` reads nothing but the order it is given and answers the state the event
leads to, or raises an ``EventRefused`` subclass that says why the event does not apply. It answers
the order's own state when the event changes nothing (a cashier opened twice). The command that
acts on the answer saves it through the guarded ``app.services.states.move``, which also refuses an
edge missing from the tables below, so the tables stay the one statement of what may happen.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol


class PaymentStatus(StrEnum):
    """A payment order (缴费订单): what the channel and the HIS have said about its money."""

    CREATED = "created"
    PAYING = "paying"                        # opened at the channel's cashier
    PAID = "paid"                            # the channel has the money; the HIS is being told
    CONFIRMED = "confirmed"                  # the HIS applied it (registered, settled, credited)
    CONFIRM_UNKNOWN = "confirm_unknown"      # the HIS never said yes or no: flagged, asked again, never refunded
    CONFIRM_FAILED = "confirm_failed"        # the HIS definitely did not apply it: refunded
    REFUNDING = "refunding"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"
    CLOSED = "closed"                        # unpaid past the deadline (the channel was asked first)


# payment order: CREATED -> PAYING -> PAID -> (CONFIRMED | CONFIRM_UNKNOWN | CONFIRM_FAILED)
#                -> REFUNDING -> (REFUNDED | PARTIALLY_REFUNDED); CLOSED when unpaid past the deadline
_P = PaymentStatus
PAYMENT: dict[PaymentStatus, set[PaymentStatus]] = {
    _P.CREATED: {_P.PAYING, _P.CLOSED, _P.PAID},  # paid at a cashier our page never saw opening: still recorded
    _P.PAYING: {_P.PAID, _P.CLOSED},
    _P.CLOSED: {_P.PAID},  # money that arrived after the deadline: recorded, then refunded and flagged
    _P.PAID: {_P.CONFIRMED, _P.CONFIRM_FAILED, _P.CONFIRM_UNKNOWN, _P.REFUNDING},
    _P.CONFIRM_UNKNOWN: {_P.CONFIRMED, _P.CONFIRM_FAILED},  # only on the HIS's (or finance's checked) word
    _P.CONFIRMED: {_P.REFUNDING},
    _P.CONFIRM_FAILED: {_P.REFUNDING},
    _P.REFUNDING: {_P.REFUNDED, _P.PARTIALLY_REFUNDED, _P.CONFIRMED, _P.CONFIRM_FAILED},
    _P.PARTIALLY_REFUNDED: {_P.REFUNDING},
    _P.REFUNDED: set(),
}

#: unpaid and still payable at the cashier: the states the deadline closes
LIVE = frozenset(s for s, nxt in PAYMENT.items() if _P.CLOSED in nxt)
#: money is in and part of it may still go back (REFUNDING itself takes further partial refunds)
REFUNDABLE = frozenset(s for s, nxt in PAYMENT.items() if _P.REFUNDING in nxt) | {_P.REFUNDING}
#: the patient's page stops waiting: neither payable any more nor waiting for the HIS's first answer
FINAL = frozenset(PaymentStatus) - LIVE - {_P.PAID}
#: the HIS is asked (again) about these
AWAITING_HIS = frozenset({_P.PAID, _P.CONFIRM_UNKNOWN})
#: the channel took the money, whatever the HIS said of it since: 交易统计, 数据分析 and 对账 count these
#: (sorted: the statements that read it are built once and kept)
MONEY_TAKEN = tuple(sorted(frozenset(PaymentStatus) - LIVE - {_P.CLOSED}))


class RefundStatus(StrEnum):
    """A refund: only the channel's final word (SUCCESS, or CLOSED / never received) ends it."""

    REQUESTED = "requested"      # the amount is reserved on the payment; not sent yet
    PROCESSING = "processing"    # the channel accepted it
    ABNORMAL = "abnormal"        # WeChat ABNORMAL (the card it goes back to is gone): needs handling, NOT final
    SUCCESS = "success"
    FAILED = "failed"            # the channel closed it or never took it: the reservation is released


_R = RefundStatus
# refund: REQUESTED -> PROCESSING -> (SUCCESS | FAILED | ABNORMAL -> SUCCESS | FAILED); a failed refund may be
# sent again (its amount reserved again), and a success the channel reports late is always recorded
REFUND: dict[RefundStatus, set[RefundStatus]] = {
    _R.REQUESTED: {_R.PROCESSING, _R.FAILED},
    _R.PROCESSING: {_R.SUCCESS, _R.FAILED, _R.ABNORMAL},
    _R.ABNORMAL: {_R.SUCCESS, _R.FAILED},
    _R.FAILED: {_R.PROCESSING, _R.SUCCESS},
    _R.SUCCESS: set(),
}
#: a refund that may still fail holds its amount on the payment (and its units on the bill items)
REFUND_IN_FLIGHT = frozenset(s for s, nxt in REFUND.items() if _R.FAILED in nxt)


# -- events and decide ---------------------------------------------------------------------------

class PaymentEvent(StrEnum):
    """What can happen to a payment order."""

    CASHIER_OPENED = "cashier_opened"        # the patient pressed 支付 and the channel took the order
    CHANNEL_PAID = "channel_paid"            # notification or query: the channel has the money
    CLOSE = "close"                          # deadline passed, or the patient cancelled unpaid
    HIS_CONFIRMED = "his_confirmed"          # the HIS applied the trade (or says it holds it)
    HIS_NOT_APPLIED = "his_not_applied"      # the HIS (or finance, checked) says it did not apply it
    HIS_SILENT = "his_silent"                # the HIS could not say either way
    REFUND_REQUESTED = "refund_requested"    # an amount is reserved for a refund
    REFUNDS_SETTLED = "refunds_settled"      # no refund is in flight any more


class RefundEvent(StrEnum):
    """What can happen to a refund."""

    SEND = "send"                            # hand it to the channel (again, under the same number)
    CHANNEL_SUCCEEDED = "channel_succeeded"
    CHANNEL_FAILED = "channel_failed"        # closed at the channel, or never received
    CHANNEL_ABNORMAL = "channel_abnormal"


class EventRefused(Exception):
    """The event does not apply to the order in its present state (not a race: the state was read)."""

    def __init__(self, status: str, event: str) -> None:
        super().__init__(f"{event} refused in {status}")
        self.status, self.event = status, event


class DoublePayment(EventRefused):
    """Money reported for an order that already has it: harmless when it is the same trade."""


class AlreadyPaid(EventRefused):
    """Close or open the cashier for an order whose money is already in."""


class PaymentClosed(EventRefused):
    """Open the cashier of, or close again, an order that is closed."""


class NotAwaitingHis(EventRefused):
    """A HIS answer for an order that is not waiting for one."""


class NotRefundable(EventRefused):
    """A refund requested for an order with no money in (or all of it already back)."""


class NotRefunding(EventRefused):
    """Refunds settled for an order that has none running."""


class RefundFinal(EventRefused):
    """Anything but the same success again for a refund the channel paid out."""


class RefundNotInFlight(EventRefused):
    """A failure or ABNORMAL for a refund that is not (or no longer) at the channel."""


class PaymentLike(Protocol):
    status: str
    amount_fen: int
    his_receipt_no: str | None


def decide_payment(order: PaymentLike, event: PaymentEvent, *, refunded_fen: int = 0) -> PaymentStatus:
    """The state ``event`` takes ``order`` to (its own state: nothing to move), or a refusal.

    ``refunded_fen`` is what the channel paid back in all (REFUNDS_SETTLED only).
    """
    status = PaymentStatus(order.status)
    money_in = status not in LIVE and status != _P.CLOSED
    if event == PaymentEvent.CASHIER_OPENED:
        if status == _P.CLOSED:
            raise PaymentClosed(status, event)
        if money_in:
            raise AlreadyPaid(status, event)
        return _P.PAYING
    if event == PaymentEvent.CHANNEL_PAID:
        if money_in:
            raise DoublePayment(status, event)
        return _P.PAID
    if event == PaymentEvent.CLOSE:
        if status == _P.CLOSED:
            raise PaymentClosed(status, event)
        if money_in:
            raise AlreadyPaid(status, event)
        return _P.CLOSED
    if event in (PaymentEvent.HIS_CONFIRMED, PaymentEvent.HIS_NOT_APPLIED, PaymentEvent.HIS_SILENT):
        if status not in AWAITING_HIS:
            raise NotAwaitingHis(status, event)
        return {PaymentEvent.HIS_CONFIRMED: _P.CONFIRMED, PaymentEvent.HIS_NOT_APPLIED: _P.CONFIRM_FAILED,
                PaymentEvent.HIS_SILENT: _P.CONFIRM_UNKNOWN}[event]
    if event == PaymentEvent.REFUND_REQUESTED:
        if status not in REFUNDABLE:
            raise NotRefundable(status, event)
        return _P.REFUNDING
    if event == PaymentEvent.REFUNDS_SETTLED:
        if status != _P.REFUNDING:
            raise NotRefunding(status, event)
        if refunded_fen >= order.amount_fen:
            return _P.REFUNDED
        if refunded_fen > 0:
            return _P.PARTIALLY_REFUNDED
        # every refund failed: back to what the HIS said (a receipt means it applied the money)
        return _P.CONFIRMED if order.his_receipt_no else _P.CONFIRM_FAILED
    raise ValueError(f"unknown payment event {event!r}")


def decide_refund(refund: object, event: RefundEvent) -> RefundStatus:
    """The state ``event`` takes ``refund`` to (its own state: nothing to move), or a refusal."""
    status = RefundStatus(refund.status)  # type: ignore[attr-defined]
    if status == _R.SUCCESS:
        raise RefundFinal(status, event)
    if event == RefundEvent.SEND:
        if status == _R.ABNORMAL:  # handled at the merchant platform; sending again would pay twice
            raise RefundNotInFlight(status, event)
        return _R.PROCESSING
    if event == RefundEvent.CHANNEL_SUCCEEDED:
        if status == _R.REQUESTED:  # we never sent it: a success for it is not ours to believe
            raise RefundNotInFlight(status, event)
        return _R.SUCCESS
    if event == RefundEvent.CHANNEL_FAILED:
        if status not in REFUND_IN_FLIGHT:
            raise RefundNotInFlight(status, event)
        return _R.FAILED
    if event == RefundEvent.CHANNEL_ABNORMAL:
        if status not in (_R.PROCESSING, _R.ABNORMAL):
            raise RefundNotInFlight(status, event)
        return _R.ABNORMAL
    raise ValueError(f"unknown refund event {event!r}")
