"""Registration's use cases, each one command in its own unit of work (no commit anywhere else).

Holding a place is two guards, each refusing on its own: first the platform's slot counter
(``UPDATE schedule_slice SET booked = booked + 1 WHERE id = :id AND booked < capacity``, a CHECK
constraint behind it), then the HIS lock. The cheap database guard runs first, so a crowd racing for
a hot doctor is turned away by one UPDATE without reaching the HIS. Every place taken is given back
exactly once: only the guarded state move that ends an order (``_end``) releases it. No HIS call is
made while a row is locked: the HIS is asked between units of work, or told afterwards by an outbox row.

The booking walk: ``book`` = ``hold_slot`` → ``lock_at_his`` → ``open_cashier`` (or ``confirm_free``).
Then CancelBooking (``cancel_by_patient``, ``cancel_by_staff``), StopClinic (``stop_clinic``), the payment
core's side (``RegistrationKind``: paid, confirmed at the HIS, expired, refused, refunded), attendance
(``sweep_attendance``, ``mark_attendance_by_staff``), reminders and housekeeping, 诊前签到 and 叫号提醒.
Every move goes through ``states.decide`` and the guarded move."""

from __future__ import annotations

import datetime as dt
import functools
import logging
import time
from dataclasses import dataclass, field

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import bindparam, func, or_, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import joinedload

from app import clock, outbox
from app.extensions import db
from app.his.errors import HisBusinessError, HisError, HisUnavailable, ScheduleStopped, SlotFull
from app.his.errors import NotFound as HisNotFound
from app.his.interface import LOCK_MINUTES, SlotLock
from app.links import patient_url
from app.models import (
    AppointmentOrder,
    CheckIn,
    Notification,
    Patient,
    PaymentOrder,
    Refund,
    Schedule,
    ScheduleSlice,
)
from app.models.base import new_order_no, utcnow
from app.operations.metrics import SLOT_HOLD_SECONDS
from app.registration import rules
from app.registration.notices import guidance, notify_attendance, notify_booked, notify_stopped
from app.registration.queries import booking_facts, describe_names, owned_order, payment_of
from app.registration.rules import (
    HALF_DAY_NAMES,
    WHAT_TO_BRING,
    BookingBlocked,
    SlotTaken,
    blocking_order,
    can_cancel,
    check_patient_limits,
    check_restrictions,
    hospital_now,
    no_show_since,
    registration_kind,
    session_over_at,
    slot_start,
)
from app.registration.states import ATTENDANCE, LIVE, STOPPABLE, decide
from app.registration.states import AppointmentEvent as E
from app.registration.states import AppointmentStatus as A
from app.services import audit, states
from app.payments import commands as payments
from app.services.states import PaymentStatus, SessionEvent, SessionStatus, decide_session
from app.services.errors import Conflict, DomainError, NotFound, Unavailable
from app.services.formatting import mask_name, yuan
from app.services.his_access import his_gateway, his_refusal
from app.messages.notifications import notify
from app.services.settings import BookingRules, _bool, _int, _raw, booking_rules, setting_text
from app.services import uow
from app.services.uow import outermost, unit_of_work
from app.identity.states import PatientStatus
from app.services.states import NO_STATE

log = logging.getLogger("booking")  # check-in and the queue reminder log here too


#: 阳春市妇幼保健院 (the demo hospital): the setting ``hospital.location`` "latitude,longitude" replaces it


@dataclass(frozen=True)
class CheckInRules:
    before_minutes: int = 60        # checkin.before_minutes: opens N minutes before the slice [60]
    location_check: bool = False    # checkin.location_check: require being near the hospital [0]
    max_distance_m: int = 1000      # checkin.max_distance_m [1000]
    hospital: tuple[float, float] = (22.1707, 111.7913)  # hospital.location "lat,lng"


def checkin_rules() -> CheckInRules:
    values = _raw("checkin.")
    d = CheckInRules()
    try:
        lat, lng = (float(p) for p in setting_text("hospital.location").split(","))
    except ValueError:
        log.error("setting hospital.location is not 'lat,lng'; using the default")
        lat, lng = d.hospital
    return CheckInRules(before_minutes=_int(values, "checkin.before_minutes"),
                        location_check=_bool(values, "checkin.location_check"),
                        max_distance_m=_int(values, "checkin.max_distance_m"),
                        hospital=(lat, lng))


def checkin_of(order_id: int) -> CheckIn | None:
    return db.session.scalar(select(CheckIn).where(CheckIn.appointment_id == order_id))


def can_check_in(order: AppointmentOrder, now: dt.datetime | None = None,
                 rules_: CheckInRules | None = None) -> bool:
    if order.status != A.BOOKED or checkin_of(order.id) is not None:
        return False
    rules_ = rules_ or checkin_rules()
    opens, closes = rules.checkin_window(order.clinic_date, order.start_time, order.end_time, rules_.before_minutes)
    return opens <= (now or clock.beijing_now()) < closes


def _coordinate(value: object, low: float, high: float) -> float | None:
    try:
        number = float(str(value))
    except (TypeError, ValueError):
        return None
    return number if low <= number <= high else None


