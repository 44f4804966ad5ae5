"""State machines of every order, as tables you can read at a glance, and the one guarded move.

A move is ``UPDATE … SET status = :to WHERE id = :id AND status = :from``: if another process moved
the order first, the update touches no row and the caller learns it lost the race; nothing moves
twice. Every successful move leaves a StateTransition row saying who, when and why.
"""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.orm.util import identity_key

from app.extensions import db
from app.models import AppointmentOrder, PaymentOrder, Refund, StateTransition
# the payment and refund machines live with payments; named here too for the callers of ``move``
from app.payments.states import (  # noqa: F401
    AWAITING_HIS,
    FINAL,
    LIVE,
    PAYMENT,
    REFUND,
    REFUND_IN_FLIGHT,
    REFUNDABLE,
    PaymentStatus,
    RefundStatus,
)
from app.registration.states import APPOINTMENT


class IllegalTransition(Exception):
    """A move the table does not allow (a programming error, never a race)."""


MACHINES = {
    "payment": (PaymentOrder, PAYMENT),
    "refund": (Refund, REFUND),
    "appointment": (AppointmentOrder, APPOINTMENT),
}

TERMINAL = {name: {s for s, nxt in table.items() if not nxt} for name, (_, table) in MACHINES.items()}


def allowed(machine: str, from_status: str, to_status: str) -> bool:
    return to_status in MACHINES[machine][1].get(from_status, set())


def move(machine: str, order_id: int, from_status: str, to_status: str, *, actor: str,
         reason: str | None = None, **values) -> bool:
    """Move one order from ``from_status`` to ``to_status`` if it is still there.

    Returns False (and changes nothing) when another process moved it first. Raises
    IllegalTransition when the table forbids the edge. The caller's unit of work commits.
    """
    model, table = MACHINES[machine]
    from_status, to_status = str(from_status), str(to_status)  # plain text to the driver, enum or not
    if not allowed(machine, from_status, to_status):
        raise IllegalTransition(f"{machine}: {from_status} -> {to_status} is not allowed")
    result = db.session.execute(
        update(model)
        .where(model.id == order_id, model.status == from_status)
        .values(status=to_status, **values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return False
    db.session.add(StateTransition(order_type=machine, order_id=order_id, from_status=from_status,
                                   to_status=to_status, actor=actor, reason=reason))
    obj = db.session.identity_map.get(identity_key(model, order_id))
    if obj is not None:
        db.session.expire(obj)
    return True
