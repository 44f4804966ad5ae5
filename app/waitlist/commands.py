"""Use cases of the waitlist (候补), each in one unit of work.

* ``join`` / ``leave``: the patient's taps.
* ``on_order_ended``: called by ``registration.commands._end`` in the transaction that ended an order and gave its place
  back; the place goes at once to the first waiting patient who accepts that slice (``give_freed_place``),
  so nobody else can take it in between. No external call happens there (rows are locked).
* ``make_offer_ready``: after the commit, the HIS lock and the payment order of an offered booking, and her
  notice: the outbox row ``waitlist.offer`` written with the offer runs it; ``process_offers`` (the periodic
  sweep) is the net.
* ``sweep``: what the periodic task runs: process offers, give places the HIS added to waiting patients,
  close waiting at the session's cut-off (with a notice).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from app import clock, outbox
from app.extensions import db
from app.his.errors import HisError
from app.links import patient_url
from app.models import AppointmentOrder, ChannelUser, Schedule, ScheduleSlice, StateTransition, WaitlistEntry
from app.models.base import new_order_no
from app.registration import commands as registration
from app.registration.queries import describe
from app.registration.rules import (
    check_department_allows,
    check_patient_limits,
    no_show_barred_until,
    open_dates,
    registration_kind,
    slot_start,
)
from app.registration.states import LIVE, decide
from app.registration.states import AppointmentEvent as E
from app.registration.states import AppointmentStatus as A
from app.payments import commands as payments
from app.services import states as order_states
from app.services.errors import Conflict, DomainError, NotFound
from app.services.his_access import his_gateway
from app.services.formatting import mask_name
from app.messages.notifications import notify
from app.identity.patients import owned_patient
from app.services.settings import _int, _raw, booking_rules
from app.services.uow import savepoint, unit_of_work
from app.waitlist import states
from app.waitlist.states import WaitlistStatus as S
from app.services.states import SessionStatus
from app.services.states import NO_STATE

log = logging.getLogger("waitlist")

HALF_DAY_NAMES = {"am": "上午", "pm": "下午", "evening": "晚上"}


@dataclass(frozen=True)
class WaitlistRules:
    max_per_patient: int = 3     # waitlist.max_per_patient: live entries per patient [3]
    cutoff_minutes: int = 60     # waitlist.cutoff_minutes: waiting ends N minutes before the last slice [60]


def waitlist_rules() -> WaitlistRules:
    values = _raw("waitlist.")
    return WaitlistRules(max_per_patient=_int(values, "waitlist.max_per_patient"),
                         cutoff_minutes=_int(values, "waitlist.cutoff_minutes"))


def cutoff_of(schedule_id: int, clinic_date: dt.date, rules: WaitlistRules) -> dt.datetime:
    """When waiting for a session ends (Beijing): its last slice's start minus ``cutoff_minutes``."""
    last = db.session.scalar(select(func.max(ScheduleSlice.start_time)).where(ScheduleSlice.schedule_id == schedule_id))
    hour, minute = (int(p) for p in (last or "00:00").split(":"))
    return dt.datetime.combine(clinic_date, dt.time(hour, minute)) - dt.timedelta(minutes=rules.cutoff_minutes)


def _slice_ids(schedule: Schedule, wanted: list[str] | None) -> list[int]:
    ids = [s.id for s in schedule.slices]
    if not wanted:
        return []
    chosen = []
    for value in wanted:
        try:
            sid = int(value)
        except (TypeError, ValueError):
            raise DomainError(_("所选时段不存在，请重新选择"), code="bad_slice") from None
        if sid not in ids:
            raise DomainError(_("所选时段不存在，请重新选择"), code="bad_slice")
        chosen.append(sid)
    return sorted(set(chosen))