def check_in(owner_id: int, order_id: int | str, latitude: object = None, longitude: object = None) -> CheckIn:
    """诊前签到 from the order page: a booked order, on its clinic day from ``checkin.before_minutes``
    before its slice until the slice ends, near the hospital when ``checkin.location_check`` is on. The
    HIS checks the registration in and gives the queue number. Idempotent; every refusal says why and
    changes nothing. No row lock is held while the HIS is asked."""
    order = owned_order(owner_id, order_id)
    done = checkin_of(order.id)
    if done is not None:
        return done
    if order.status != A.BOOKED:
        raise DomainError(_("只有预约成功的订单可以签到"), code="not_booked")
    settings, now = checkin_rules(), clock.beijing_now()
    opens, closes = rules.checkin_window(order.clinic_date, order.start_time, order.end_time, settings.before_minutes)
    if not opens <= now < closes:
        raise DomainError(_("签到时间为就诊当天 %(opens)s 至 %(closes)s，请在此时间内签到",
                            opens=opens.strftime("%H:%M"), closes=closes.strftime("%H:%M")), code="outside_window")
    distance = None
    if settings.location_check:
        lat, lng = _coordinate(latitude, -90, 90), _coordinate(longitude, -180, 180)
        if lat is None or lng is None:
            raise DomainError(_("请允许获取您的位置后再签到"), code="location_required")
        distance = rules.distance_m(lat, lng, *settings.hospital)
        if distance > settings.max_distance_m:
            raise DomainError(_("您距离医院约 %(km)s 公里，请到达医院（%(m)s 米内）后再签到",
                                km=f"{distance / 1000:.1f}", m=settings.max_distance_m), code="too_far")
    try:
        answer = his_gateway().check_in(order.his_lock_id or "", order.order_no)
    except HisUnavailable as exc:
        raise Unavailable(_("医院系统暂时无法连接，请稍后再试")) from exc
    except HisBusinessError as exc:
        log.warning("HIS refused check-in order=%s: %s", order.order_no, exc)
        raise DomainError(_("医院系统未能签到，请到分诊台签到"), code="his_refused") from exc
    with unit_of_work():
        row = CheckIn(appointment_id=order.id, checked_in_at=clock.to_utc(answer.checked_in_at),
                      queue_no=answer.queue_no or order.queue_no or "-", location=answer.location or order.location,
                      distance_m=distance)
        db.session.add(row)
    log.info("check-in order=%s queue=%s distance=%s", order.order_no, row.queue_no, distance)
    return row


# -- 叫号提醒 ------------------------------------------------------------------------------------------

def queue_remind_ahead() -> int:
    return _int(_raw("queue."), "queue.remind_ahead")


def cards_in_queues(today: dt.date) -> dict[str, list[Patient]]:
    """Bound cards that may hold a queue ticket today: a booking today (clinic), or a payment today
    (lab, exam and pharmacy tickets follow a paid bill)."""
    start, end = clock.beijing_day_bounds_utc(today)
    booked = select(AppointmentOrder.patient_id).where(AppointmentOrder.clinic_date == today,
                                                      AppointmentOrder.status.in_((A.BOOKED, A.VISITED)))
    paid = select(PaymentOrder.patient_id).where(PaymentOrder.paid_at >= start, PaymentOrder.paid_at < end)
    by_card: dict[str, list[Patient]] = {}
    for patient in db.session.scalars(select(Patient).where(Patient.status == PatientStatus.BOUND,
                                                            or_(Patient.id.in_(booked), Patient.id.in_(paid)))):
        by_card.setdefault(patient.card_no, []).append(patient)
    return by_card


def remind_queue(now: dt.datetime | None = None) -> int:
    """叫号提醒: every ticket of today that is ``queue.remind_ahead`` places (or fewer) from being called gets
    one notice, and one more when it is called; clinic, lab, exam and pharmacy queues alike. A live event,
    sent while the patient is in the hospital, so quiet hours do not hold it back. Returns notices written."""
    now = now or clock.beijing_now()
    ahead_limit = queue_remind_ahead()
    his = his_gateway()
    written = 0
    for card_no, patients in cards_in_queues(now.date()).items():
        try:
            tickets = his.queue_status(card_no)
        except HisNotFound:
            continue
        except HisError as exc:
            log.warning("queue reminder: HIS unavailable (%s); next run", exc)
            return written
        with unit_of_work():
            for ticket in tickets:
                stage = rules.queue_stage(ticket.status, ticket.ahead_count, ahead_limit)
                if stage is None:
                    continue
                for patient in patients:
                    key = f"queue_{stage}:{now.date():%Y%m%d}:{patient.owner_id}:{ticket.area_code}:{ticket.queue_no}"
                    if db.session.scalar(select(Notification.id).where(Notification.dedupe_key == key)):
                        continue
                    if stage == "near":
                        body = _("%(name)s的%(area)s %(no)s 号前面还有 %(ahead)s 人，请回到候诊区准备就诊。",
                                 name=mask_name(patient.name), area=ticket.area_name, no=ticket.queue_no,
                                 ahead=ticket.ahead_count)
                    else:
                        body = _("请 %(name)s 到 %(area)s 就诊/办理，当前叫号 %(no)s。", name=mask_name(patient.name),
                                 area=ticket.area_name, no=ticket.queue_no)
                    notify(patient.owner_id, "queue_reminder", _("叫号提醒"), body, dedupe_key=key,
                           link=patient_url("h5.queue", patient=patient.id),
                           payload={"queue_no": ticket.queue_no, "area": ticket.area_code, "stage": stage})
                    written += 1
    if written:
        log.info("queue reminders written: %s", written)
    return written


def sandbox_locations() -> dict[str, tuple[float, float]] | None:
    """In sandbox mode the check-in page lets a tester stand inside or outside the hospital."""
    if current_app.config.get("OAUTH_MODE") != "sandbox":
        return None
    lat, lng = checkin_rules().hospital
    return {"inside": (lat + 0.0005, lng + 0.0005), "outside": (lat + 0.05, lng + 0.05)}



# -- the walk of a booking: HoldSlot -> the HIS lock -> OpenCashier ------------------------------------

#: a holding order older than this was interrupted between our guard and the HIS lock
STALE_HOLD_SECONDS = 120


class _Lost(Exception):
    """Another process moved the order first: the unit of work rolls back and nothing happened."""


@dataclass(frozen=True)
class BookingResult:
    order_id: int
    payment_order_no: str | None  # None when the slot is free (no payment needed)

    @property
    def order(self) -> AppointmentOrder:
        """The order as it is now (loaded when first read: the booking itself never reads it back)."""
        return db.session.get(AppointmentOrder, self.order_id)


@dataclass(frozen=True)
class HeldSlot:
    """What the hold committed, as plain values (the order row is loaded only by a path that needs it)."""

    order_id: int
    order_no: str
    owner_id: int
    patient_id: int
    card_no: str
    channel: str
    his_slice_id: str
    fee_fen: int
    description: str
    pay_minutes: int
    doctor_id: int          # where a patient who lost the slot is sent back to (SlotTaken)
    clinic_date: dt.date

    @property
    def order(self) -> AppointmentOrder:
        return db.session.get(AppointmentOrder, self.order_id)


