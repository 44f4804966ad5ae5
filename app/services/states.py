"""State machines of every order, as tables you can read at a glance, and the one guarded move.

A move is ``UPDATE … SET status = :to WHERE id = :id AND status = :from``: if another process moved
the order first, the update touches no row and the caller learns it lost the race; nothing moves
twice. Every successful move leaves a StateTransition row saying who, when and why.
"""

from __future__ import annotations

import functools
from enum import StrEnum

from sqlalchemy import bindparam, update
from sqlalchemy.orm.util import identity_key
from sqlalchemy.sql.elements import ClauseElement

from app.extensions import db
from app.services import uow
from app.models import AppointmentOrder, ExportJob, Notification, PaymentOrder, Refund, Schedule, StateTransition
# the payment and refund machines live with payments; named here too for the callers of ``move``
from app.payments.states import (  # noqa: F401
    AWAITING_HIS,
    FINAL,
    LIVE,
    PAYMENT,
    REFUND,
    REFUND_IN_FLIGHT,
    REFUNDABLE,
    EventRefused,
    PaymentStatus,
    RefundStatus,
)
from app.registration.states import APPOINTMENT


class IllegalTransition(Exception):
    """A move the table does not allow (a programming error, never a race)."""


class Refused(EventRefused):
    """The event does not apply to the notice, export job or clinic session in its present state."""

    def __init__(self, machine: str, status: str, event: str) -> None:
        super().__init__(status, event)
        self.machine = machine
        self.args = (f"{machine}: {event} refused in {status}",)


def _decide(machine: str, events: dict, thing: object, event: str) -> StrEnum:
    """The target ``events[event][status]`` of a table-driven machine, or ``Refused``."""
    status = str(getattr(thing, "status", thing))
    try:
        return events[event][status]
    except KeyError:
        raise Refused(machine, status, str(event)) from None


# -- notices (the outbox's pushes, app/messages/delivery.py) -------------------------------------

class NoticeStatus(StrEnum):
    """A notice's push to the patient's channel (the notice itself stays in the message centre)."""

    PENDING = "pending"      # due at ``next_attempt_at`` (or now)
    SENDING = "sending"      # claimed by one worker, at the channel
    SENT = "sent"
    FAILED = "failed"        # retrying cannot help (quota, not following, no template) or attempts used up


_N = NoticeStatus
# notice: PENDING -> SENDING -> (SENT | FAILED | PENDING again, later); a send killed mid-way is released
NOTICE: dict[NoticeStatus, frozenset[NoticeStatus]] = {
    _N.PENDING: frozenset({_N.SENDING}),
    _N.SENDING: frozenset({_N.SENT, _N.FAILED, _N.PENDING}),
    _N.SENT: frozenset(),
    _N.FAILED: frozenset(),
}
#: a worker may still push these
NOTICE_OPEN = frozenset(s for s, nxt in NOTICE.items() if nxt)


class NoticeEvent(StrEnum):
    CLAIM = "claim"          # a worker takes a due notice
    PUSHED = "pushed"        # the channel accepted the push
    RETRY = "retry"          # the channel refused for now: again after the backoff
    GIVE_UP = "give_up"      # the channel refused for good, or the attempts are used up
    RELEASE = "release"      # the worker died mid-send: the sweep frees the notice


NOTICE_EVENTS: dict[NoticeEvent, dict[NoticeStatus, NoticeStatus]] = {
    NoticeEvent.CLAIM: {_N.PENDING: _N.SENDING},
    NoticeEvent.PUSHED: {_N.SENDING: _N.SENT},
    NoticeEvent.RETRY: {_N.SENDING: _N.PENDING},
    NoticeEvent.GIVE_UP: {_N.SENDING: _N.FAILED},
    NoticeEvent.RELEASE: {_N.SENDING: _N.PENDING},
}


def decide_notice(notice: object, event: NoticeEvent) -> NoticeStatus:
    """Where ``event`` takes a notice (anything with a ``status``, or the status); ``Refused`` otherwise."""
    return _decide("notice", NOTICE_EVENTS, notice, event)  # type: ignore[return-value]


# -- export jobs (the back-office's .xlsx reports, app/reports/exports.py) -----------------------

