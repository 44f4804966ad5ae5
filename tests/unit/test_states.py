"""Every state machine: each allowed edge moves once, each refused edge raises, a lost race changes nothing."""

from __future__ import annotations

import pytest

from app.extensions import db
from app.models import PaymentOrder, StateTransition
from app.services import states
from tests import factories

ALL = {name: sorted(set(table) | {t for nxt in table.values() for t in nxt})
       for name, (_, table) in states.MACHINES.items()}


@pytest.mark.parametrize("machine", sorted(states.MACHINES))
def test_table_is_closed_and_every_state_reachable(machine):
    _, table = states.MACHINES[machine]
    targets = {t for nxt in table.values() for t in nxt}
    assert targets <= set(table), "every target has its own row"
    starts = {"payment": "created", "refund": "requested", "appointment": "holding"}
    assert set(table) - targets <= {starts[machine]}, "only the start state is unreachable"


@pytest.mark.parametrize("machine,src,dst", [(m, a, b) for m, states_ in ALL.items() for a in states_ for b in states_])
def test_allowed_matches_the_table(machine, src, dst):
    _, table = states.MACHINES[machine]
    assert states.allowed(machine, src, dst) == (dst in table.get(src, set()))


def _payment(status: str) -> PaymentOrder:
    owner = factories.channel_user()
    patient = factories.patient(owner)
    order = PaymentOrder(order_no=f"MZT{owner.id:010d}{status[:4]}", kind="outpatient", owner_id=owner.id,
                         patient_id=patient.id, channel="wechat", amount_fen=1000, description="t", status=status)
    db.session.add(order)
    db.session.flush()
    return order


@pytest.mark.parametrize("src,dst", [(a, b) for a, nxt in states.PAYMENT.items() for b in sorted(nxt)])
def test_every_allowed_payment_edge_moves_once_and_is_recorded(ctx, src, dst):
    order = _payment(src)
    assert states.move("payment", order.id, src, dst, actor="test", reason="walk")
    assert db.session.get(PaymentOrder, order.id).status == dst
    assert not states.move("payment", order.id, src, dst, actor="test"), "a second identical move changes nothing"
    rows = db.session.query(StateTransition).filter_by(order_type="payment", order_id=order.id).all()
    assert [(r.from_status, r.to_status, r.actor) for r in rows] == [(src, dst, "test")]


@pytest.mark.parametrize("src,dst", [(a, b) for a in states.PAYMENT for b in states.PAYMENT
                                     if b not in states.PAYMENT[a]])
def test_every_refused_payment_edge_raises(ctx, src, dst):
    order = _payment(src)
    with pytest.raises(states.IllegalTransition):
        states.move("payment", order.id, src, dst, actor="test")
    assert db.session.get(PaymentOrder, order.id).status == src