def book(owner_id: int, patient_id: int | str, slice_id: int | str, *, doctor_id: int | None = None,
         clinic_date: dt.date | None = None, expected_fee_fen: int | None = None,
         rebooked_from_id: int | None = None) -> BookingResult:
    """The booking POST: hold the slot (``hold_slot``), lock it at the HIS with no row locked
    (``lock_at_his``), then open the cashier (``open_cashier``), or confirm a free slice at once
    (``confirm_free``). Each step is its own unit of work; a failed lock gives the place back.

    Refuses, with a translated message and without changing anything: another account's patient
    (404), a slice of another doctor or date than the page showed, a past or unreleased slice, a
    stopped clinic, a changed fee, department restrictions, the per-patient limits. A lost race
    raises ``SlotTaken`` (号源已被约满).
    """
    outermost("booking")  # inside another unit of work the hot slice row would stay locked over the HIS call
    held = hold_slot(owner_id, patient_id, slice_id, doctor_id=doctor_id, clinic_date=clinic_date,
                     expected_fee_fen=expected_fee_fen, rebooked_from_id=rebooked_from_id)
    lock = lock_at_his(held)
    if held.fee_fen == 0:
        return BookingResult(confirm_free(held.order, lock.lock_id).id, None)
    return open_cashier(held, lock)


_ORDER_INSERT = AppointmentOrder.__table__.insert()


def hold_slot(owner_id: int, patient_id: int | str, slice_id: int | str, *, doctor_id: int | None = None,
              clinic_date: dt.date | None = None, expected_fee_fen: int | None = None,
              rebooked_from_id: int | None = None) -> HeldSlot:
    """HoldSlot: check every rule, then create the ``holding`` order and take the place in one unit of
    work whose guarded UPDATE is directly followed by its COMMIT.

    Reads the slice, the patient (with the account's channel) and the patient's orders counted for the
    limits in one statement (``booking_facts``), and writes the order and its first transition as Core
    INSERTs: nothing in the request reads them back as ORM rows."""
    rules = booking_rules()
    now = hospital_now()
    facts = booking_facts(owner_id, patient_id, slice_id, now.date(), no_show_since(now.date(), rules))
    slc, patient = facts.slice, facts.patient
    if (doctor_id is not None and slc.doctor_id != doctor_id) or \
            (clinic_date is not None and slc.clinic_date != clinic_date):
        raise DomainError(_("号源与所选医生或日期不符，请重新选择"), code="slot_mismatch")
    if slc.status != SessionStatus.OPEN:
        raise DomainError(_("该医生本时段已停诊，请选择其他医生或时段"), code="stopped")
    if expected_fee_fen is not None and expected_fee_fen != slc.fee_fen:
        raise DomainError(_("挂号费已变化，请重新确认"), code="fee_changed")
    kind = registration_kind(slc.clinic_date, slc.start_time, slc.end_time, now, rules)
    check_restrictions(slc.restrictions, patient, slc.clinic_date)
    check_patient_limits(patient, slc, now.date(), rules, facts.counts)

    # A slice already full as read a moment ago is refused without a statement. Then the order and its
    # first transition are inserted (no lock on the slice: appointment_order has no foreign key to it),
    # and only then the guarded UPDATE takes the hot row, immediately followed by the COMMIT: the row is
    # held for one round trip, however slow this process is. A loser of the race is told by the UPDATE
    # and its inserts are rolled back with the unit of work.
    if slc.booked >= slc.capacity:
        raise SlotTaken(_("号源已被约满，请选择其他时段"), doctor_id=slc.doctor_id, clinic_date=slc.clinic_date)
    order_no = new_order_no("YY")
    try:
        with unit_of_work():
            order_id = uow.execute(_ORDER_INSERT, dict(
                order_no=order_no, owner_id=owner_id, patient_id=patient.id, channel=patient.channel,
                schedule_id=slc.schedule_id, slice_id=slc.id, department_id=slc.department_id,
                doctor_id=slc.doctor_id, clinic_date=slc.clinic_date, half_day=slc.half_day,
                start_time=slc.start_time, end_time=slc.end_time, fee_fen=slc.fee_fen, status=A.HOLDING,
                registration_kind=kind, rebooked_from_id=rebooked_from_id,
                active_key=f"{patient.id}:{slc.schedule_id}")).inserted_primary_key[0]
            states.record("appointment", order_id, NO_STATE, A.HOLDING, actor=f"patient:{owner_id}", reason=kind)
            if not take_place(slc.id):
                raise SlotTaken(_("号源已被约满，请选择其他时段"), doctor_id=slc.doctor_id,
                                clinic_date=slc.clinic_date)
            held_from = time.perf_counter()  # the UPDATE has returned: the row is held until the COMMIT
    except IntegrityError:  # the same patient booked this session in another tab a moment ago
        raise BookingBlocked(_("同一就诊人同一医生同一时段只能预约一个号"), code="duplicate",
                             blocking=blocking_order(patient.id, slc, now.date())) from None
    SLOT_HOLD_SECONDS.observe(time.perf_counter() - held_from)  # the hot row's lock: UPDATE to COMMIT
    return HeldSlot(order_id=order_id, order_no=order_no, owner_id=owner_id, patient_id=patient.id,
                    card_no=patient.card_no, channel=patient.channel, his_slice_id=slc.his_slice_id,
                    fee_fen=slc.fee_fen, description=describe_names(slc.department_name, slc.doctor_name,
                                                                    slc.clinic_date, slc.start_time),
                    pay_minutes=rules.pay_minutes, doctor_id=slc.doctor_id, clinic_date=slc.clinic_date)


