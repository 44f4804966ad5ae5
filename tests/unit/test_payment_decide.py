"""decide() for the payment order and the refund: every (state, event) pair, written out by hand.

Each answer is either the state itself (nothing moves) or an edge of the table; each refusal is the
specific error finance would read in the log. The tables in app/payments/states.py must agree.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from app.payments import states as ps
from app.payments.states import PaymentEvent as E, PaymentStatus as P, RefundEvent as RE, RefundStatus as R

# (state, event) -> target state, or the error class. REFUNDS_SETTLED is walked separately (it needs amounts).
PAYMENT_SPEC = {
    P.CREATED: {E.CASHIER_OPENED: P.PAYING, E.CHANNEL_PAID: P.PAID, E.CLOSE: P.CLOSED,
                E.HIS_CONFIRMED: ps.NotAwaitingHis, E.HIS_NOT_APPLIED: ps.NotAwaitingHis,
                E.HIS_SILENT: ps.NotAwaitingHis, E.REFUND_REQUESTED: ps.NotRefundable},
    P.PAYING: {E.CASHIER_OPENED: P.PAYING, E.CHANNEL_PAID: P.PAID, E.CLOSE: P.CLOSED,
               E.HIS_CONFIRMED: ps.NotAwaitingHis, E.HIS_NOT_APPLIED: ps.NotAwaitingHis,
               E.HIS_SILENT: ps.NotAwaitingHis, E.REFUND_REQUESTED: ps.NotRefundable},
    P.CLOSED: {E.CASHIER_OPENED: ps.PaymentClosed, E.CHANNEL_PAID: P.PAID, E.CLOSE: ps.PaymentClosed,
               E.HIS_CONFIRMED: ps.NotAwaitingHis, E.HIS_NOT_APPLIED: ps.NotAwaitingHis,
               E.HIS_SILENT: ps.NotAwaitingHis, E.REFUND_REQUESTED: ps.NotRefundable},
    P.PAID: {E.CASHIER_OPENED: ps.AlreadyPaid, E.CHANNEL_PAID: ps.DoublePayment, E.CLOSE: ps.AlreadyPaid,
             E.HIS_CONFIRMED: P.CONFIRMED, E.HIS_NOT_APPLIED: P.CONFIRM_FAILED, E.HIS_SILENT: P.CONFIRM_UNKNOWN,
             E.REFUND_REQUESTED: P.REFUNDING},
    P.CONFIRM_UNKNOWN: {E.CASHIER_OPENED: ps.AlreadyPaid, E.CHANNEL_PAID: ps.DoublePayment, E.CLOSE: ps.AlreadyPaid,
                        E.HIS_CONFIRMED: P.CONFIRMED, E.HIS_NOT_APPLIED: P.CONFIRM_FAILED,
                        E.HIS_SILENT: P.CONFIRM_UNKNOWN, E.REFUND_REQUESTED: ps.NotRefundable},
}
for _money_in in (P.CONFIRMED, P.CONFIRM_FAILED, P.REFUNDING, P.PARTIALLY_REFUNDED, P.REFUNDED):
    PAYMENT_SPEC[_money_in] = {
        E.CASHIER_OPENED: ps.AlreadyPaid, E.CHANNEL_PAID: ps.DoublePayment, E.CLOSE: ps.AlreadyPaid,
        E.HIS_CONFIRMED: ps.NotAwaitingHis, E.HIS_NOT_APPLIED: ps.NotAwaitingHis, E.HIS_SILENT: ps.NotAwaitingHis,
        E.REFUND_REQUESTED: ps.NotRefundable if _money_in == P.REFUNDED else P.REFUNDING}

REFUND_SPEC = {
    R.REQUESTED: {RE.SEND: R.PROCESSING, RE.CHANNEL_SUCCEEDED: ps.RefundNotInFlight, RE.CHANNEL_FAILED: R.FAILED,
                  RE.CHANNEL_ABNORMAL: ps.RefundNotInFlight},
    R.PROCESSING: {RE.SEND: R.PROCESSING, RE.CHANNEL_SUCCEEDED: R.SUCCESS, RE.CHANNEL_FAILED: R.FAILED,
                   RE.CHANNEL_ABNORMAL: R.ABNORMAL},
    R.ABNORMAL: {RE.SEND: ps.RefundNotInFlight, RE.CHANNEL_SUCCEEDED: R.SUCCESS, RE.CHANNEL_FAILED: R.FAILED,
                 RE.CHANNEL_ABNORMAL: R.ABNORMAL},
    R.FAILED: {RE.SEND: R.PROCESSING, RE.CHANNEL_SUCCEEDED: R.SUCCESS, RE.CHANNEL_FAILED: ps.RefundNotInFlight,
               RE.CHANNEL_ABNORMAL: ps.RefundNotInFlight},
    R.SUCCESS: {e: ps.RefundFinal for e in RE},
}

PAYMENT_CASES = [(s, e) for s in P for e in E if e != E.REFUNDS_SETTLED]
REFUND_CASES = [(s, e) for s in R for e in RE]


def _order(status, amount_fen=1000, receipt=None):
    return SimpleNamespace(status=str(status), amount_fen=amount_fen, his_receipt_no=receipt)


def test_the_spec_covers_every_state_and_event():
    assert set(PAYMENT_SPEC) == set(P) and all(set(v) == set(E) - {E.REFUNDS_SETTLED} for v in PAYMENT_SPEC.values())
    assert set(REFUND_SPEC) == set(R) and all(set(v) == set(RE) for v in REFUND_SPEC.values())


@pytest.mark.parametrize("status,event", PAYMENT_CASES)
def test_decide_payment(status, event):
    expected = PAYMENT_SPEC[status][event]
    if isinstance(expected, type):
        with pytest.raises(expected) as refused:
            ps.decide_payment(_order(status), event)
        assert refused.value.status == status and refused.value.event == event
        return
    target = ps.decide_payment(_order(status), event)
    assert target == expected
    assert target == status or target in ps.PAYMENT[status], "decide may only answer an edge of the table"


@pytest.mark.parametrize("status,event", REFUND_CASES)
def test_decide_refund(status, event):
    expected = REFUND_SPEC[status][event]
    if isinstance(expected, type):
        with pytest.raises(expected):
            ps.decide_refund(SimpleNamespace(status=str(status)), event)
        return
    target = ps.decide_refund(SimpleNamespace(status=str(status)), event)
    assert target == expected
    assert target == status or target in ps.REFUND[status]


@pytest.mark.parametrize("refunded_fen,receipt,expected", [
    (1000, None, P.REFUNDED), (1000, "R1", P.REFUNDED), (1, "R1", P.PARTIALLY_REFUNDED),
    (999, None, P.PARTIALLY_REFUNDED), (0, "R1", P.CONFIRMED), (0, None, P.CONFIRM_FAILED)])
def test_refunds_settled_by_what_came_back(refunded_fen, receipt, expected):
    order = _order(P.REFUNDING, 1000, receipt)
    assert ps.decide_payment(order, E.REFUNDS_SETTLED, refunded_fen=refunded_fen) == expected


@pytest.mark.parametrize("status", [s for s in P if s != P.REFUNDING])
def test_refunds_settle_only_a_refunding_order(status):
    with pytest.raises(ps.NotRefunding):
        ps.decide_payment(_order(status), E.REFUNDS_SETTLED, refunded_fen=0)


def _answers(decide, status, events, **kinds):
    for event in events:
        for kw in kinds.get("variants", [{}]):
            try:
                yield decide(event, **kw)
            except ps.EventRefused:
                continue


def test_every_edge_of_the_tables_is_some_event():
    settled = [{"receipt": r, "refunded_fen": f} for r in (None, "R1") for f in (0, 1, 1000)]
    reached = {(s, t) for s in P for t in _answers(
        lambda e, receipt, refunded_fen, s=s: ps.decide_payment(_order(s, 1000, receipt), e, refunded_fen=refunded_fen),
        s, E, variants=settled)}
    assert {(a, b) for a, nxt in ps.PAYMENT.items() for b in nxt} <= reached
    reached = {(s, t) for s in R for t in _answers(
        lambda e, s=s: ps.decide_refund(SimpleNamespace(status=str(s)), e), s, RE)}
    assert {(a, b) for a, nxt in ps.REFUND.items() for b in nxt} <= reached


def test_the_derived_sets():
    assert ps.LIVE == {P.CREATED, P.PAYING}
    assert ps.REFUNDABLE == {P.PAID, P.CONFIRMED, P.CONFIRM_FAILED, P.REFUNDING, P.PARTIALLY_REFUNDED}
    assert ps.FINAL == {P.CONFIRMED, P.CONFIRM_UNKNOWN, P.CONFIRM_FAILED, P.CLOSED, P.REFUNDING, P.REFUNDED,
                        P.PARTIALLY_REFUNDED}
    assert ps.REFUND_IN_FLIGHT == {R.REQUESTED, R.PROCESSING, R.ABNORMAL}
    assert P.CONFIRM_UNKNOWN not in ps.REFUNDABLE, "an unanswered HIS is asked again, never refunded on a guess"
