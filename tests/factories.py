"""Test data builders, one per aggregate (plain functions: each returns a flushed model row; the test commits).

Every row is built the way the platform would have left it: an order is inserted in its machine's first
state (with the ``"-" -> first`` transition the commands write) and walked to the state asked for
through the guarded ``app.services.states.move``, so each step is an edge of its table and leaves its
``state_transition`` row; the columns each state implies are set (a paid payment has ``paid_at`` and
``channel_trade_no``, a confirmed one its receipt, a booked appointment its visit number and its place
in the slice). ``**values`` set any column directly: a test that wants an odd row says so there.

- ``channel_user``, ``patient``
- ``department``, ``doctor``, ``schedule`` (a doctor's half-day with its slices; clinic date relative to
  the test clock), ``schedule_slice``
- ``appointment_order`` (any ``AppointmentStatus``; with its registration payment in the matching state)
- ``payment_order`` (registration, outpatient, deposit; any ``PaymentStatus``; money in fen)
- ``refund`` (any ``RefundStatus``; moves its payment as the refund commands do)
- ``bill_payment`` (an HIS bill inside an outpatient payment, with its items)
- ``reconciliation_run``, ``reconciliation_item``
"""

from __future__ import annotations

import datetime as dt
import itertools
import time
from contextlib import contextmanager

from sqlalchemy import func, select

from app import clock
from app.extensions import db
from app.models import (AppointmentOrder, BillPayment, BillPaymentItem, ChannelUser, Department, Doctor, Patient,
                        PaymentOrder, ReconciliationItem, ReconciliationRun, Refund, Schedule, ScheduleSlice,
                        StateTransition)
from app.models.base import utcnow
from app.models.payments import PAYMENT_KINDS
from app.payments.states import (REFUND_IN_FLIGHT, REFUNDABLE, PaymentEvent, PaymentStatus, RefundStatus,
                                 decide_payment)
from app.registration.states import ATTENDANCE, LIVE as APPOINTMENT_LIVE, AppointmentStatus
from app.services import states

_seq = itertools.count(1)
ACTOR = "test:factory"

P, R, A = PaymentStatus, RefundStatus, AppointmentStatus

#: how a payment reaches each state (each step an edge of ``PAYMENT``; tests/unit/test_factories.py checks it)
PAYMENT_PATHS: dict[PaymentStatus, tuple[PaymentStatus, ...]] = {
    P.CREATED: (P.CREATED,),
    P.PAYING: (P.CREATED, P.PAYING),
    P.CLOSED: (P.CREATED, P.PAYING, P.CLOSED),
    P.PAID: (P.CREATED, P.PAYING, P.PAID),
    P.CONFIRMED: (P.CREATED, P.PAYING, P.PAID, P.CONFIRMED),
    P.CONFIRM_UNKNOWN: (P.CREATED, P.PAYING, P.PAID, P.CONFIRM_UNKNOWN),
    P.CONFIRM_FAILED: (P.CREATED, P.PAYING, P.PAID, P.CONFIRM_FAILED),
    P.REFUNDING: (P.CREATED, P.PAYING, P.PAID, P.CONFIRMED, P.REFUNDING),
    P.PARTIALLY_REFUNDED: (P.CREATED, P.PAYING, P.PAID, P.CONFIRMED, P.REFUNDING, P.PARTIALLY_REFUNDED),
    P.REFUNDED: (P.CREATED, P.PAYING, P.PAID, P.CONFIRMED, P.REFUNDING, P.REFUNDED),
}
#: a refund sent to the channel and what it answered (each step an edge of ``REFUND``)
REFUND_PATHS: dict[RefundStatus, tuple[RefundStatus, ...]] = {
    R.REQUESTED: (R.REQUESTED,),
    R.PROCESSING: (R.REQUESTED, R.PROCESSING),
    R.SUCCESS: (R.REQUESTED, R.PROCESSING, R.SUCCESS),
    R.FAILED: (R.REQUESTED, R.PROCESSING, R.FAILED),
    R.ABNORMAL: (R.REQUESTED, R.PROCESSING, R.ABNORMAL),
}
_PAID_BOOKING = (A.HOLDING, A.PENDING_PAYMENT, A.PAID, A.BOOKED)
#: how an appointment with a fee reaches each state (each step an edge of ``APPOINTMENT``)
APPOINTMENT_PATHS: dict[AppointmentStatus, tuple[AppointmentStatus, ...]] = {
    A.HOLDING: (A.HOLDING,),
    A.LOCK_FAILED: (A.HOLDING, A.LOCK_FAILED),
    A.PENDING_PAYMENT: (A.HOLDING, A.PENDING_PAYMENT),
    A.EXPIRED: (A.HOLDING, A.PENDING_PAYMENT, A.EXPIRED),
    A.PAID: (A.HOLDING, A.PENDING_PAYMENT, A.PAID),
    A.FAILED: (A.HOLDING, A.PENDING_PAYMENT, A.PAID, A.FAILED),
    A.BOOKED: _PAID_BOOKING,
    A.CANCELLED: _PAID_BOOKING + (A.CANCELLED,),
    A.STOPPED: _PAID_BOOKING + (A.STOPPED,),
    A.REFUNDED: _PAID_BOOKING + (A.CANCELLED, A.REFUNDED),
    A.VISITED: _PAID_BOOKING + (A.VISITED,),
    A.NO_SHOW: _PAID_BOOKING + (A.NO_SHOW,),
}
#: a zero-fee slice is confirmed at once: no cashier, no money
FREE_APPOINTMENT_PATHS = {s: (A.HOLDING,) + p[p.index(A.BOOKED):] for s, p in APPOINTMENT_PATHS.items()
                          if A.BOOKED in p and A.REFUNDED not in p}