def join(owner_id: int, patient_id: int | str, schedule_id: int | str,
         slice_ids: list[str] | None = None) -> WaitlistEntry:
    """Put one of the account's patients in the queue of a full session (optionally only some slices).

    Refused with a clear message, nothing changed: another account's patient (404), a session that is not
    open, not full, past its cut-off or outside the booking window, a patient who already holds a booking or
    is already waiting for it, the per-patient limit, the no-show bar and the department's restrictions."""
    owner = db.session.get(ChannelUser, owner_id)
    patient = owned_patient(owner_id, patient_id)
    try:
        schedule = db.session.get(Schedule, int(schedule_id))
    except (TypeError, ValueError):
        schedule = None
    if schedule is None or owner is None:
        raise NotFound(_("号源不存在"))
    if schedule.status != SessionStatus.OPEN:
        raise DomainError(_("该医生本时段已停诊，请选择其他医生或时段"), code="stopped")
    rules, now = waitlist_rules(), clock.beijing_now()
    if schedule.clinic_date not in open_dates(now):
        raise DomainError(_("该日期的号源尚未开放，暂不能候补"), code="not_released")
    if cutoff_of(schedule.id, schedule.clinic_date, rules) <= now:
        raise DomainError(_("该时段已过候补截止时间"), code="past_cutoff")
    chosen = _slice_ids(schedule, slice_ids)
    open_places = [s for s in schedule.slices if s.booked < s.capacity and (not chosen or s.id in chosen)
                   and slot_start(schedule.clinic_date, s.end_time) > now]
    if open_places:
        raise DomainError(_("该时段还有号源，请直接预约"), code="not_full")
    check_department_allows(schedule.department, patient, schedule.clinic_date)
    holds = db.session.scalar(select(func.count()).select_from(AppointmentOrder).where(
        AppointmentOrder.patient_id == patient.id, AppointmentOrder.schedule_id == schedule.id,
        AppointmentOrder.status.in_(LIVE)))
    if holds:
        raise DomainError(_("该就诊人已预约该医生本时段，无需候补"), code="holds_session")
    barred = no_show_barred_until(patient.id, now.date(), booking_rules())
    if barred is not None:
        raise DomainError(_("该就诊人多次预约未就诊，%(date)s 前暂停网上预约", date=barred.isoformat()),
                          code="no_show_barred")
    key = f"{patient.id}:{schedule.id}"
    if db.session.scalar(select(WaitlistEntry.id).where(WaitlistEntry.active_key == key)) is not None:
        raise DomainError(_("该就诊人已在本时段的候补队列中"), code="duplicate")
    live = db.session.scalar(select(func.count()).select_from(WaitlistEntry).where(
        WaitlistEntry.patient_id == patient.id, WaitlistEntry.status.in_([s.value for s in states.LIVE])))
    if live >= rules.max_per_patient:
        raise DomainError(_("每位就诊人最多同时候补 %(n)s 个时段", n=rules.max_per_patient), code="too_many")
    entry = WaitlistEntry(owner_id=owner_id, patient_id=patient.id, schedule_id=schedule.id,
                          slice_ids=",".join(str(i) for i in chosen), status=S.WAITING, active_key=key,
                          channel=owner.channel)
    try:
        with unit_of_work():
            db.session.add(entry)
            db.session.flush()
            db.session.add(StateTransition(order_type="waitlist", order_id=entry.id, from_status=NO_STATE,
                                           to_status=S.WAITING, actor=f"patient:{owner_id}", reason="join"))
    except IntegrityError:  # the same patient joined in another tab a moment ago
        raise DomainError(_("该就诊人已在本时段的候补队列中"), code="duplicate") from None
    log.info("waitlist join entry=%s schedule=%s patient=%s", entry.id, schedule.id, patient.id)
    return entry


def leave(owner_id: int, entry_id: int | str) -> WaitlistEntry:
    """The patient leaves the queue (only while waiting: an offered booking is cancelled like any other)."""
    entry = _owned(owner_id, entry_id)
    with unit_of_work():
        if entry.status != S.WAITING or not states.move(entry.id, S.WAITING, S.LEFT, actor=f"patient:{owner_id}",
                                                        reason="left", ended_at=clock.utcnow()):
            raise Conflict(_("候补状态已变化，请刷新后查看"))
    return entry


