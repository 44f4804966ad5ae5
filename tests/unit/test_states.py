"""Every state machine: each allowed edge moves once, each refused edge raises, a lost race changes nothing."""

from __future__ import annotations

import pytest

from app.extensions import db
from app.models import PaymentOrder, Refund, StateTransition
from app.services import states
from tests import factories

# The lifecycles as the hospital's finance and booking rules state them, written out here by hand: the
# tables in app/services/states.py must say exactly this, so a changed edge fails until it is agreed here too.
SPEC = {
    "payment": {
        "created": {"paying", "closed", "paid"},
        "paying": {"paid", "closed"},
        "closed": {"paid"},
        "paid": {"confirmed", "confirm_failed", "confirm_unknown", "refunding"},
        "confirm_unknown": {"confirmed", "confirm_failed"},
        "confirmed": {"refunding"},
        "confirm_failed": {"refunding"},
        "refunding": {"refunded", "partially_refunded", "confirmed", "confirm_failed"},
        "partially_refunded": {"refunding"},
        "refunded": set(),
    },
    "refund": {
        "requested": {"processing", "failed"},
        "processing": {"success", "failed", "abnormal"},
        "abnormal": {"success", "failed"},
        "failed": {"processing", "success"},
        "success": set(),
    },
    "appointment": {
        "holding": {"pending_payment", "booked", "lock_failed"},
        "lock_failed": set(),
        "pending_payment": {"paid", "cancelled", "expired", "stopped"},
        "paid": {"booked", "failed", "stopped", "cancelled"},
        "booked": {"cancelled", "stopped", "visited", "no_show"},
        "failed": {"refunded"},
        "cancelled": {"refunded"},
        "stopped": {"refunded"},
        "expired": set(),
        "refunded": set(),
        "visited": set(),
        "no_show": {"visited"},
    },
    "notice": {
        "pending": {"sending"},
        "sending": {"sent", "failed", "pending"},
        "sent": set(),
        "failed": set(),
    },
    "export": {
        "queued": {"running"},
        "running": {"done", "failed", "queued"},  # queued: a stale run released by the sweep
        "done": {"running"},
        "failed": {"running"},
    },
    "clinic_session": {
        "open": {"stopped"},
        "stopped": set(),
    },
}
EDGES = [(m, a, b) for m, table in SPEC.items() for a in sorted(table) for b in sorted(table)]


@pytest.mark.parametrize("machine", sorted(SPEC))
def test_the_tables_are_the_agreed_lifecycles(machine):
    _, table = states.MACHINES[machine]
    assert {str(k): {str(t) for t in v} for k, v in table.items()} == SPEC[machine]


@pytest.mark.parametrize("machine,src,dst", EDGES)
def test_allowed_answers_the_agreed_lifecycle(machine, src, dst):
    assert states.allowed(machine, src, dst) is (dst in SPEC[machine][src])


@pytest.mark.parametrize("machine", sorted(SPEC))
def test_unknown_states_are_never_allowed(machine):
    some = sorted(SPEC[machine])[0]
    assert not states.allowed(machine, "nonsense", some) and not states.allowed(machine, some, "nonsense")


def test_money_rules_the_tables_keep():
    pay, refund = states.PAYMENT, states.REFUND
    assert "refunding" not in pay["confirm_unknown"], "an unanswered HIS is asked again, never refunded on a guess"
    assert states.TERMINAL == {"payment": {"refunded"}, "refund": {"success"},
                               "appointment": {"lock_failed", "expired", "refunded", "visited"},
                               "notice": {"sent", "failed"}, "export": set(),
                               "clinic_session": {"stopped"}}
    money_in = {"paid", "confirmed", "confirm_unknown", "confirm_failed", "refunding", "partially_refunded",
                "refunded"}
    assert all(not (pay[s] & {"created", "paying", "closed"}) for s in money_in), "money in is never undone"
    assert not any("requested" in nxt for nxt in refund.values()), "a sent refund never goes back to unsent"


@pytest.mark.parametrize("machine", sorted(states.MACHINES))
def test_table_is_closed_and_every_state_reachable(machine):
    _, table = states.MACHINES[machine]
    targets = {t for nxt in table.values() for t in nxt}
    assert targets <= set(table), "every target has its own row"
    starts = {"payment": "created", "refund": "requested", "appointment": "holding", "notice": "pending",
              "export": "queued", "clinic_session": "open"}
    assert set(table) - targets <= {starts[machine]}, "only the start state is unreachable"