FREE_APPOINTMENT_PATHS.update({A.HOLDING: (A.HOLDING,), A.LOCK_FAILED: (A.HOLDING, A.LOCK_FAILED)})
#: the registration fee's payment beside an appointment in each state: (its path, the refund it carries)
REGISTRATION_PAYMENT: dict[AppointmentStatus, tuple[tuple[PaymentStatus, ...], RefundStatus | None]] = {
    A.PENDING_PAYMENT: (PAYMENT_PATHS[P.PAYING], None),
    A.EXPIRED: (PAYMENT_PATHS[P.CLOSED], None),
    A.PAID: (PAYMENT_PATHS[P.PAID], None),
    A.BOOKED: (PAYMENT_PATHS[P.CONFIRMED], None),
    A.VISITED: (PAYMENT_PATHS[P.CONFIRMED], None),
    A.NO_SHOW: (PAYMENT_PATHS[P.CONFIRMED], None),
    # the HIS refused the paid order: the fee is on its way back
    A.FAILED: (PAYMENT_PATHS[P.CONFIRM_FAILED] + (P.REFUNDING,), R.PROCESSING),
    A.CANCELLED: (PAYMENT_PATHS[P.REFUNDING], R.PROCESSING),
    A.STOPPED: (PAYMENT_PATHS[P.REFUNDING], R.PROCESSING),
    A.REFUNDED: (PAYMENT_PATHS[P.REFUNDED], R.SUCCESS),
}
DESCRIPTIONS = {"registration": "挂号费", "outpatient": "门诊缴费", "deposit": "住院押金"}
ORDER_PREFIX = {"registration": "GH", "outpatient": "MZ", "deposit": "YJ"}
_SESSION_START = {"am": 8 * 60, "pm": 14 * 60, "evening": 18 * 60}


def _no(prefix: str) -> str:
    """An order number in the platform's shape (prefix, Beijing time, 8 digits), unique in the run."""
    return f"{prefix}{clock.beijing_now():%Y%m%d%H%M%S}{next(_seq):08d}"


def _walk(machine: str, row, path, *, actor: str = ACTOR) -> None:
    """Move ``row`` along ``path`` (from its present state) through the guarded move: each step is an edge of
    the machine's table (IllegalTransition otherwise) and leaves its state_transition row."""
    db.session.flush()
    for src, dst in itertools.pairwise(path):
        assert states.move(machine, row.id, src, dst, actor=actor, reason="factory"), (machine, row.id, src, dst)
    db.session.flush()


def _insert(machine: str, row, first: str, *, actor: str = ACTOR) -> None:
    """Insert ``row`` in its first state with the ``"-" -> first`` transition the commands write."""
    row.status = str(first)
    db.session.add(row)
    db.session.flush()
    db.session.add(StateTransition(order_type=machine, order_id=row.id, from_status="-", to_status=str(first),
                                   actor=actor, reason="factory"))