def lock_at_his(held: HeldSlot) -> SlotLock:
    """Ask the HIS to lock the held slot (no row is locked here). Any failure gives the place back
    (``release_failed_hold``) before it is reported in the patient's words."""
    try:
        return his_gateway().lock_slot(held.his_slice_id, held.card_no, held.order_no)
    except Exception as exc:
        release_failed_hold(held.order, exc, actor="system:his")
        if isinstance(exc, SlotFull):
            raise SlotTaken(his_refusal(exc), doctor_id=held.doctor_id, clinic_date=held.clinic_date) from exc
        if isinstance(exc, ScheduleStopped):
            raise DomainError(his_refusal(exc), code="stopped") from exc
        if isinstance(exc, HisUnavailable):
            raise Unavailable(_("医院系统暂时无法连接，请稍后再试")) from exc
        if isinstance(exc, HisBusinessError):
            log.warning("HIS refused lock order=%s: %s", held.order_no, exc)
            raise DomainError(his_refusal(exc), code=exc.code) from exc
        raise


def open_cashier(held: HeldSlot, lock: SlotLock) -> BookingResult:
    """OpenCashier: the payment order, with a deadline inside the HIS lock, and holding ->
    pending_payment, in one unit of work; the patient is sent to the cashier with its number."""
    lock_expiry_utc = clock.to_utc(lock.expires_at)  # the HIS speaks Beijing time
    now = utcnow()
    deadline = min(now + dt.timedelta(minutes=held.pay_minutes), lock_expiry_utc - dt.timedelta(minutes=1),
                   now + dt.timedelta(minutes=LOCK_MINUTES))
    with unit_of_work():
        payment_order_no = payments.open_payment_order(
            kind="registration", owner_id=held.owner_id, patient_id=held.patient_id, channel=held.channel,
            amount_fen=held.fee_fen, description=held.description, actor=f"patient:{held.owner_id}",
            business_ref=held.order_no, appointment_id=held.order_id, expires_at=deadline)
        _move(held.order_id, A.HOLDING, E.HIS_LOCKED, actor=f"patient:{held.owner_id}",
              reason=f"HIS lock {lock.lock_id}", his_lock_id=lock.lock_id, expires_at=deadline)
    log.info("booking held order=%s slice=%s patient=%s pay=%s", held.order_no, held.his_slice_id, held.patient_id,
             payment_order_no)
    return BookingResult(held.order_id, payment_order_no)


def confirm_free(order: AppointmentOrder, lock_id: str) -> AppointmentOrder:
    """A zero-fee slice: confirm at the HIS straight away (no row locked), then holding -> booked and the
    patient's notice in one unit of work; a refusal gives the place back and releases the HIS lock."""
    try:
        reg = his_gateway().confirm_registration(lock_id, order.order_no, 0, f"FREE{order.order_no}", order.channel)
    except HisError as exc:
        with unit_of_work():
            db.session.execute(update(AppointmentOrder).where(AppointmentOrder.id == order.id)
                               .values(his_lock_id=lock_id))
            _end(order, A.HOLDING, E.LOCK_FAILED, actor="system:his", reason=f"HIS confirm refused: {exc}"[:255])
        outbox.dispatch()
        raise DomainError(_("医院系统未能确认预约，请稍后再试")) from exc
    with unit_of_work():
        _move(order.id, A.HOLDING, E.FREE_CONFIRMED, actor="system:his", reason="free slot confirmed",
              his_lock_id=lock_id, his_visit_no=reg.visit_no, queue_no=reg.queue_no, location=reg.location,
              guidance=guidance(reg.guidance), confirmed_at=utcnow())
        db.session.refresh(order)
        notify_booked(order)
    return order


# -- the guarded moves, and the one way an order ends ----------------------------------------------

def _move(order_id: int, source: str, event: str, *, actor: str, reason: str | None = None, **values) -> bool:
    """``decide`` where the event takes the order, and save it through the guarded move (False: another
    process moved it first). The caller's unit of work commits."""
    return states.move("appointment", order_id, source, decide(source, event), actor=actor, reason=reason,
                       **values)


def take_place(slice_id: int) -> bool:
    """Take one place in a slice if one is left; False when it is full (the guard is in the database).

    A Core UPDATE built once: the hot row is locked from this statement to the COMMIT, so nothing is
    flushed before it and nothing is built after it (the caller flushes what it added first)."""
    return uow.execute(_take_place_statement(), {"slice_id": slice_id}).rowcount == 1


@functools.cache
def _take_place_statement():
    s = ScheduleSlice.__table__
    return s.update().where(s.c.id == bindparam("slice_id"), s.c.booked < s.c.capacity).values(booked=s.c.booked + 1)


def release_place(slice_id: int) -> None:
    """Give one place back (called only by the guarded move that ended an order)."""
    db.session.execute(
        update(ScheduleSlice).where(ScheduleSlice.id == slice_id, ScheduleSlice.booked > 0)
        .values(booked=ScheduleSlice.booked - 1).execution_options(synchronize_session=False))


def _end(order: AppointmentOrder, source: str, event: str, *, actor: str, reason: str,
         his_cancel: bool = True, his_release: str | None = None, **values) -> bool:
    """Move an order out of the live states and give its place back, once; the caller's unit of work commits.

    The HIS lock or registration is cancelled too, but never from here: this transaction holds the
    slice row's lock. An outbox row is written with the move, and the call is made after the commit
    (``outbox.dispatch()`` by the caller, else the minute's sweep). ``his_release``: the HIS may hold a
    lock under the order number whose answer was lost; it is released with this reason.
    """
    target = decide(source, event)
    if not states.move("appointment", order.id, source, target, actor=actor, reason=reason[:255],
                       active_key=None, **values):
        return False
    release_place(order.slice_id)
    if his_cancel and order.his_lock_id:  # written first: dispatched before the offer of the freed place
        outbox.add("his.cancel_registration", order.order_no,
                   {"lock_id": order.his_lock_id, "order_no": order.order_no, "reason": reason[:255]})
    if his_release:
        outbox.add("his.release_lock", order.order_no, {"order_no": order.order_no, "reason": his_release})
    from app.waitlist.commands import on_order_ended  # 候补: the freed place goes to the next waiting patient

    on_order_ended(order, target)
    return True


def lock_failed(order: AppointmentOrder, exc: BaseException, *, actor: str) -> bool:
    """The HIS lock of a ``holding`` order failed: give the place back and, unless the HIS refused (a
    definite answer), release at the HIS whatever lock it may hold under the order number (its answer
    was lost). The caller's unit of work commits, then the caller runs ``outbox.dispatch()``."""
    return _end(order, A.HOLDING, E.LOCK_FAILED, actor=actor, reason=f"HIS lock refused: {exc}"[:255],
                his_cancel=False, his_release=None if isinstance(exc, HisBusinessError) else "锁号应答丢失，释放号源")