def _owned(owner_id: int, entry_id: int | str) -> WaitlistEntry:
    try:
        entry = db.session.get(WaitlistEntry, int(entry_id))
    except (TypeError, ValueError):
        entry = None
    if entry is None or entry.owner_id != owner_id:
        from app.services.errors import Forbidden

        raise Forbidden(_("候补记录不存在"))
    return entry


# -- a place is freed ------------------------------------------------------------------------------

def on_order_ended(order: AppointmentOrder, to_status: str) -> None:
    """``registration.commands._end`` gave an order's place back: end the waitlist entry the order was made for (she did
    not pay, or the HIS refused), then pass the place on to the next waiting patient. Same transaction."""
    entry_id = db.session.scalar(select(WaitlistEntry.id).where(WaitlistEntry.order_id == order.id,
                                                                 WaitlistEntry.status == S.OFFERED))
    if entry_id is not None:
        if states.move(entry_id, S.OFFERED, S.EXPIRED, actor="system:waitlist", reason=f"order {to_status}",
                       ended_at=clock.utcnow()):
            entry = db.session.get(WaitlistEntry, entry_id)
            _notify_ended(entry, _("候补预约未在时限内支付，号源已转给下一位候补患者。")
                          if to_status == A.EXPIRED else _("候补预约已取消。"))
    if to_status != A.STOPPED:
        give_freed_place(order.slice_id, order.schedule_id)


def give_freed_place(slice_id: int, schedule_id: int) -> int | None:
    """Give one free place of a slice to the first waiting patient who accepts it: the slice's guarded
    counter and the entry's guarded move, both in the caller's transaction. Returns the new order's id,
    or None (nobody waiting, the place already gone, the session closed). Never calls the HIS."""
    schedule = db.session.get(Schedule, schedule_id)
    slc = db.session.get(ScheduleSlice, slice_id)
    if schedule is None or slc is None or schedule.status != SessionStatus.OPEN:
        return None
    now = clock.beijing_now()
    if slot_start(schedule.clinic_date, slc.end_time) <= now:
        return None
    waiting = db.session.scalars(select(WaitlistEntry).where(WaitlistEntry.schedule_id == schedule_id,
                                                             WaitlistEntry.status == S.WAITING)
                                 .order_by(WaitlistEntry.id).limit(50)).all()
    rules = booking_rules()
    for entry in waiting:
        if not entry.accepts(slice_id):
            continue
        try:
            kind = registration_kind(schedule.clinic_date, slc.start_time, slc.end_time, now, rules)
            check_patient_limits(entry.patient, schedule, now.date(), rules)
        except DomainError as refused:
            log.info("waitlist entry=%s skipped: %s", entry.id, refused.code)
            continue
        try:
            with savepoint():
                if not registration.take_place(slice_id):
                    return None  # someone was quicker: never more places given than freed
                order = AppointmentOrder(
                    order_no=new_order_no("YY"), owner_id=entry.owner_id, patient_id=entry.patient_id,
                    channel=entry.channel, schedule_id=schedule.id, slice_id=slc.id,
                    department_id=schedule.department_id, doctor_id=schedule.doctor_id,
                    clinic_date=schedule.clinic_date, half_day=schedule.half_day, start_time=slc.start_time,
                    end_time=slc.end_time, fee_fen=schedule.fee_fen, status=A.HOLDING, registration_kind=kind,
                    active_key=f"{entry.patient_id}:{schedule.id}")
                db.session.add(order)
                db.session.flush()
                if not states.move(entry.id, S.WAITING, S.OFFERED, actor="system:waitlist",
                                   reason=f"place freed in slice {slice_id}", order_id=order.id,
                                   offered_at=clock.utcnow()):
                    raise _Lost()
                db.session.add(StateTransition(order_type="appointment", order_id=order.id, from_status=NO_STATE,
                                               to_status=A.HOLDING, actor="system:waitlist",
                                               reason=f"waitlist entry {entry.id}"))
        except (_Lost, IntegrityError):
            continue  # another process offered her a place first, or she booked meanwhile: the next one
        # after the commit: the HIS lock, her pay window and her notice (never under this row lock)
        outbox.add("waitlist.offer", order.order_no, {"order_id": order.id})
        log.info("waitlist offer entry=%s order=%s slice=%s", entry.id, order.order_no, slice_id)
        return order.id
    return None