def channel_user(channel: str = "wechat", **values) -> ChannelUser:
    n = next(_seq)
    user = ChannelUser(channel=channel, channel_uid=values.pop("channel_uid", f"{channel}-uid-{n}-{time.time_ns()}"),
                       nickname=values.pop("nickname", f"患者{n}"), **values)
    db.session.add(user)
    db.session.flush()
    return user


def patient(owner: ChannelUser, **values) -> Patient:
    n = next(_seq)
    row = Patient(owner_id=owner.id, name=values.pop("name", "张晓梅"),
                  id_number=values.pop("id_number", "441781199003151227"), phone=values.pop("phone", "13800138000"),
                  gender=values.pop("gender", "female"), birth_date=values.pop("birth_date", dt.date(1990, 3, 15)),
                  relation=values.pop("relation", "self"), card_no=values.pop("card_no", f"TC{n:08d}"),
                  is_default=values.pop("is_default", True), channel=owner.channel,
                  bound_at=values.pop("bound_at", utcnow()), **values)
    db.session.add(row)
    db.session.flush()
    return row


# -- schedules (号源) -------------------------------------------------------------------------------

def department(name: str = "产科", **values) -> Department:
    row = Department(code=values.pop("code", f"TD{next(_seq):06d}"), name=name, **values)
    db.session.add(row)
    db.session.flush()
    return row


def doctor(dept: Department | None = None, name: str = "李医生", fee_fen: int = 1000, **values) -> Doctor:
    dept = dept or department()
    row = Doctor(code=values.pop("code", f"TDR{next(_seq):06d}"), name=name, department_id=dept.id,
                 fee_fen=fee_fen, **values)
    db.session.add(row)
    db.session.flush()
    return row


def schedule(*, days_ahead: int = 1, half_day: str = "am", fee_fen: int = 1000, slices: int = 1, capacity: int = 2,
             booked: int = 0, doc: Doctor | None = None, status: str = "open", **values) -> Schedule:
    """A doctor's half-day session ``days_ahead`` days after the test clock's Beijing today (or
    ``clinic_date=``), with ``slices`` half-hour slices of ``capacity`` places, ``booked`` of them taken.
    ``status="stopped"`` stops it (停诊) through the guarded move."""
    doc = doc or doctor(fee_fen=fee_fen)
    clinic_date = values.pop("clinic_date", clock.today() + dt.timedelta(days=days_ahead))
    columns = dict(his_schedule_id=f"TS{next(_seq):08d}", doctor_id=doc.id, department_id=doc.department_id,
                   clinic_date=clinic_date, half_day=half_day, fee_fen=fee_fen, synced_at=utcnow())
    columns.update(values, status=states.SessionStatus.OPEN)
    row = Schedule(**columns)
    db.session.add(row)
    db.session.flush()
    for _ in range(slices):
        schedule_slice(row, capacity=capacity, booked=booked)
    if status != states.SessionStatus.OPEN:
        assert states.move("clinic_session", row.id, states.SessionStatus.OPEN, status, actor=ACTOR,
                           reason="停诊", stop_reason="医生停诊", stopped_at=utcnow())
        db.session.flush()
        db.session.refresh(row)
    return row


def schedule_slice(sched: Schedule, *, capacity: int = 2, booked: int = 0, **values) -> ScheduleSlice:
    """The next half-hour slice of ``sched`` (08:00, 08:30 … in the morning; 14:00 afternoon; 18:00 evening)."""
    if not 0 <= booked <= capacity:
        raise ValueError(f"a slice holds 0..{capacity} bookings, not {booked}")
    taken = len(sched.slices)
    start = _SESSION_START[sched.half_day] + 30 * taken
    row = ScheduleSlice(schedule=sched, his_slice_id=values.pop("his_slice_id", f"TSL{next(_seq):08d}"),
                        start_time=values.pop("start_time", f"{start // 60:02d}:{start % 60:02d}"),
                        end_time=values.pop("end_time", f"{(start + 30) // 60:02d}:{(start + 30) % 60:02d}"),
                        capacity=capacity, booked=booked, **values)
    db.session.add(row)
    db.session.flush()
    return row


# -- payments and refunds ------------------------------------------------------------------------------

def _trade_no(channel: str) -> str:
    n = next(_seq)
    return f"4200{clock.beijing_now():%Y%m%d}{n:016d}" if channel == "wechat" else \
        f"{clock.beijing_now():%Y%m%d}2200{n:016d}"