def release_failed_hold(order: AppointmentOrder, exc: BaseException, *, actor: str) -> bool:
    """ReleaseFailedHold: ``lock_failed`` in its own unit of work, then the HIS is told after the commit."""
    with unit_of_work():
        released = lock_failed(order, exc, actor=actor)
    outbox.dispatch()
    return released


def _cancel_at_his(task: dict) -> None:
    """Release the HIS lock or cancel the registration of an order that ended here (idempotent)."""
    his_gateway().cancel_registration(task["lock_id"], task["order_no"], task.get("reason", ""))


def _release_at_his(task: dict) -> None:
    """Give back a lock the HIS may hold under an order number whose lock answer was lost (idempotent)."""
    his_gateway().release_lock(task["order_no"], task.get("reason", ""))


def register_outbox_kinds() -> None:
    """Called by ``create_app`` (not on import): the HIS calls an ended order leaves behind."""
    outbox.handler("his.cancel_registration")(_cancel_at_his)
    outbox.handler("his.release_lock")(_release_at_his)


# -- the payment core's view of a registration (ConfirmRegistration) ----------------------------------

def _appointment_of(payment: PaymentOrder) -> AppointmentOrder:
    order = db.session.get(AppointmentOrder, payment.appointment_id)
    if order is None:
        raise LookupError(f"payment {payment.order_no} has no appointment")
    return order


class RegistrationKind:
    """What registration does around the money (plugged into app.payments.commands, whose units of work
    commit each step)."""

    def prepare(self, payment: PaymentOrder) -> None:
        """The money arrived: the booking is paid (committed by the core before the HIS is called)."""
        order = _appointment_of(payment)
        if order.status == A.PENDING_PAYMENT:
            _move(order.id, A.PENDING_PAYMENT, E.PAID, actor="system:payment", reason=f"paid {payment.order_no}",
                  paid_at=payment.paid_at)

    def confirm(self, payment: PaymentOrder) -> payments.ConfirmOutcome:
        order = _appointment_of(payment)
        db.session.refresh(order)
        if order.status != A.PAID or order.schedule.status == SessionStatus.STOPPED:
            # cancelled or stopped while the patient was paying: the core refunds in full
            raise ScheduleStopped(f"appointment is {order.status}, schedule {order.schedule.status}")
        reg = his_gateway().confirm_registration(order.his_lock_id or "", order.order_no, payment.amount_fen,
                                                 payment.channel_trade_no or "", payment.channel)
        return payments.ConfirmOutcome(receipt_no=reg.visit_no, guidance=tuple(guidance(reg.guidance).split("\n")),
                                       extra={"visit_no": reg.visit_no, "queue_no": reg.queue_no,
                                              "location": reg.location})

    def on_confirmed(self, payment: PaymentOrder, outcome: payments.ConfirmOutcome) -> None:
        order = _appointment_of(payment)
        if _move(order.id, A.PAID, E.HIS_CONFIRMED, actor="system:his", reason="HIS confirmed",
                 his_visit_no=outcome.extra.get("visit_no"), queue_no=outcome.extra.get("queue_no"),
                 location=outcome.extra.get("location"), guidance="\n".join(outcome.guidance) or None,
                 confirmed_at=utcnow()):
            db.session.refresh(order)
            notify_booked(order)

    def on_closed(self, payment: PaymentOrder) -> None:
        order = _appointment_of(payment)
        _end(order, A.PENDING_PAYMENT, E.EXPIRE, actor="system:deadline", reason="unpaid past deadline")

    def on_confirm_failed(self, payment: PaymentOrder, reason: str) -> None:
        order = _appointment_of(payment)
        if order.status == A.PENDING_PAYMENT:  # the move to paid was rolled back with the refusal
            _move(order.id, A.PENDING_PAYMENT, E.PAID, actor="system:payment", reason=f"paid {payment.order_no}",
                  paid_at=payment.paid_at)
        stopped = order.schedule.status == SessionStatus.STOPPED
        if not _end(order, A.PAID, E.STOP if stopped else E.HIS_REFUSED, actor="system:his", reason=reason):
            return
        db.session.refresh(order)
        if stopped:
            notify_stopped(order, order.schedule.stop_reason or "停诊", paid=True)
        else:
            notify(order.owner_id, "booking_failed", "预约未成功",
                   f"您预约的 {order.clinic_date:%Y-%m-%d} {order.start_time} {order.doctor.name}医生号源未能在医院"
                   f"确认，挂号费将原路退回。", dedupe_key=f"failed:{order.order_no}",
                   link=patient_url("h5.booking_order", order_id=order.id), payload={"order_no": order.order_no})

    def on_refunded(self, payment: PaymentOrder, refund: Refund) -> None:
        order = _appointment_of(payment)
        for source in (A.CANCELLED, A.STOPPED, A.FAILED):
            if _move(order.id, source, E.REFUND, actor="system:refund", reason=f"refund {refund.refund_no}"):
                break
        notify(order.owner_id, "refund_success", "退费成功",
               f"您预约的 {order.clinic_date:%Y-%m-%d} {order.start_time} 挂号费 ¥{yuan(refund.amount_fen)} "
               f"已原路退回，请注意查收。", dedupe_key=f"refund:{refund.refund_no}",
               link=patient_url("h5.booking_order", order_id=order.id),
               payload={"order_no": order.order_no, "refund_no": refund.refund_no})

    def result_url(self, payment: PaymentOrder) -> str:
        return patient_url("h5.booking_order", order_id=payment.appointment_id)




# -- cancelling (CancelBooking) -----------------------------------------------------------------------

#: a payment the patient has not paid yet: closed at the channel before the booking is cancelled
_UNPAID = (PaymentStatus.CREATED, PaymentStatus.PAYING)