class ExportStatus(StrEnum):
    """A report export built by a Huey worker; progress moves inside RUNNING without a state move."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


_X = ExportStatus
# export job: QUEUED -> RUNNING -> (DONE | FAILED); a failed job, or a done one whose file is gone, runs again;
# a run that stopped moving (its worker killed) is released to QUEUED by the sweep and started again
EXPORT: dict[ExportStatus, frozenset[ExportStatus]] = {
    _X.QUEUED: frozenset({_X.RUNNING}),
    _X.RUNNING: frozenset({_X.DONE, _X.FAILED, _X.QUEUED}),
    _X.DONE: frozenset({_X.RUNNING}),
    _X.FAILED: frozenset({_X.RUNNING}),
}
#: a worker still owes these a file (the sweep re-runs them when they stop moving)
EXPORT_UNFINISHED = frozenset({_X.QUEUED, _X.RUNNING})


class ExportEvent(StrEnum):
    START = "start"          # a worker begins (or begins again) to build the file
    FINISH = "finish"        # the file is written
    FAIL = "fail"            # building it raised
    RELEASE = "release"      # the sweep: a run that stopped moving (worker killed) is given back to the queue


EXPORT_EVENTS: dict[ExportEvent, dict[ExportStatus, ExportStatus]] = {
    ExportEvent.START: {_X.QUEUED: _X.RUNNING, _X.FAILED: _X.RUNNING, _X.DONE: _X.RUNNING},
    ExportEvent.FINISH: {_X.RUNNING: _X.DONE},
    ExportEvent.FAIL: {_X.RUNNING: _X.FAILED},
    ExportEvent.RELEASE: {_X.RUNNING: _X.QUEUED},
}


def decide_export(job: object, event: ExportEvent, *, file_present: bool = False) -> ExportStatus:
    """Where ``event`` takes an export job, its own state when nothing moves, or ``Refused``.

    START on a RUNNING job answers RUNNING: a worker is building it, nothing moves and nothing is built (a
    killed worker's job is first RELEASEd to QUEUED by the sweep, then started by a guarded move like any
    other). START on a DONE job whose file is still there (``file_present``) answers DONE: nothing to build.
    """
    status = str(getattr(job, "status", job))
    if event == ExportEvent.START and (status == _X.RUNNING or (status == _X.DONE and file_present)):
        return _X(status)
    return _decide("export", EXPORT_EVENTS, status, event)  # type: ignore[return-value]


# -- clinic sessions (出诊; the 停诊 of app/registration/commands.py stop_clinic) --------------------

class SessionStatus(StrEnum):
    """A doctor's half-day session: open for booking until the HIS stops it (停诊); nothing reopens it."""

    OPEN = "open"
    STOPPED = "stopped"


_S = SessionStatus
CLINIC_SESSION: dict[SessionStatus, frozenset[SessionStatus]] = {
    _S.OPEN: frozenset({_S.STOPPED}),
    _S.STOPPED: frozenset(),
}


class SessionEvent(StrEnum):
    STOP = "stop"            # 停诊, from the HIS's event or found by the timetable sync


SESSION_EVENTS: dict[SessionEvent, dict[SessionStatus, SessionStatus]] = {
    SessionEvent.STOP: {_S.OPEN: _S.STOPPED},
}


def decide_session(session: object, event: SessionEvent) -> SessionStatus:
    """Where ``event`` takes a clinic session; ``Refused`` otherwise (a session stopped before)."""
    return _decide("clinic_session", SESSION_EVENTS, session, event)  # type: ignore[return-value]


MACHINES = {
    "payment": (PaymentOrder, PAYMENT),
    "refund": (Refund, REFUND),
    "appointment": (AppointmentOrder, APPOINTMENT),
    "notice": (Notification, NOTICE),
    "export": (ExportJob, EXPORT),
    "clinic_session": (Schedule, CLINIC_SESSION),
}

TERMINAL = {name: {s for s, nxt in table.items() if not nxt} for name, (_, table) in MACHINES.items()}

#: the ``from_status`` of an order's first StateTransition row (it had no state before it was written)
NO_STATE = "-"


def allowed(machine: str, from_status: str, to_status: str) -> bool:
    return to_status in MACHINES[machine][1].get(from_status, set())


def move(machine: str, order_id: int, from_status: str, to_status: str, *, actor: str,
         reason: str | None = None, where: tuple = (), **values) -> bool:
    """Move one order from ``from_status`` to ``to_status`` if it is still there.

    ``where`` adds conditions the row must also meet (a notice that is due). Returns False (and
    changes nothing) when another process moved it first. Raises IllegalTransition when the table
    forbids the edge. The caller's unit of work commits.
    """
    model, table = MACHINES[machine]
    from_status, to_status = str(from_status), str(to_status)  # plain text to the driver, enum or not
    if not allowed(machine, from_status, to_status):
        raise IllegalTransition(f"{machine}: {from_status} -> {to_status} is not allowed")
    if where or any(isinstance(v, ClauseElement) or hasattr(v, "__clause_element__") for v in values.values()):
        result = db.session.execute(
            update(model)
            .where(model.id == order_id, model.status == from_status, *where)
            .values(status=to_status, **values)
            .execution_options(synchronize_session=False)
        )
    else:  # plain values: one Core UPDATE per table, built once, its SET named by the parameters
        result = uow.execute(_guarded_update(model.__table__),
                             {"_id": order_id, "_from": from_status, "status": to_status, **values})
    if result.rowcount != 1:
        return False
    record(machine, order_id, from_status, to_status, actor=actor, reason=reason)
    obj = db.session.identity_map.get(identity_key(model, order_id))
    if obj is not None:
        db.session.expire(obj)
    return True


@functools.cache
def _guarded_update(table):
    """``UPDATE <table> SET <the parameters' columns> WHERE id = :_id AND status = :_from``."""
    return table.update().where(table.c.id == bindparam("_id"), table.c.status == bindparam("_from"))


_TRANSITION = StateTransition.__table__.insert()


def record(machine: str, order_id: int, from_status: str, to_status: str, *, actor: str,
           reason: str | None = None) -> None:
    """Append the StateTransition row of a move (``from_status`` "-" for an order just created) in the
    caller's transaction: one Core INSERT, now, not an ORM object flushed later (nothing in the request
    reads it back). ``at`` is the clock's now, as the model's default."""
    uow.execute(_TRANSITION, {"order_type": machine, "order_id": order_id, "from_status": str(from_status),
                              "to_status": str(to_status), "actor": actor, "reason": reason})