def _payment(status: str) -> PaymentOrder:
    """A payment that reached ``status`` the usual way (its own walk is recorded by the factory's actor)."""
    return factories.payment_order(factories.patient(factories.channel_user()), status=status, amount_fen=1000)


@pytest.mark.parametrize("src,dst", [(a, b) for a, nxt in SPEC["payment"].items() for b in sorted(nxt)])
def test_every_allowed_payment_edge_moves_once_and_is_recorded(ctx, src, dst):
    order = _payment(src)
    assert states.move("payment", order.id, src, dst, actor="test", reason="walk")
    assert db.session.get(PaymentOrder, order.id).status == dst
    assert not states.move("payment", order.id, src, dst, actor="test"), "a second identical move changes nothing"
    rows = db.session.query(StateTransition).filter_by(order_type="payment", order_id=order.id, actor="test").all()
    assert [(r.from_status, r.to_status, r.actor) for r in rows] == [(src, dst, "test")]


@pytest.mark.parametrize("src,dst", [(a, b) for a in SPEC["payment"] for b in SPEC["payment"]
                                     if b not in SPEC["payment"][a]])
def test_every_refused_payment_edge_raises(ctx, src, dst):
    order = _payment(src)
    with pytest.raises(states.IllegalTransition):
        states.move("payment", order.id, src, dst, actor="test")
    assert db.session.get(PaymentOrder, order.id).status == src


def _appointment(status: str):
    slc = factories.schedule(capacity=2, booked=1).slices[0]
    return factories.appointment_order(factories.patient(factories.channel_user()), status, slc=slc)


@pytest.mark.parametrize("src,dst", [(a, b) for a, nxt in SPEC["appointment"].items() for b in sorted(nxt)])
def test_every_allowed_appointment_edge_moves_once_and_is_recorded(ctx, src, dst):
    from app.models import AppointmentOrder

    order = _appointment(src)
    assert states.move("appointment", order.id, src, dst, actor="test", reason="walk")
    assert db.session.get(AppointmentOrder, order.id).status == dst
    assert not states.move("appointment", order.id, src, dst, actor="test")
    rows = db.session.query(StateTransition).filter_by(order_type="appointment", order_id=order.id,
                                                       actor="test").all()
    assert [(r.from_status, r.to_status) for r in rows] == [(src, dst)]


@pytest.mark.parametrize("src,dst", [(a, b) for a in SPEC["appointment"] for b in SPEC["appointment"]
                                     if b not in SPEC["appointment"][a]])
def test_every_refused_appointment_edge_raises(ctx, src, dst):
    from app.models import AppointmentOrder

    order = _appointment(src)
    with pytest.raises(states.IllegalTransition):
        states.move("appointment", order.id, src, dst, actor="test")
    assert db.session.get(AppointmentOrder, order.id).status == src


def _refund(status: str) -> Refund:
    return factories.refund(_payment("confirmed"), status, amount_fen=500)


@pytest.mark.parametrize("src,dst", [(a, b) for a, nxt in SPEC["refund"].items() for b in sorted(nxt)])
def test_every_allowed_refund_edge_moves_once_and_is_recorded(ctx, src, dst):
    refund = _refund(src)
    assert states.move("refund", refund.id, src, dst, actor="test", reason="walk")
    assert db.session.get(Refund, refund.id).status == dst
    assert not states.move("refund", refund.id, src, dst, actor="test"), "a lost race changes nothing"
    rows = db.session.query(StateTransition).filter_by(order_type="refund", order_id=refund.id, actor="test").all()
    assert [(r.from_status, r.to_status, r.actor, r.reason) for r in rows] == [(src, dst, "test", "walk")]


@pytest.mark.parametrize("src,dst", [(a, b) for a in SPEC["refund"] for b in SPEC["refund"]
                                     if b not in SPEC["refund"][a]])
def test_every_refused_refund_edge_raises(ctx, src, dst):
    refund = _refund(src)
    with pytest.raises(states.IllegalTransition):
        states.move("refund", refund.id, src, dst, actor="test")
    assert db.session.get(Refund, refund.id).status == src
    assert db.session.query(StateTransition).filter_by(order_type="refund", order_id=refund.id,
                                                       actor="test").count() == 0