def _cancel(order: AppointmentOrder, *, actor: str, reason: str, allow_paid: bool) -> AppointmentOrder:
    """Cancel an unpaid or booked order in one unit of work; refund in full what was paid."""
    payment = payment_of(order)
    if order.status == A.PENDING_PAYMENT:
        with unit_of_work():
            if payment is not None and payment.status in _UNPAID and \
                    not payments.cancel_unpaid(payment, actor, reason):
                raise Conflict(_("订单已支付，正在向医院确认，请稍后再试"))
            if not _end(order, A.PENDING_PAYMENT, E.CANCEL, actor=actor, reason=reason, cancelled_at=utcnow(),
                        cancel_reason=reason[:255]):
                raise Conflict(_("订单状态已变化，请刷新后查看"))
        outbox.dispatch()  # the HIS lock is released now, with the slice row no longer locked
        return order
    if order.status == A.BOOKED or (allow_paid and order.status == A.PAID):
        source = A(order.status)
        if source == A.BOOKED and order.his_lock_id:
            try:  # the HIS first (no row is locked yet): if it will not take it back, nothing changes here
                his_gateway().cancel_registration(order.his_lock_id, order.order_no, reason[:255])
            except HisUnavailable as exc:
                raise Unavailable(_("医院系统暂时无法连接，请稍后再试")) from exc
            except HisBusinessError as exc:
                log.warning("HIS refused cancel order=%s: %s", order.order_no, exc)
                raise DomainError(_("医院系统不允许取消本预约（可能已签到或已过就诊时段），如需退号请到门诊窗口办理"),
                                  code=exc.code) from exc
        with unit_of_work():
            if not _end(order, source, E.CANCEL, actor=actor, reason=reason, his_cancel=source == A.PAID,
                        cancelled_at=utcnow(), cancel_reason=reason[:255]):
                raise Conflict(_("订单状态已变化，请刷新后查看"))
            if payment is not None and payment.amount_fen - payment.refunded_fen > 0 and \
                    payment.status in payments.REFUNDABLE:
                payments.request_refund(payment, payment.amount_fen - payment.refunded_fen,
                                        f"取消预约：{reason}"[:255], requested_by=actor,
                                        request_key=f"cancel:{order.order_no}")
        payments.send_queued_refunds()
        outbox.dispatch()
        db.session.refresh(order)
        return order
    raise Conflict(_("当前状态的订单不能取消"))


def cancel_by_patient(owner_id: int, order_id: int | str, reason: str = "") -> AppointmentOrder:
    """CancelBooking by the patient: unpaid at any time (the slot is released at once), booked until the
    cut-off (configurable, N minutes before the slot), refunded in full."""
    order = owned_order(owner_id, order_id)
    rules = booking_rules()
    if order.status == A.BOOKED and not can_cancel(order, rules=rules):
        raise DomainError(_("已超过取消时限（就诊前 %(minutes)s 分钟），如需退号请到医院窗口办理",
                            minutes=rules.cancel_before_minutes), code="past_cutoff")
    return _cancel(order, actor=f"patient:{owner_id}", reason=(reason or "患者取消").strip()[:200],
                   allow_paid=False)


def cancel_by_staff(order_id: int, reason: str, staff: str) -> AppointmentOrder:
    """CancelBooking by an operator (no cut-off): reason mandatory, refunded when paid, audited."""
    if not (reason or "").strip():
        raise DomainError(_("请填写取消原因"), code="reason_required")
    order = db.session.get(AppointmentOrder, int(order_id))
    if order is None:
        raise NotFound(_("订单不存在"))
    before = order.status
    audit.record("booking.cancel", actor_type="staff", actor_id=staff, actor_name=staff,
                 target_type="appointment_order", target_id=order.order_no,
                 detail=f"{before} -> cancelled: {reason.strip()[:200]}")
    return _cancel(order, actor=f"staff:{staff}", reason=reason.strip()[:200], allow_paid=True)


# -- attendance (就诊情况, MarkAttendance): 已就诊 or 爽约 once the session is over ------------------------

def record_attendance(order_id: int, outcome: str, *, actor: str, reason: str,
                      attended_at: dt.datetime | None = None, from_status: str = A.BOOKED) -> bool:
    """Move a booked order to 已就诊 (``visited``) or 爽约 (``no_show``, counted by the no-show bar)
    through the guarded move, recording who and why. False when the order is no longer booked
    (another sweep or a staff member was first): nothing changes. The place stays taken (it was used
    or wasted). The caller's unit of work commits."""
    if outcome not in ATTENDANCE:
        raise ValueError(f"attendance outcome must be one of {ATTENDANCE}, not {outcome!r}")
    values: dict = {"active_key": None}
    if outcome == A.VISITED:
        values["attended_at"] = attended_at
    return _move(order_id, from_status, E.VISIT if outcome == A.VISITED else E.NO_SHOW, actor=actor,
                 reason=reason[:255], **values)


@dataclass
class AttendanceSweep:
    """What one attendance sweep did; ``unknown`` orders stay booked for staff to look at."""

    visited: int = 0
    no_show: int = 0
    waiting: int = 0                   # booked, in the window, session not over yet
    unknown: list[str] = field(default_factory=list)  # order numbers the HIS did not list
    failed_dates: list[dt.date] = field(default_factory=list)  # the HIS did not answer: next run
    errors: int = 0                    # orders whose move failed in the database: next run

    def summary(self) -> str:
        failed = ",".join(d.isoformat() for d in self.failed_dates) or "-"
        return (f"visited={self.visited} no_show={self.no_show} waiting={self.waiting} "
                f"unknown={len(self.unknown)} his_failed_dates={failed} errors={self.errors}")