class _Lost(Exception):
    """The entry was moved by another process between the read and the guarded move."""


# -- after the commit: the HIS lock, the payment window, her notice -----------------------------------

def process_offers() -> int:
    """Make every offered booking ready (``make_offer_ready``); the periodic sweep's net under the outbox
    rows written with each offer. Returns offers made ready."""
    rows = db.session.execute(select(WaitlistEntry.id, AppointmentOrder.id, AppointmentOrder.status)
                              .join(AppointmentOrder, AppointmentOrder.id == WaitlistEntry.order_id)
                              .where(WaitlistEntry.status == S.OFFERED)).all()
    return sum(make_offer_ready(entry_id, order_id, status) for entry_id, order_id, status in rows)


def _offer_made(task: dict) -> None:
    """The outbox row written with an offer, carried out after its commit (idempotent: an offer already
    made ready, or ended, is left alone)."""
    row = db.session.execute(select(WaitlistEntry.id, AppointmentOrder.id, AppointmentOrder.status)
                             .join(AppointmentOrder, AppointmentOrder.id == WaitlistEntry.order_id)
                             .where(WaitlistEntry.status == S.OFFERED,
                                    AppointmentOrder.id == task["order_id"])).first()
    if row is None:
        return
    try:
        make_offer_ready(*row)
    except DomainError as refused:  # a free slice the HIS would not confirm: already ended, place passed on
        log.warning("waitlist offer order=%s not confirmed: %s", task["order_id"], refused.message)


def register_outbox_kind() -> None:
    """Called by ``create_app`` (not on import): an offer's HIS lock and pay window, after its commit."""
    outbox.handler("waitlist.offer")(_offer_made)


def make_offer_ready(entry_id: int, order_id: int, status: str) -> bool:
    """Lock an offered booking still ``holding`` at the HIS (no row locked) and open its pay window, in
    one unit of work with her notice; an entry whose booking was paid (or was free) becomes ``booked``.
    True when the offer was made ready now."""
    if status in (A.PAID, A.BOOKED, A.VISITED, A.NO_SHOW):
        with unit_of_work():
            states.move(entry_id, S.OFFERED, S.BOOKED, actor="system:waitlist", reason=f"order {status}",
                        ended_at=clock.utcnow())
        return False
    if status != A.HOLDING:
        return False
    order = db.session.get(AppointmentOrder, order_id)
    slc = db.session.get(ScheduleSlice, order.slice_id)
    try:
        lock = his_gateway().lock_slot(slc.his_slice_id, order.patient.card_no, order.order_no)
    except HisError as exc:  # give the place back: the hook passes it on to the next one
        registration.release_failed_hold(order, exc, actor="system:waitlist")
        return False
    if order.fee_fen == 0:
        registration.confirm_free(order, lock.lock_id)
        with unit_of_work():
            states.move(entry_id, S.OFFERED, S.BOOKED, actor="system:waitlist", reason="free slot",
                        ended_at=clock.utcnow())
            _notify_offer(order, None)
        return True
    lock_expiry = clock.to_utc(lock.expires_at)
    deadline = min(clock.utcnow() + dt.timedelta(minutes=booking_rules().pay_minutes),
                   lock_expiry - dt.timedelta(minutes=1))
    with unit_of_work():
        payment = payments.create_payment_order(
            kind="registration", owner_id=order.owner_id, patient_id=order.patient_id, channel=order.channel,
            amount_fen=order.fee_fen, description=describe(order), actor="system:waitlist",
            business_ref=order.order_no, appointment_id=order.id, expires_at=deadline)
        order_states.move("appointment", order.id, A.HOLDING, decide(A.HOLDING, E.HIS_LOCKED),
                          actor="system:waitlist", reason=f"HIS lock {lock.lock_id}", his_lock_id=lock.lock_id,
                          expires_at=deadline)
        _notify_offer(order, deadline)
    log.info("waitlist offer ready order=%s pay=%s", order.order_no, payment.order_no)
    return True