def _payment_columns(path, order_no: str, channel: str, payer_uid: str) -> dict:
    """The columns the commands leave on a payment that went along ``path``."""
    now, reached = utcnow(), set(path)
    columns: dict = {"expires_at": now + dt.timedelta(minutes=15)}
    if P.PAYING in reached:
        columns["payer_uid"] = payer_uid
    if P.CLOSED in reached:
        columns.update(expires_at=now - dt.timedelta(minutes=1), closed_at=now)
    if P.PAID in reached:
        columns.update(paid_at=now, channel_trade_no=_trade_no(channel), next_his_attempt_at=now)
    if P.CONFIRMED in reached:
        columns.update(his_attempts=1, his_receipt_no=f"R{order_no[-10:]}", next_his_attempt_at=None)
    elif P.CONFIRM_FAILED in reached:
        columns.update(his_attempts=1, his_error="医院系统未能确认", next_his_attempt_at=None)
    elif P.CONFIRM_UNKNOWN in reached:
        columns.update(his_attempts=1, his_error="医院系统未应答", flag="his_unknown",
                       next_his_attempt_at=now + dt.timedelta(minutes=10))
    return columns


def payment_order(owner_patient: Patient, kind: str = "outpatient", status: str = "created", amount_fen: int = 2350,
                  *, path=None, refund_values: dict | None = None, with_refund: bool = True,
                  **values) -> PaymentOrder:
    """A payment order of ``owner_patient`` (its owner and channel) in ``status``, ``amount_fen`` in fen.

    It goes the usual way (``PAYMENT_PATHS``) or along ``path``. Paid and later: ``paid_at`` and a
    ``channel_trade_no``; confirmed: the HIS's receipt; closed: past its deadline. In REFUNDING,
    PARTIALLY_REFUNDED and REFUNDED it carries the refund that put it there (made by ``refund``: in
    flight for the whole amount, succeeded for half, succeeded for all; ``refund_values`` change it),
    unless ``with_refund=False`` (the test adds its own refunds, or wants none).
    """
    if kind not in PAYMENT_KINDS:
        raise ValueError(f"unknown payment kind {kind!r}")
    if not isinstance(amount_fen, int) or amount_fen <= 0:
        raise ValueError(f"money is a positive number of fen, not {amount_fen!r}")
    status = P(status)
    path = tuple(P(s) for s in (path or PAYMENT_PATHS[status]))
    if path[0] != P.CREATED or path[-1] != status:
        raise ValueError(f"a payment's path runs from created to {status}: {path}")
    base = path
    if P.REFUNDING in path and with_refund:
        base = path[:path.index(P.REFUNDING)]  # the refund moves it on
    order_no = values.pop("order_no", _no(ORDER_PREFIX[kind]))
    channel = values.pop("channel", owner_patient.channel)
    owner = db.session.get(ChannelUser, owner_patient.owner_id)
    columns = dict(order_no=order_no, kind=kind, owner_id=owner_patient.owner_id, patient_id=owner_patient.id,
                   channel=channel, amount_fen=amount_fen, description=DESCRIPTIONS[kind])
    columns.update(_payment_columns(base, order_no, channel, owner.channel_uid))
    columns.update(values)
    row = PaymentOrder(**columns)
    _insert("payment", row, P.CREATED)
    _walk("payment", row, base)
    if base != path:
        extra = dict(refund_values or {})
        refund_status = extra.pop("status", R.PROCESSING if status == P.REFUNDING else R.SUCCESS)
        amount = extra.pop("amount_fen", amount_fen // 2 if status == P.PARTIALLY_REFUNDED else amount_fen)
        refund(row, refund_status, amount_fen=amount, **extra)
        db.session.refresh(row)
        if row.status != status:
            raise ValueError(f"a {refund_status} refund of {amount} fen leaves the payment {row.status}, not {status}")
    db.session.refresh(row)
    return row


def refund(payment: PaymentOrder, status: str = "success", amount_fen: int | None = None, **values) -> Refund:
    """A refund of ``payment`` (default: all that is not yet refunded or reserved) in ``status``, and its
    payment moved as the refund commands move it: the amount reserved on ``refunded_fen`` while in flight
    or paid out (released when it failed), the payment REFUNDING while any refund is in flight, then
    REFUNDED, PARTIALLY_REFUNDED or back where it was. Refuses a payment with no money in, or more than
    what is left."""
    db.session.flush()
    db.session.refresh(payment)
    status = R(status)
    if payment.status not in REFUNDABLE:
        raise ValueError(f"a {payment.status} payment cannot be refunded")
    amount = payment.amount_fen - payment.refunded_fen if amount_fen is None else amount_fen
    if amount <= 0 or payment.refunded_fen + amount > payment.amount_fen:
        raise ValueError(f"{amount} fen is more than the {payment.amount_fen - payment.refunded_fen} left to refund")
    now = utcnow()
    columns: dict = {"requested_by": "staff:finance", "reason": "患者要求退款"}
    if status != R.REQUESTED:
        columns.update(attempts=1, channel_refund_no=f"50{next(_seq):018d}")
    if status == R.SUCCESS:
        columns["succeeded_at"] = now
    elif status == R.FAILED:
        columns["failure_reason"] = "渠道关闭了退款"
    elif status == R.ABNORMAL:
        columns["failure_reason"] = "ABNORMAL"
    columns.update(values)
    row = Refund(**{"refund_no": _no("TK"), "payment_id": payment.id, "amount_fen": amount, **columns})
    # the reservation and the payment's move to REFUNDING, as request_refund does them
    payment.refunded_fen += amount
    if payment.status != P.REFUNDING:
        _walk("payment", payment, (payment.status, decide_payment(payment, PaymentEvent.REFUND_REQUESTED)))
    _insert("refund", row, R.REQUESTED)
    _walk("refund", row, REFUND_PATHS[status])
    if status == R.FAILED:  # the channel's final "no": the reservation is released
        db.session.refresh(payment)
        payment.refunded_fen -= amount
    db.session.flush()
    db.session.refresh(payment)
    in_flight = db.session.scalar(select(func.count()).select_from(Refund).where(
        Refund.payment_id == payment.id, Refund.status.in_([str(s) for s in REFUND_IN_FLIGHT])))
    if not in_flight:  # settled: REFUNDED, PARTIALLY_REFUNDED, or back to what the HIS said
        paid_back = db.session.scalar(select(func.coalesce(func.sum(Refund.amount_fen), 0)).where(
            Refund.payment_id == payment.id, Refund.status == R.SUCCESS))
        target = decide_payment(payment, PaymentEvent.REFUNDS_SETTLED, refunded_fen=int(paid_back))
        _walk("payment", payment, (P.REFUNDING, target))
    db.session.refresh(row)
    return row


def bill_payment(payment: PaymentOrder, items=((1, 980),), *, status: str = "settled", **values) -> BillPayment:
    """One HIS bill inside an outpatient ``payment``: ``items`` are (quantity, unit price in fen); settled
    bills have their receipt."""
    amount = sum(q * price for q, price in items)
    columns: dict = {"bill_no": f"B{next(_seq):09d}", "card_no": payment.patient.card_no, "amount_fen": amount}
    if status == "settled":
        columns.update(receipt_no=f"PJ{next(_seq):010d}", settled_at=utcnow())
    elif status == "refused":
        columns["his_error"] = "医院系统拒绝结算"
    columns.update(values)
    row = BillPayment(payment_id=payment.id, status=status, **columns)
    db.session.add(row)
    db.session.flush()
    for seq, (quantity, price) in enumerate(items, 1):
        db.session.add(BillPaymentItem(bill_payment_id=row.id, item_seq=seq, quantity=quantity, unit_price_fen=price))
    db.session.flush()
    return row


# -- appointments (预约挂号) ------------------------------------------------------------------------

def appointment_order(owner_patient: Patient, status: str = "booked", *, slc: ScheduleSlice | None = None,
                      with_payment: bool = True, **values) -> AppointmentOrder:
    """An appointment of ``owner_patient`` for ``slc`` (default: a new session tomorrow) in ``status``.

    A live, visited or no-show order holds its place in the slice (``booked`` + 1; a full slice is
    refused, as the booking's guarded UPDATE refuses it) and a live one its ``active_key``. With a fee,
    the registration payment stands beside it in the matching state (``REGISTRATION_PAYMENT``: booked ->
    confirmed, cancelled -> refunding, refunded -> refunded …) unless ``with_payment=False``; a zero-fee
    order is confirmed at once, without one.
    """
    status = A(status)
    slc = slc or schedule().slices[0]
    sched = slc.schedule
    fee = values.pop("fee_fen", sched.fee_fen)
    paths = APPOINTMENT_PATHS if fee else FREE_APPOINTMENT_PATHS
    if status not in paths:
        raise ValueError(f"a {'paid' if fee else 'free'} appointment is never {status}")
    path = paths[status]
    holds_place = status in APPOINTMENT_LIVE or status in ATTENDANCE
    if holds_place:
        db.session.refresh(slc)
        if slc.booked >= slc.capacity:
            raise ValueError(f"slice {slc.id} is full ({slc.booked}/{slc.capacity})")
        slc.booked += 1
    now = utcnow()
    order_no = values.pop("order_no", _no("YY"))
    columns: dict = {"registration_kind": "advance",
                     "active_key": f"{owner_patient.id}:{sched.id}" if status in APPOINTMENT_LIVE else None}
    if A.PENDING_PAYMENT in path or (fee == 0 and A.BOOKED in path):
        columns.update(his_lock_id=f"L{order_no[-12:]}", expires_at=now + dt.timedelta(minutes=15))
    if A.PAID in path:
        columns["paid_at"] = now
    if A.BOOKED in path:
        columns.update(his_visit_no=f"V{order_no[-10:]}", queue_no=f"{next(_seq) % 100:02d}",
                       location=f"门诊楼二楼 {sched.department.name}", confirmed_at=now)
    if A.CANCELLED in path:
        columns.update(cancelled_at=now, cancel_reason="行程有变")
    elif A.STOPPED in path:
        columns.update(cancelled_at=now, cancel_reason="停诊：医生停诊")
    if A.VISITED in path:
        columns["attended_at"] = now
    columns.update(values)
    row = AppointmentOrder(**{**dict(
        order_no=order_no, owner_id=owner_patient.owner_id, patient_id=owner_patient.id, channel=owner_patient.channel,
        schedule_id=sched.id, slice_id=slc.id, department_id=sched.department_id, doctor_id=sched.doctor_id,
        clinic_date=sched.clinic_date, half_day=sched.half_day, start_time=slc.start_time, end_time=slc.end_time,
        fee_fen=fee), **columns})
    _insert("appointment", row, A.HOLDING)
    _walk("appointment", row, path)
    if fee and with_payment and status in REGISTRATION_PAYMENT:
        pay_path, refund_status = REGISTRATION_PAYMENT[status]
        extra = {"paid_at": row.paid_at} if A.PAID in path else {}
        payment_order(owner_patient, kind="registration", status=pay_path[-1], amount_fen=fee, path=pay_path,
                      appointment_id=row.id, business_ref=row.order_no,
                      refund_values={"status": refund_status} if refund_status else None, **extra)
    db.session.refresh(row)
    return row


# -- reconciliation (对账) ------------------------------------------------------------------------------

def reconciliation_run(channel: str = "wechat", bill_date: dt.date | None = None, **values) -> ReconciliationRun:
    """A finished run of ``channel``'s bill for ``bill_date`` (default: the test clock's yesterday)."""
    columns: dict = {"status": "done", "progress": 100, "finished_at": utcnow()}
    columns.update(values)
    row = ReconciliationRun(channel=channel, bill_date=bill_date or clock.today() - dt.timedelta(days=1), **columns)
    db.session.add(row)
    db.session.flush()
    return row


def reconciliation_item(run: ReconciliationRun, kind: str = "channel_only", order_no: str | None = None,
                        **values) -> ReconciliationItem:
    """One difference of ``run``; the channel's trade number follows the order number."""
    order_no = order_no or _no("MZ")
    row = ReconciliationItem(run_id=run.id, kind=kind, order_no=order_no,
                             channel_trade_no=values.pop("channel_trade_no", f"T{order_no}"), **values)
    db.session.add(row)
    db.session.flush()
    return row


@contextmanager
def public_urls(app, base: str):
    """PUBLIC_BASE_URL and SANDBOX_BASE_URL point at ``base`` inside the block, as configured after it
    (the payment channels, built from them, are rebuilt both times)."""
    old = {k: app.config[k] for k in ("PUBLIC_BASE_URL", "SANDBOX_BASE_URL")}
    app.config.update(PUBLIC_BASE_URL=base, SANDBOX_BASE_URL=f"{base}/sandbox")
    app.extensions.pop("payment_channels", None)
    try:
        yield base
    finally:
        app.config.update(old)
        app.extensions.pop("payment_channels", None)


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.1):
    """Poll until ``predicate()`` is truthy (asynchronous channel notifications); returns its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def session_for(user: ChannelUser) -> dict:
    """The session a channel login leaves behind (see h5/auth.login_user)."""
    from app.security.sessions import PATIENT_EPOCH, PATIENT_SINCE
    from h5.auth import ACTIVE_KEY, SESSION_KEY

    now = utcnow().isoformat()
    return {SESSION_KEY: user.id, ACTIVE_KEY: now, PATIENT_SINCE: now, PATIENT_EPOCH: user.session_epoch or 0,
            "_permanent": True}


def login(client, user: ChannelUser) -> None:
    """Sign a test client in as ``user`` (what the channel's OAuth does, without the channel)."""
    with client.session_transaction() as session:
        session.update(session_for(user))


def login_browser(context, app, base_url: str, user: ChannelUser) -> None:
    """Give a Playwright browser context the signed session cookie of ``user``."""
    serializer = app.session_interface.get_signing_serializer(app)
    context.add_cookies([{"name": app.config.get("SESSION_COOKIE_NAME", "session"),
                          "value": serializer.dumps(session_for(user)), "url": base_url}])


def his_signed_post(app, client, path: str, payload, *, secret=None, timestamp=None, nonce=None,
                    raw: bytes | None = None):
    """POST to the platform's HIS API signed as the HIS would (or with a wrong secret, an old timestamp,
    a reused nonce); returns (response, headers, body) so a test can replay exactly the same call."""
    import json

    from app.services.signing import signed_headers

    body = raw if raw is not None else json.dumps(payload, ensure_ascii=False).encode()
    headers = signed_headers(app.config["HIS_EVENT_APP_ID"], secret or app.config["HIS_EVENT_SECRET"], "POST", path,
                             body, nonce=nonce, timestamp=timestamp)
    return client.post(path, data=body, headers=headers), headers, body


def his_signed_get(app, client, path: str, *, secret=None):
    from app.services.signing import signed_headers

    headers = signed_headers(app.config["HIS_EVENT_APP_ID"], secret or app.config["HIS_EVENT_SECRET"], "GET", path, b"")
    return client.get(path, headers=headers)


def stay_with_balance(his, card_no: str, balance_fen: int):
    """Arrange ``card_no``'s stay in the HIS simulator so it reports exactly ``balance_fen`` (negative:
    补缴 is due): its days are charged through today, as the ward has done by now, then one charge or one
    deposit at the window makes up the difference. Tests assert what they set here, never what the seed's
    date happened to draw. Returns the stay as the HIS reports it."""
    from sqlalchemy import select

    from app import clock
    from doubles.his.simulator.gateway import next_number
    from doubles.his.simulator.models import CostItemRow, DepositRow, StayRow
    from doubles.his.simulator.seed import post_stay_costs

    stay = his.inpatient_stay(card_no)
    with his.unit() as s:
        row = s.get(StayRow, stay.inpatient_no)
        post_stay_costs(s, row, (row.discharged_at or clock.beijing_now()).date())
    gap = his.inpatient_stay(card_no).balance_fen - balance_fen
    with his.unit() as s:
        if gap > 0:  # more deposit than wanted: the ward posts one more charge today
            day = clock.today()
            seq = len(s.scalars(select(CostItemRow.id).where(CostItemRow.inpatient_no == stay.inpatient_no,
                                                             CostItemRow.day == day)).all()) + 1
            s.add(CostItemRow(inpatient_no=stay.inpatient_no, day=day, seq=seq, name="注射用头孢呋辛钠",
                              category="西药费", quantity=1, unit_price_fen=gap, amount_fen=gap))
        elif gap < 0:  # less than wanted: a deposit at the window
            number = next_number(s, "deposit")
            s.add(DepositRow(deposit_no=f"D{number:09d}", inpatient_no=stay.inpatient_no, amount_fen=-gap,
                             paid_at=clock.beijing_now().replace(microsecond=0), trade_no=f"TEST-DEP-{number}",
                             channel="window"))
    arranged = his.inpatient_stay(card_no)
    assert arranged.balance_fen == balance_fen, arranged
    return arranged