def sweep_attendance(now: dt.datetime | None = None, rules: BookingRules | None = None) -> AttendanceSweep:
    """For every booked order whose session is over (``session_over_at``) and whose clinic date is at
    most ``booking.attendance_lookback_days`` back, ask the HIS whether the patient checked in and
    move the order booked -> visited or booked -> no_show.

    Idempotent: only booked orders move, each by the guarded move, so a second run changes nothing.
    The HIS is asked once per clinic date; a date it does not answer is logged and left for the next
    run, and an order its answer does not list (退号 at the window, a registration it lost) stays
    booked and is logged for staff. One unit of work per order; a failed order never stops the batch.
    """
    now = now or hospital_now()
    rules = rules or booking_rules()
    session_end = (select(func.max(ScheduleSlice.end_time))
                   .where(ScheduleSlice.schedule_id == AppointmentOrder.schedule_id)
                   .scalar_subquery().label("session_end"))
    rows = db.session.execute(
        select(AppointmentOrder.id, AppointmentOrder.order_no, AppointmentOrder.his_lock_id,
               AppointmentOrder.clinic_date, session_end)
        .where(AppointmentOrder.status == A.BOOKED,
               AppointmentOrder.clinic_date >= now.date() - dt.timedelta(days=rules.attendance_lookback_days),
               AppointmentOrder.clinic_date <= now.date())
        .order_by(AppointmentOrder.clinic_date, AppointmentOrder.id)).all()
    result = AttendanceSweep()
    due: dict[dt.date, list] = {}
    for row in rows:
        if session_over_at(row.clinic_date, row.session_end or "23:59", rules) <= now:
            due.setdefault(row.clinic_date, []).append(row)
        else:
            result.waiting += 1
    his = his_gateway()
    for day, orders in due.items():
        try:
            records = his.registration_attendance(day)
        except HisError as exc:
            log.warning("attendance HIS unavailable date=%s orders=%s: %s (retried next run)", day, len(orders), exc)
            result.failed_dates.append(day)
            continue
        by_lock = {r.lock_id: r for r in records}
        by_order = {r.order_no: r for r in records}
        for order in orders:
            record = by_lock.get(order.his_lock_id or "") or by_order.get(order.order_no)
            if record is None:
                log.warning("attendance unknown order=%s date=%s: the HIS does not list it; left booked for "
                            "staff", order.order_no, day)
                result.unknown.append(order.order_no)
                continue
            outcome = A.VISITED if record.attended else A.NO_SHOW
            reason = (f"医院：{record.attended_at:%H:%M} 已签到（就诊号 {record.visit_no}）"
                      if record.attended and record.attended_at else
                      f"医院：已就诊（就诊号 {record.visit_no}）" if record.attended else
                      f"医院：时段结束仍未签到（就诊号 {record.visit_no}）")
            attended_at = clock.to_utc(record.attended_at)  # None stays None
            try:
                with unit_of_work():
                    moved = record_attendance(order.id, outcome, actor="system:attendance", reason=reason,
                                              attended_at=attended_at)
            except SQLAlchemyError:
                log.exception("attendance move failed order=%s (retried next run)", order.order_no)
                result.errors += 1
                continue
            if moved:
                setattr(result, outcome, getattr(result, outcome) + 1)
                log.info("attendance order=%s %s (%s)", order.order_no, outcome, reason)
                if outcome == A.NO_SHOW:
                    with unit_of_work():
                        notify_attendance(order.id, rules, now.date())
    log.info("attendance sweep %s", result.summary())
    return result


def mark_attendance_by_staff(order_id: int | str, outcome: str, reason: str, staff,
                             now: dt.datetime | None = None) -> AppointmentOrder:
    """The service desk records 已就诊 or 爽约 by hand (the HIS feed missed it or is down): reason
    mandatory; only a booked order whose clinic day has come, and 爽约 only once its time slice is
    over; a 爽约 may be corrected to 已就诊 (the patient was seen but never checked in), which takes
    it out of the no-show count. Audited with the reason and the operator's IP. One unit of work."""
    if outcome not in ATTENDANCE:
        raise DomainError(_("请选择就诊情况"), code="outcome_required")
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(_("请填写原因"), code="reason_required")
    try:
        order = db.session.get(AppointmentOrder, int(order_id))
    except (TypeError, ValueError):
        order = None
    if order is None:
        raise NotFound(_("订单不存在"))
    correcting = order.status == A.NO_SHOW and outcome == A.VISITED
    if order.status != A.BOOKED and not correcting:
        raise Conflict(_("只有预约成功（待就诊）的订单可以标记就诊情况"))
    now = now or hospital_now()
    if order.clinic_date > now.date():
        raise DomainError(_("就诊日期未到，不能标记就诊情况"), code="too_early")
    if outcome == A.NO_SHOW and slot_start(order.clinic_date, order.end_time) > now:
        raise DomainError(_("就诊时段尚未结束，不能标记为爽约"), code="too_early")
    username = getattr(staff, "username", None) or str(staff)
    before = order.status
    with unit_of_work():
        if not record_attendance(order.id, outcome, actor=f"staff:{username}", reason=reason[:200],
                                 from_status=before):
            raise Conflict(_("订单状态已变化，请刷新后查看"))
        audit.record_staff("booking.attendance", staff, target_type="appointment_order", target_id=order.order_no,
                           before={"status": before}, after={"status": outcome}, reason=reason[:200])
        if outcome == A.NO_SHOW or correcting:
            notify_attendance(order.id, booking_rules(), now.date())
    db.session.refresh(order)
    return order


# -- 停诊 (StopClinic) and its quick rebooking ---------------------------------------------------------

@dataclass(frozen=True)
class StopOutcome:
    known: bool         # False when the platform never had this session (nothing booked here)
    newly_stopped: bool
    affected: int       # orders cancelled (and refunded when paid) by this call


def stop_clinic(his_schedule_id: str, reason: str, *, actor: str = "his") -> StopOutcome:
    """The HIS stopped a clinic session: cancel and refund every live booking of it, and tell each
    patient with a one-tap link to the doctor's next open slots (改约). Idempotent; one unit of work per order."""
    schedule = db.session.scalar(select(Schedule).where(Schedule.his_schedule_id == his_schedule_id))
    if schedule is None:
        return StopOutcome(False, False, 0)
    reason = (reason or "停诊").strip()[:200]
    with unit_of_work():
        try:
            target = decide_session(schedule, SessionEvent.STOP)
        except states.Refused:  # stopped before: its orders are still walked below (idempotent)
            newly = False
        else:  # a second stop racing this one loses the guarded move: one stop, one record
            newly = states.move("clinic_session", schedule.id, schedule.status, target,
                                actor=actor if actor.startswith("system:") else f"system:{actor}", reason=reason,
                                stop_reason=reason, stopped_at=utcnow())
        if newly:
            audit.record("schedule.stopped", actor_type="his" if actor == "his" else "system", actor_id=actor,
                         target_type="schedule", target_id=his_schedule_id, detail=reason)
    db.session.refresh(schedule)
    affected = 0
    orders = db.session.scalars(select(AppointmentOrder).where(
        AppointmentOrder.schedule_id == schedule.id, AppointmentOrder.status.in_(LIVE))).all()
    for order in orders:
        if _stop_one(order, schedule.stop_reason or reason, actor):
            affected += 1
    log.info("stop-clinic schedule=%s newly=%s affected=%s", his_schedule_id, newly, affected)
    return StopOutcome(True, newly, affected)