def _when(order: AppointmentOrder) -> str:
    return (f"{order.clinic_date:%Y-%m-%d} {HALF_DAY_NAMES.get(order.half_day, '')} {order.start_time}-"
            f"{order.end_time} {order.department.name} {order.doctor.name}")


def _notify_offer(order: AppointmentOrder, deadline: dt.datetime | None) -> None:
    db.session.refresh(order)
    if deadline is None:
        body = _("候补成功！已为%(name)s预约 %(when)s。", name=mask_name(order.patient.name), when=_when(order))
    else:
        body = _("候补成功！已为%(name)s预约 %(when)s，请在 %(deadline)s 前支付挂号费，超时号源将转给下一位候补患者。",
                 name=mask_name(order.patient.name), when=_when(order),
                 deadline=clock.display(deadline, "%H:%M"))
    notify(order.owner_id, "waitlist_booked", _("候补成功"), body, dedupe_key=f"waitlist_booked:{order.order_no}",
           link=patient_url("h5.booking_order", order_id=order.id), payload={"order_no": order.order_no})


def _notify_ended(entry: WaitlistEntry, why: str) -> None:
    schedule = entry.schedule
    notify(entry.owner_id, "waitlist_ended", _("候补结束"),
           _("%(name)s 候补的 %(date)s %(half)s %(doctor)s：%(why)s", name=mask_name(entry.patient.name),
             date=f"{schedule.clinic_date:%Y-%m-%d}", half=HALF_DAY_NAMES.get(schedule.half_day, ""),
             doctor=schedule.doctor.name, why=why),
           dedupe_key=f"waitlist_ended:{entry.id}", link=patient_url("h5.waitlist"),
           payload={"entry_id": entry.id, "schedule_id": schedule.id})


# -- the periodic sweep ---------------------------------------------------------------------------

def offer_free_places() -> int:
    """Places free in sessions with waiting patients (the HIS added slots, a sync freed some): offer them."""
    rows = db.session.execute(
        select(ScheduleSlice.id, ScheduleSlice.schedule_id, ScheduleSlice.capacity - ScheduleSlice.booked)
        .join(Schedule, Schedule.id == ScheduleSlice.schedule_id)
        .where(Schedule.status == SessionStatus.OPEN, ScheduleSlice.booked < ScheduleSlice.capacity,
               ScheduleSlice.schedule_id.in_(select(WaitlistEntry.schedule_id)
                                             .where(WaitlistEntry.status == S.WAITING)))
        .order_by(ScheduleSlice.schedule_id, ScheduleSlice.start_time)).all()
    offered = 0
    for slice_id, schedule_id, free in rows:
        for _i in range(free):
            with unit_of_work():
                given = give_freed_place(slice_id, schedule_id)
            outbox.dispatch()
            if given is None:
                break
            offered += 1
    return offered


def close_past_cutoff() -> int:
    """Waiting ends at the session's cut-off (or when the clinic stopped), each patient told once."""
    rules, now = waitlist_rules(), clock.beijing_now()
    closed = 0
    entries = db.session.scalars(select(WaitlistEntry).where(WaitlistEntry.status == S.WAITING)
                                 .order_by(WaitlistEntry.schedule_id, WaitlistEntry.id)).all()
    for entry in entries:
        schedule = entry.schedule
        stopped = schedule.status != SessionStatus.OPEN
        if not stopped and cutoff_of(schedule.id, schedule.clinic_date, rules) > now:
            continue
        with unit_of_work():
            if states.move(entry.id, S.WAITING, S.CLOSED, actor="system:waitlist",
                           reason="stopped" if stopped else "cut-off", ended_at=clock.utcnow()):
                _notify_ended(entry, _("医生停诊，候补已结束。") if stopped else
                              _("已到候补截止时间，未能候补到号源，候补已结束。"))
                closed += 1
    return closed


def sweep() -> dict[str, int]:
    """What the periodic task runs (every minute)."""
    result = {"ready": process_offers(), "offered": offer_free_places(), "closed": close_past_cutoff()}
    result["ready"] += process_offers()
    return result