def _stop_one(order: AppointmentOrder, reason: str, actor: str) -> bool:
    """Stop one order in one unit of work; False when it is not (any longer) stoppable, e.g. the same 停诊
    delivered again at once got to it first: nothing happens twice and nobody gets an error."""
    payment = payment_of(order)
    source = db.session.scalar(select(AppointmentOrder.status).where(AppointmentOrder.id == order.id))
    text = f"停诊：{reason}"
    if source not in STOPPABLE:
        return False
    try:
        with unit_of_work():
            if source == A.PENDING_PAYMENT and payment is not None and payment.status in _UNPAID and \
                    not payments.cancel_unpaid(payment, f"system:{actor}", text):
                raise _Lost  # paid meanwhile: the core's confirm sees the stop and refunds
            if not _end(order, source, E.STOP, actor=f"system:{actor}", reason=text, cancelled_at=utcnow(),
                        cancel_reason=text[:255]):
                raise _Lost
            if payment is not None and payment.status in payments.REFUNDABLE and \
                    payment.amount_fen > payment.refunded_fen:
                payments.request_refund(payment, payment.amount_fen - payment.refunded_fen, text[:255],
                                        requested_by=f"system:{actor}", request_key=f"stopped:{order.order_no}")
            db.session.refresh(order)
            notify_stopped(order, reason, paid=payment is not None and
                           payment.status not in (PaymentStatus.CREATED, PaymentStatus.PAYING, PaymentStatus.CLOSED))
    except _Lost:
        return False
    payments.send_queued_refunds()
    outbox.dispatch()
    return True


def handle_his_event(event: dict) -> dict:
    """One event the HIS sends (``POST /api/his/v1/events`` or the simulator's control); idempotent."""
    kind = event.get("type")
    if kind != "schedule_stopped":
        raise DomainError(f"unsupported event type {kind!r}", code="unsupported_event")
    schedule_id = event.get("schedule_id")
    if not isinstance(schedule_id, str) or not schedule_id.strip() or len(schedule_id) > 32:
        raise DomainError("schedule_id is required", code="invalid_event")
    reason = event.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise DomainError("reason is required", code="invalid_event")
    outcome = stop_clinic(schedule_id.strip(), reason, actor="his")
    return {"schedule_id": schedule_id, "known": outcome.known, "newly_stopped": outcome.newly_stopped,
            "cancelled": outcome.affected}


# -- reminders and housekeeping ----------------------------------------------------------------------

def remind_tomorrows_visits(now: dt.datetime | None = None) -> int:
    """就诊提醒: the evening before, every booked order of tomorrow gets one reminder with the time,
    place, queue number, what to bring and until when it can still be cancelled (so that a patient
    who cannot come cancels instead of becoming a 爽约). Once per order; returns reminders written."""
    now = now or hospital_now()
    tomorrow = now.date() + dt.timedelta(days=1)
    rules = booking_rules()
    orders = db.session.scalars(
        select(AppointmentOrder).where(AppointmentOrder.status == A.BOOKED, AppointmentOrder.clinic_date == tomorrow)
        .options(joinedload(AppointmentOrder.doctor), joinedload(AppointmentOrder.department),
                 joinedload(AppointmentOrder.patient))
        .order_by(AppointmentOrder.id)).all()
    keys = {f"visit_reminder:{o.order_no}": o for o in orders}
    done = set(db.session.scalars(select(Notification.dedupe_key).where(Notification.dedupe_key.in_(list(keys)))))
    written = 0
    with unit_of_work():
        for key, order in keys.items():
            if key in done:
                continue
            cutoff = slot_start(order.clinic_date, order.start_time) - dt.timedelta(minutes=rules.cancel_before_minutes)
            notify(order.owner_id, "visit_reminder", "就诊提醒",
                   f"{mask_name(order.patient.name)}，您预约了明天（{order.clinic_date:%m月%d日}）"
                   f"{HALF_DAY_NAMES.get(order.half_day, '')} {order.start_time}-{order.end_time} "
                   f"{order.department.name} {order.doctor.name}，候诊号 {order.queue_no or '-'}，"
                   f"地点：{order.location or '-'}。{WHAT_TO_BRING}。如不能按时就诊，请在 {cutoff:%m-%d %H:%M} "
                   "前取消预约，以免记为爽约。",
                   dedupe_key=key, link=patient_url("h5.booking_order", order_id=order.id),
                   payload={"order_no": order.order_no, "clinic_date": order.clinic_date.isoformat(),
                            "start_time": order.start_time})
            written += 1
    if written:
        log.info("visit reminders written: %s for %s", written, tomorrow)
    return written


def release_stale_holds(older_than_s: int = STALE_HOLD_SECONDS) -> int:
    """Give back places of orders interrupted between our guard and the HIS lock (a killed process)."""
    cutoff = utcnow() - dt.timedelta(seconds=older_than_s)
    stale = db.session.scalars(select(AppointmentOrder).where(
        AppointmentOrder.status == A.HOLDING, AppointmentOrder.created_at <= cutoff).limit(200)).all()
    released = 0
    for order in stale:
        # the HIS may hold a lock under this order number (the process died waiting for its answer):
        # released by order number after the commit; ours is given back now.
        with unit_of_work():
            if _end(order, A.HOLDING, E.LOCK_FAILED, actor="system:sweep", reason="interrupted hold",
                    his_cancel=False, his_release="interrupted hold"):
                released += 1
        outbox.dispatch()
    return released
