"""Registration (预约挂号 / 当天挂号): hold a slot, pay, confirm at the HIS, cancel, 停诊 and 改约.

Holding a place is two guards, each refusing on its own: first the platform's slot counter
(``UPDATE schedule_slice SET booked = booked + 1 WHERE id = :id AND booked < capacity``, a CHECK
constraint behind it), then the HIS lock. The cheap database guard runs first, so a crowd racing for
a hot doctor is turned away by one UPDATE without reaching the HIS. Every place taken is given back
exactly once: only the guarded state move that ends an order releases it.

The appointment order moves through ``states.APPOINTMENT``; the fee goes through the payment core,
to which this module registers the "registration" kind (see ``RegistrationKind``).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from flask import current_app, url_for
from flask_babel import gettext as _
from sqlalchemy import case, func, or_, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import joinedload

from app.extensions import db
from app.his.errors import HisBusinessError, HisError, HisUnavailable, ScheduleStopped, SlotFull
from app.his.interface import LOCK_MINUTES
from app.models import (
    AppointmentOrder,
    ChannelUser,
    Department,
    Doctor,
    Notification,
    Patient,
    PaymentOrder,
    Refund,
    Schedule,
    ScheduleSlice,
    StateTransition,
)
from app.models.base import new_order_no, utcnow
from app.services import audit, payments, states
from app.services.errors import Conflict, DomainError, Forbidden, NotFound, Unavailable
from app.services.formatting import mask_name, yuan
from app.services.his_access import his_gateway
from app.services.notifications import notify
from app.services.patients import owned_patient
from app.services.settings import BookingRules, booking_rules

log = logging.getLogger("booking")

#: states in which an order holds a place in a slice
ACTIVE = ("holding", "pending_payment", "paid", "booked")
HALF_DAY_NAMES = {"am": "上午", "pm": "下午", "evening": "晚上"}
#: what every patient brings; the HIS's own line (where, when, queue number) comes first
WHAT_TO_BRING = "请携带身份证或就诊卡、医保卡；孕妇请带母子健康手册，儿童请带预防接种证"
#: a holding order older than this was interrupted between our guard and the HIS lock
STALE_HOLD_SECONDS = 120


class SlotTaken(Conflict):
    """A lost race for the last place: the patient sees "号源已被约满", never an error page."""

    code = "slot_full"


def hospital_now() -> dt.datetime:
    """Hospital local time (UTC+8), naive: clinic dates and slice times are in it."""
    return utcnow() + dt.timedelta(hours=8)


def slot_start(order_or_slice_date: dt.date, hhmm: str) -> dt.datetime:
    hour, minute = (int(p) for p in hhmm.split(":"))
    return dt.datetime.combine(order_or_slice_date, dt.time(hour, minute))


def _public_link(endpoint: str, **values) -> str:
    """An absolute link for a notice (also from tasks and the CLI, outside any request)."""
    with current_app.test_request_context("/"):
        path = url_for(endpoint, **values)
    return current_app.config["PUBLIC_BASE_URL"].rstrip("/") + path


# -- the booking window ---------------------------------------------------------------------------

def last_open_date(now: dt.datetime, rules: BookingRules) -> dt.date:
    """The furthest clinic date open now: the newest day opens at the daily release time (放号)."""
    ahead = rules.days_ahead if now.time() >= rules.release_time else rules.days_ahead - 1
    return now.date() + dt.timedelta(days=max(ahead, 0))


def open_dates(now: dt.datetime | None = None, rules: BookingRules | None = None) -> list[dt.date]:
    """Clinic dates a patient may book now, today first when 当天挂号 is open."""
    now = now or hospital_now()
    rules = rules or booking_rules()
    first = now.date() if rules.same_day else now.date() + dt.timedelta(days=1)
    last = last_open_date(now, rules) if rules.advance else now.date()
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


def registration_kind(clinic_date: dt.date, start: str, end: str, now: dt.datetime,
                      rules: BookingRules) -> str:
    """'same_day' or 'advance' if a slice may be booked now, else a DomainError saying why."""
    if slot_start(clinic_date, end) <= now:
        raise DomainError(_("该时段已过，请选择其他时段"), code="slot_past")
    if clinic_date == now.date():
        if not rules.same_day:
            raise DomainError(_("暂不开放当天挂号"), code="same_day_closed")
        return "same_day"
    if not rules.advance:
        raise DomainError(_("暂不开放预约挂号，请在就诊当天挂号"), code="advance_closed")
    if clinic_date > last_open_date(now, rules):
        raise DomainError(_("该日期的号源尚未开放，每日 %(time)s 放号", time=rules.release_time.strftime("%H:%M")),
                          code="not_released")
    return "advance"


# -- who may book ---------------------------------------------------------------------------------

def age_on(birth_date: dt.date, day: dt.date) -> int:
    return day.year - birth_date.year - ((day.month, day.day) < (birth_date.month, birth_date.day))


def check_department_allows(department: Department, patient: Patient, clinic_date: dt.date) -> None:
    """Sex and age restrictions of a department (and of its parent): 产科/妇科 女性, 儿科 under 18."""
    node: Department | None = department
    while node is not None:
        if node.allowed_gender:
            wanted = "female" if node.allowed_gender == "F" else "male"
            if patient.gender != wanted:
                raise DomainError(_("该科室仅限女性就诊人预约") if wanted == "female"
                                  else _("该科室仅限男性就诊人预约"), code="gender_restricted")
        if node.min_age is not None or node.max_age is not None:
            if patient.birth_date is None:
                raise DomainError(_("请先完善就诊人的出生日期"), code="age_unknown")
            age = age_on(patient.birth_date, clinic_date)
            if node.max_age is not None and age > node.max_age:
                raise DomainError(_("该科室仅接诊 %(age)s 岁及以下的就诊人", age=node.max_age), code="age_restricted")
            if node.min_age is not None and age < node.min_age:
                raise DomainError(_("该科室仅接诊 %(age)s 岁及以上的就诊人", age=node.min_age), code="age_restricted")
        node = node.parent


def no_show_barred_until(patient_id: int, today: dt.date, rules: BookingRules) -> dt.date | None:
    """The last day a patient with too many no-shows (爽约) is barred, or None."""
    since = today - dt.timedelta(days=rules.no_show_window_days)
    count, last = db.session.execute(
        select(func.count(AppointmentOrder.id), func.max(AppointmentOrder.clinic_date)).where(
            AppointmentOrder.patient_id == patient_id, AppointmentOrder.status == "no_show",
            AppointmentOrder.clinic_date >= since)).one()
    if count < rules.no_show_limit or last is None:
        return None
    until = last + dt.timedelta(days=rules.no_show_bar_days)
    return until if until >= today else None


def _check_patient_limits(patient: Patient, schedule: Schedule, today: dt.date, rules: BookingRules) -> None:
    """The per-patient rules (no-show bar, one number per doctor and session, active limit) in one
    aggregate query over the patient's orders; refused in that order of precedence."""
    since = today - dt.timedelta(days=rules.no_show_window_days)
    active = AppointmentOrder.status.in_(ACTIVE)
    no_show = (AppointmentOrder.status == "no_show") & (AppointmentOrder.clinic_date >= since)
    same_session = active & (AppointmentOrder.doctor_id == schedule.doctor_id) & \
        (AppointmentOrder.clinic_date == schedule.clinic_date) & (AppointmentOrder.half_day == schedule.half_day)
    no_shows, last_no_show, same, live = db.session.execute(select(
        func.count(case((no_show, 1))), func.max(case((no_show, AppointmentOrder.clinic_date))),
        func.count(case((same_session, 1))), func.count(case((active & (AppointmentOrder.clinic_date >= today), 1))),
    ).where(AppointmentOrder.patient_id == patient.id)).one()
    if no_shows >= rules.no_show_limit and last_no_show is not None:
        barred = last_no_show + dt.timedelta(days=rules.no_show_bar_days)
        if barred >= today:
            raise DomainError(_("该就诊人多次预约未就诊，%(date)s 前暂停网上预约", date=barred.isoformat()),
                              code="no_show_barred")
    if same:
        raise DomainError(_("同一就诊人同一医生同一时段只能预约一个号"), code="duplicate")
    if live >= rules.max_active:
        raise DomainError(_("每位就诊人最多同时持有 %(n)s 个有效预约", n=rules.max_active), code="too_many")


# -- slots: the guard ------------------------------------------------------------------------------

def take_place(slice_id: int) -> bool:
    """Take one place in a slice if one is left; False when it is full (the guard is in the database)."""
    result = db.session.execute(
        update(ScheduleSlice).where(ScheduleSlice.id == slice_id, ScheduleSlice.booked < ScheduleSlice.capacity)
        .values(booked=ScheduleSlice.booked + 1).execution_options(synchronize_session=False))
    return result.rowcount == 1


def release_place(slice_id: int) -> None:
    """Give one place back (called only by the guarded move that ended an order)."""
    db.session.execute(
        update(ScheduleSlice).where(ScheduleSlice.id == slice_id, ScheduleSlice.booked > 0)
        .values(booked=ScheduleSlice.booked - 1).execution_options(synchronize_session=False))


def _end(order: AppointmentOrder, from_status: str, to_status: str, *, actor: str, reason: str,
         his_cancel: bool = True, **values) -> bool:
    """Move an order out of the active states and give its place back, once; the caller commits.

    The HIS lock or registration is cancelled too (best effort: an unconfirmed HIS lock also expires
    on its own after LOCK_MINUTES).
    """
    if not states.move("appointment", order.id, from_status, to_status, actor=actor, reason=reason[:255],
                       active_key=None, **values):
        return False
    release_place(order.slice_id)
    if his_cancel and order.his_lock_id:
        try:
            his_gateway().cancel_registration(order.his_lock_id, order.order_no, reason[:255])
        except HisError as exc:
            log.warning("HIS cancel failed order=%s: %s (the HIS lock expires on its own)", order.order_no, exc)
    return True


# -- booking ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class BookingResult:
    order: AppointmentOrder
    payment_order_no: str | None  # None when the slot is free (no payment needed)


def _slice_for_booking(slice_id: int | str) -> ScheduleSlice:
    try:
        sid = int(slice_id)
    except (TypeError, ValueError):
        raise NotFound(_("号源不存在")) from None
    slc = db.session.scalar(select(ScheduleSlice).where(ScheduleSlice.id == sid).options(
        joinedload(ScheduleSlice.schedule).joinedload(Schedule.doctor),
        joinedload(ScheduleSlice.schedule).joinedload(Schedule.department)))
    if slc is None:
        raise NotFound(_("号源不存在"))
    return slc


def book(owner_id: int, patient_id: int | str, slice_id: int | str, *, doctor_id: int | None = None,
         clinic_date: dt.date | None = None, expected_fee_fen: int | None = None,
         rebooked_from_id: int | None = None, slice_: ScheduleSlice | None = None) -> BookingResult:
    """Hold a slice for one of the account's patients and create the order (with its payment order).

    Refuses, with a translated message and without changing anything: another account's patient
    (404), a slice of another doctor or date than the page showed, a past or unreleased slice, a
    stopped clinic, a changed fee, department restrictions, the per-patient limits. A lost race
    raises ``SlotTaken`` (号源已被约满). A free slice is confirmed at the HIS at once (no payment).
    ``slice_``: the slice as the caller already loaded it (with schedule, doctor and department).

    Everything needed after the first commit is read into locals before it, so the expired rows are
    not loaded again one by one (each would be another round trip).
    """
    owner = db.session.get(ChannelUser, owner_id)
    if owner is None:
        raise Forbidden(_("就诊人不存在"))
    patient = owned_patient(owner_id, patient_id)
    slc = slice_ if slice_ is not None and str(slice_.id) == str(slice_id) else _slice_for_booking(slice_id)
    schedule = slc.schedule
    if (doctor_id is not None and schedule.doctor_id != doctor_id) or \
            (clinic_date is not None and schedule.clinic_date != clinic_date):
        raise DomainError(_("号源与所选医生或日期不符，请重新选择"), code="slot_mismatch")
    if schedule.status != "open":
        raise DomainError(_("该医生本时段已停诊，请选择其他医生或时段"), code="stopped")
    if expected_fee_fen is not None and expected_fee_fen != schedule.fee_fen:
        raise DomainError(_("挂号费已变化，请重新确认"), code="fee_changed")
    rules = booking_rules()
    now = hospital_now()
    kind = registration_kind(schedule.clinic_date, slc.start_time, slc.end_time, now, rules)
    check_department_allows(schedule.department, patient, schedule.clinic_date)
    _check_patient_limits(patient, schedule, now.date(), rules)

    # 1. our guard first: the conditional UPDATE takes the slice row's exclusive lock, so inserting
    #    the order (whose foreign key share-locks that row) cannot deadlock with another booking;
    #    a loser is refused by this one statement. Then the order row, and the commit.
    if not take_place(slc.id):
        db.session.rollback()
        raise SlotTaken(_("号源已被约满，请选择其他时段"))
    order_no = new_order_no("YY")
    order = AppointmentOrder(
        order_no=order_no, owner_id=owner_id, patient_id=patient.id, channel=owner.channel,
        schedule_id=schedule.id, slice_id=slc.id, department_id=schedule.department_id,
        doctor_id=schedule.doctor_id, clinic_date=schedule.clinic_date, half_day=schedule.half_day,
        start_time=slc.start_time, end_time=slc.end_time, fee_fen=schedule.fee_fen, status="holding",
        registration_kind=kind, rebooked_from_id=rebooked_from_id, active_key=f"{patient.id}:{schedule.id}")
    db.session.add(order)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()  # the same patient booked this session in another tab a moment ago
        raise DomainError(_("同一就诊人同一医生同一时段只能预约一个号"), code="duplicate") from None
    db.session.add(StateTransition(order_type="appointment", order_id=order.id, from_status="-",
                                   to_status="holding", actor=f"patient:{owner_id}", reason=kind))
    order_id, patient_pk, card_no, channel = order.id, patient.id, patient.card_no, owner.channel
    his_slice_id, fee_fen = slc.his_slice_id, schedule.fee_fen
    description = _describe_parts(schedule.department, schedule.doctor, schedule.clinic_date, slc.start_time)
    db.session.commit()

    # 2. the HIS lock
    try:
        lock = his_gateway().lock_slot(his_slice_id, card_no, order_no)
    except Exception as exc:  # any failure must give the place back before it is reported
        _end(order, "holding", "lock_failed", actor="system:his", reason=f"HIS lock refused: {exc}"[:255],
             his_cancel=False)
        db.session.commit()
        if isinstance(exc, SlotFull):
            raise SlotTaken(_("号源已被约满，请选择其他时段")) from exc
        if isinstance(exc, ScheduleStopped):
            raise DomainError(_("该医生本时段已停诊，请选择其他医生或时段"), code="stopped") from exc
        if isinstance(exc, HisUnavailable):
            raise Unavailable(_("医院系统暂时无法连接，请稍后再试")) from exc
        if isinstance(exc, HisBusinessError):
            log.warning("HIS refused lock order=%s: %s", order_no, exc)
            raise DomainError(_("医院系统未能锁定号源：%(reason)s", reason=exc.message)) from exc
        raise

    # 3. free: confirm at once; otherwise the payment order with a deadline inside the HIS lock
    if fee_fen == 0:
        return BookingResult(_confirm_free(order, lock.lock_id), None)
    lock_expiry_utc = lock.expires_at - dt.timedelta(hours=8)
    deadline = min(utcnow() + dt.timedelta(minutes=rules.pay_minutes),
                   lock_expiry_utc - dt.timedelta(minutes=1), utcnow() + dt.timedelta(minutes=LOCK_MINUTES))
    payment = payments.create_payment_order(
        kind="registration", owner_id=owner_id, patient_id=patient_pk, channel=channel,
        amount_fen=fee_fen, description=description, actor=f"patient:{owner_id}",
        business_ref=order_no, appointment_id=order_id, expires_at=deadline)
    payment_order_no = payment.order_no
    states.move("appointment", order_id, "holding", "pending_payment", actor=f"patient:{owner_id}",
                reason=f"HIS lock {lock.lock_id}", his_lock_id=lock.lock_id, expires_at=deadline)
    db.session.commit()  # the order is expired by the commit: it reloads (once) if the caller reads it
    log.info("booking held order=%s slice=%s patient=%s pay=%s", order_no, his_slice_id, patient_pk,
             payment_order_no)
    return BookingResult(order, payment_order_no)


def _describe(order: AppointmentOrder) -> str:
    return _describe_parts(db.session.get(Department, order.department_id), db.session.get(Doctor, order.doctor_id),
                           order.clinic_date, order.start_time)


def _describe_parts(dept: Department | None, doctor: Doctor | None, clinic_date: dt.date, start_time: str) -> str:
    return f"挂号费 {dept.name if dept else ''} {doctor.name if doctor else ''} {clinic_date:%m-%d} {start_time}"


def _confirm_free(order: AppointmentOrder, lock_id: str) -> AppointmentOrder:
    """A zero-fee slice: confirm at the HIS straight away, no payment."""
    try:
        reg = his_gateway().confirm_registration(lock_id, order.order_no, 0, f"FREE{order.order_no}", order.channel)
    except HisError as exc:
        db.session.execute(update(AppointmentOrder).where(AppointmentOrder.id == order.id)
                           .values(his_lock_id=lock_id))
        _end(order, "holding", "lock_failed", actor="system:his", reason=f"HIS confirm refused: {exc}"[:255])
        db.session.commit()
        raise DomainError(_("医院系统未能确认预约，请稍后再试")) from exc
    states.move("appointment", order.id, "holding", "booked", actor="system:his", reason="free slot confirmed",
                his_lock_id=lock_id, his_visit_no=reg.visit_no, queue_no=reg.queue_no, location=reg.location,
                guidance=_guidance(reg.guidance), confirmed_at=utcnow())
    db.session.refresh(order)
    _notify_booked(order)
    db.session.commit()
    return order


def _guidance(his_line: str) -> str:
    return "\n".join(line for line in (his_line, WHAT_TO_BRING) if line)


def _notify_booked(order: AppointmentOrder) -> None:
    doctor, dept = order.doctor, order.department
    body = (f"{order.patient.name}，您已成功预约 {order.clinic_date:%Y-%m-%d} "
            f"{HALF_DAY_NAMES.get(order.half_day, '')} {order.start_time}-{order.end_time} {dept.name} "
            f"{doctor.name}（{doctor.title or ''}），候诊号 {order.queue_no or '-'}，地点：{order.location or '-'}。"
            f"{WHAT_TO_BRING}。")
    notify(order.owner_id, "booking_success", "预约成功", body, dedupe_key=f"booked:{order.order_no}",
           link=_public_link("h5.booking_order", order_id=order.id),
           payload={"order_no": order.order_no, "visit_no": order.his_visit_no, "queue_no": order.queue_no})


def remind_tomorrows_visits(now: dt.datetime | None = None) -> int:
    """就诊提醒: the evening before, every booked order of tomorrow gets one reminder with the time,
    place, queue number, what to bring and until when it can still be cancelled (so that a patient
    who cannot come cancels instead of becoming a 爽约). Once per order; returns reminders written."""
    now = now or hospital_now()
    tomorrow = now.date() + dt.timedelta(days=1)
    rules = booking_rules()
    orders = db.session.scalars(
        select(AppointmentOrder).where(AppointmentOrder.status == "booked", AppointmentOrder.clinic_date == tomorrow)
        .options(joinedload(AppointmentOrder.doctor), joinedload(AppointmentOrder.department),
                 joinedload(AppointmentOrder.patient))
        .order_by(AppointmentOrder.id)).all()
    keys = {f"visit_reminder:{o.order_no}": o for o in orders}
    done = set(db.session.scalars(select(Notification.dedupe_key).where(Notification.dedupe_key.in_(list(keys)))))
    written = 0
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
               dedupe_key=key, link=_public_link("h5.booking_order", order_id=order.id),
               payload={"order_no": order.order_no, "clinic_date": order.clinic_date.isoformat(),
                        "start_time": order.start_time})
        written += 1
    db.session.commit()
    if written:
        log.info("visit reminders written: %s for %s", written, tomorrow)
    return written


# -- the payment core's view of a registration ------------------------------------------------------

def _appointment_of(payment: PaymentOrder) -> AppointmentOrder:
    order = db.session.get(AppointmentOrder, payment.appointment_id)
    if order is None:
        raise LookupError(f"payment {payment.order_no} has no appointment")
    return order


class RegistrationKind:
    """What registration does around the money (plugged into app.services.payments)."""

    def confirm(self, payment: PaymentOrder) -> payments.ConfirmOutcome:
        order = _appointment_of(payment)
        if order.status == "pending_payment":
            states.move("appointment", order.id, "pending_payment", "paid", actor="system:payment",
                        reason=f"paid {payment.order_no}", paid_at=payment.paid_at)
            db.session.refresh(order)
        if order.status != "paid" or order.schedule.status == "stopped":
            # cancelled or stopped while the patient was paying: the core refunds in full
            raise ScheduleStopped(f"appointment is {order.status}, schedule {order.schedule.status}")
        reg = his_gateway().confirm_registration(order.his_lock_id or "", order.order_no, payment.amount_fen,
                                                 payment.channel_trade_no or "", payment.channel)
        return payments.ConfirmOutcome(receipt_no=reg.visit_no, guidance=tuple(_guidance(reg.guidance).split("\n")),
                                       extra={"visit_no": reg.visit_no, "queue_no": reg.queue_no,
                                              "location": reg.location})

    def on_confirmed(self, payment: PaymentOrder, outcome: payments.ConfirmOutcome) -> None:
        order = _appointment_of(payment)
        if states.move("appointment", order.id, "paid", "booked", actor="system:his", reason="HIS confirmed",
                       his_visit_no=outcome.extra.get("visit_no"), queue_no=outcome.extra.get("queue_no"),
                       location=outcome.extra.get("location"), guidance="\n".join(outcome.guidance) or None,
                       confirmed_at=utcnow()):
            db.session.refresh(order)
            _notify_booked(order)

    def on_closed(self, payment: PaymentOrder) -> None:
        order = _appointment_of(payment)
        _end(order, "pending_payment", "expired", actor="system:deadline", reason="unpaid past deadline")

    def on_confirm_failed(self, payment: PaymentOrder, reason: str) -> None:
        order = _appointment_of(payment)
        if order.status == "pending_payment":  # the move to paid was rolled back with the refusal
            states.move("appointment", order.id, "pending_payment", "paid", actor="system:payment",
                        reason=f"paid {payment.order_no}", paid_at=payment.paid_at)
        target = "stopped" if order.schedule.status == "stopped" else "failed"
        if not _end(order, "paid", target, actor="system:his", reason=reason):
            return
        db.session.refresh(order)
        if target == "stopped":
            _notify_stopped(order, order.schedule.stop_reason or "停诊", paid=True)
        else:
            notify(order.owner_id, "booking_failed", "预约未成功",
                   f"您预约的 {order.clinic_date:%Y-%m-%d} {order.start_time} {order.doctor.name}医生号源未能在医院"
                   f"确认，挂号费将原路退回。", dedupe_key=f"failed:{order.order_no}",
                   link=_public_link("h5.booking_order", order_id=order.id), payload={"order_no": order.order_no})

    def on_refunded(self, payment: PaymentOrder, refund: Refund) -> None:
        order = _appointment_of(payment)
        for source in ("cancelled", "stopped", "failed"):
            if states.move("appointment", order.id, source, "refunded", actor="system:refund",
                           reason=f"refund {refund.refund_no}"):
                break
        notify(order.owner_id, "refund_success", "退费成功",
               f"您预约的 {order.clinic_date:%Y-%m-%d} {order.start_time} 挂号费 ¥{yuan(refund.amount_fen)} "
               f"已原路退回，请注意查收。", dedupe_key=f"refund:{refund.refund_no}",
               link=_public_link("h5.booking_order", order_id=order.id),
               payload={"order_no": order.order_no, "refund_no": refund.refund_no})

    def result_url(self, payment: PaymentOrder) -> str:
        return url_for("h5.booking_order", order_id=payment.appointment_id)


payments.register_kind("registration", RegistrationKind())


# -- orders -----------------------------------------------------------------------------------------

def owned_order(owner_id: int, order_id: int | str) -> AppointmentOrder:
    """The account's appointment order, or 404 (another account's is indistinguishable from none)."""
    try:
        oid = int(order_id)
    except (TypeError, ValueError):
        raise Forbidden(_("订单不存在")) from None
    order = db.session.get(AppointmentOrder, oid)
    if order is None or order.owner_id != owner_id:
        raise Forbidden(_("订单不存在"))
    return order


#: filters on the orders page: name -> states
ORDER_FILTERS = {
    "all": None,
    "pending": ("holding", "pending_payment", "paid"),
    "booked": ("booked",),
    "done": ("visited", "no_show"),
    "cancelled": ("cancelled", "stopped", "expired", "failed", "lock_failed", "refunded"),
}


def orders_of(owner_id: int, filter_name: str = "all", limit: int = 100) -> list[AppointmentOrder]:
    """The account's booking orders, newest first, optionally one filter of ``ORDER_FILTERS``."""
    wanted = ORDER_FILTERS.get(filter_name)
    query = select(AppointmentOrder).where(AppointmentOrder.owner_id == owner_id)
    if wanted:
        query = query.where(AppointmentOrder.status.in_(wanted))
    return list(db.session.scalars(query.order_by(AppointmentOrder.created_at.desc(), AppointmentOrder.id.desc())
                                   .limit(limit)))


def history(order: AppointmentOrder) -> list[StateTransition]:
    """Every step of the order (the appointment's and its payment's and refunds'), oldest first."""
    payment_ids = list(db.session.scalars(select(PaymentOrder.id).where(PaymentOrder.appointment_id == order.id)))
    refund_ids = list(db.session.scalars(select(Refund.id).where(Refund.payment_id.in_(payment_ids)))) \
        if payment_ids else []
    clauses = [(StateTransition.order_type == "appointment") & (StateTransition.order_id == order.id)]
    if payment_ids:
        clauses.append((StateTransition.order_type == "payment") & StateTransition.order_id.in_(payment_ids))
    if refund_ids:
        clauses.append((StateTransition.order_type == "refund") & StateTransition.order_id.in_(refund_ids))
    return list(db.session.scalars(select(StateTransition).where(or_(*clauses))
                                   .order_by(StateTransition.at, StateTransition.id)))


def payment_of(order: AppointmentOrder) -> PaymentOrder | None:
    return db.session.scalar(select(PaymentOrder).where(PaymentOrder.appointment_id == order.id)
                             .order_by(PaymentOrder.id.desc()).limit(1))


def can_cancel(order: AppointmentOrder, now: dt.datetime | None = None,
               rules: BookingRules | None = None) -> bool:
    """Whether the patient may cancel now (unpaid: always; booked: until the cut-off)."""
    if order.status == "pending_payment":
        return True
    if order.status != "booked":
        return False
    rules = rules or booking_rules()
    now = now or hospital_now()
    return slot_start(order.clinic_date, order.start_time) - dt.timedelta(minutes=rules.cancel_before_minutes) > now


# -- cancelling ---------------------------------------------------------------------------------------

def _cancel(order: AppointmentOrder, *, actor: str, reason: str, allow_paid: bool) -> AppointmentOrder:
    """Cancel an unpaid or booked order; refund in full what was paid. Commits."""
    payment = payment_of(order)
    if order.status == "pending_payment":
        if payment is not None and payment.status in ("created", "paying"):
            if not payments.cancel_unpaid(payment, actor, reason):
                db.session.rollback()
                raise Conflict(_("订单已支付，正在向医院确认，请稍后再试"))
        if not _end(order, "pending_payment", "cancelled", actor=actor, reason=reason, cancelled_at=utcnow(),
                    cancel_reason=reason[:255]):
            db.session.rollback()
            raise Conflict(_("订单状态已变化，请刷新后查看"))
        db.session.commit()
        return order
    if order.status == "booked" or (allow_paid and order.status == "paid"):
        source = order.status
        if source == "booked" and order.his_lock_id:
            try:  # the HIS first: if it will not take the registration back, nothing changes here
                his_gateway().cancel_registration(order.his_lock_id, order.order_no, reason[:255])
            except HisUnavailable as exc:
                raise Unavailable(_("医院系统暂时无法连接，请稍后再试")) from exc
            except HisBusinessError as exc:
                raise DomainError(_("医院系统不允许取消：%(reason)s", reason=exc.message)) from exc
        if not _end(order, source, "cancelled", actor=actor, reason=reason, his_cancel=source == "paid",
                    cancelled_at=utcnow(), cancel_reason=reason[:255]):
            db.session.rollback()
            raise Conflict(_("订单状态已变化，请刷新后查看"))
        if payment is not None and payment.amount_fen - payment.refunded_fen > 0 and \
                payment.status in payments.REFUNDABLE:
            payments.request_refund(payment, payment.amount_fen - payment.refunded_fen, f"取消预约：{reason}"[:255],
                                    requested_by=actor, request_key=f"cancel:{order.order_no}")
        db.session.commit()
        payments.send_queued_refunds()
        db.session.refresh(order)
        return order
    raise Conflict(_("当前状态的订单不能取消"))


def cancel_by_patient(owner_id: int, order_id: int | str, reason: str = "") -> AppointmentOrder:
    """The patient cancels: unpaid at any time (the slot is released at once), booked until the cut-off
    (configurable, N minutes before the slot), refunded in full."""
    order = owned_order(owner_id, order_id)
    rules = booking_rules()
    if order.status == "booked" and not can_cancel(order, rules=rules):
        raise DomainError(_("已超过取消时限（就诊前 %(minutes)s 分钟），如需退号请到医院窗口办理",
                            minutes=rules.cancel_before_minutes), code="past_cutoff")
    return _cancel(order, actor=f"patient:{owner_id}", reason=(reason or "患者取消").strip()[:200],
                   allow_paid=False)


def cancel_by_staff(order_id: int, reason: str, staff: str) -> AppointmentOrder:
    """An operator cancels a booking (no cut-off): reason mandatory, refunded when paid, audited."""
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


# -- attendance (就诊情况): 已就诊 or 爽约 once the session is over ------------------------------------

#: what a booked order becomes once the clinic is over
ATTENDANCE_OUTCOMES = ("visited", "no_show")


def record_attendance(order_id: int, outcome: str, *, actor: str, reason: str,
                      attended_at: dt.datetime | None = None, from_status: str = "booked") -> bool:
    """Move a booked order to 已就诊 (``visited``) or 爽约 (``no_show``, counted by the no-show bar)
    through the guarded move, recording who and why. False when the order is no longer booked
    (another sweep or a staff member was first): nothing changes. The place stays taken (it was used
    or wasted). The caller's unit of work commits."""
    if outcome not in ATTENDANCE_OUTCOMES:
        raise ValueError(f"attendance outcome must be one of {ATTENDANCE_OUTCOMES}, not {outcome!r}")
    values: dict = {"active_key": None}
    if outcome == "visited":
        values["attended_at"] = attended_at
    return states.move("appointment", order_id, from_status, outcome, actor=actor, reason=reason[:255], **values)


def session_over_at(clinic_date: dt.date, session_end: str, rules: BookingRules) -> dt.datetime:
    """When a session counts as over (Beijing time): its last slice's end plus the grace
    (``booking.attendance_grace_minutes``) in which a late patient may still be seen."""
    return slot_start(clinic_date, session_end) + dt.timedelta(minutes=rules.attendance_grace_minutes)


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
    booked and is logged for staff. One commit per order; a failed order never stops the batch.
    """
    now = now or hospital_now()
    rules = rules or booking_rules()
    session_end = (select(func.max(ScheduleSlice.end_time))
                   .where(ScheduleSlice.schedule_id == AppointmentOrder.schedule_id)
                   .scalar_subquery().label("session_end"))
    rows = db.session.execute(
        select(AppointmentOrder.id, AppointmentOrder.order_no, AppointmentOrder.his_lock_id,
               AppointmentOrder.clinic_date, session_end)
        .where(AppointmentOrder.status == "booked",
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
            outcome = "visited" if record.attended else "no_show"
            reason = (f"HIS: checked in {record.attended_at:%H:%M}, visit {record.visit_no}"
                      if record.attended and record.attended_at else
                      f"HIS: attended, visit {record.visit_no}" if record.attended else
                      f"HIS: no check-in by the end of the session, visit {record.visit_no}")
            attended_at = record.attended_at - dt.timedelta(hours=8) if record.attended_at else None
            try:
                moved = record_attendance(order.id, outcome, actor="system:attendance", reason=reason,
                                          attended_at=attended_at)
                db.session.commit()
            except SQLAlchemyError:
                db.session.rollback()
                log.exception("attendance move failed order=%s (retried next run)", order.order_no)
                result.errors += 1
                continue
            if moved:
                setattr(result, outcome, getattr(result, outcome) + 1)
                log.info("attendance order=%s %s (%s)", order.order_no, outcome, reason)
                if outcome == "no_show":
                    _notify_attendance(order.id, rules, now.date())
                    db.session.commit()
    log.info("attendance sweep %s", result.summary())
    return result


def mark_attendance_by_staff(order_id: int | str, outcome: str, reason: str, staff,
                             now: dt.datetime | None = None) -> AppointmentOrder:
    """The service desk records 已就诊 or 爽约 by hand (the HIS feed missed it or is down): reason
    mandatory; only a booked order whose clinic day has come, and 爽约 only once its time slice is
    over; a 爽约 may be corrected to 已就诊 (the patient was seen but never checked in), which takes
    it out of the no-show count. Audited with the reason and the operator's IP. Commits."""
    if outcome not in ATTENDANCE_OUTCOMES:
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
    correcting = order.status == "no_show" and outcome == "visited"
    if order.status != "booked" and not correcting:
        raise Conflict(_("只有预约成功（待就诊）的订单可以标记就诊情况"))
    now = now or hospital_now()
    if order.clinic_date > now.date():
        raise DomainError(_("就诊日期未到，不能标记就诊情况"), code="too_early")
    if outcome == "no_show" and slot_start(order.clinic_date, order.end_time) > now:
        raise DomainError(_("就诊时段尚未结束，不能标记为爽约"), code="too_early")
    username = getattr(staff, "username", None) or str(staff)
    before = order.status
    if not record_attendance(order.id, outcome, actor=f"staff:{username}", reason=reason[:200], from_status=before):
        db.session.rollback()
        raise Conflict(_("订单状态已变化，请刷新后查看"))
    audit.record_staff("booking.attendance", staff, target_type="appointment_order", target_id=order.order_no,
                       before={"status": before}, after={"status": outcome}, reason=reason[:200])
    if outcome == "no_show" or correcting:
        _notify_attendance(order.id, booking_rules(), now.date())
    db.session.commit()
    db.session.refresh(order)
    return order


# -- 停诊 --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class StopOutcome:
    known: bool         # False when the platform never had this session (nothing booked here)
    newly_stopped: bool
    affected: int       # orders cancelled (and refunded when paid) by this call


def stop_clinic(his_schedule_id: str, reason: str, *, actor: str = "his") -> StopOutcome:
    """The HIS stopped a clinic session: cancel and refund every live booking of it, and tell each
    patient with a one-tap link to the doctor's next open slots (改约). Idempotent; commits per order."""
    schedule = db.session.scalar(select(Schedule).where(Schedule.his_schedule_id == his_schedule_id))
    if schedule is None:
        return StopOutcome(False, False, 0)
    reason = (reason or "停诊").strip()[:200]
    newly = db.session.execute(update(Schedule).where(Schedule.id == schedule.id, Schedule.status == "open")
                               .values(status="stopped", stop_reason=reason, stopped_at=utcnow())
                               .execution_options(synchronize_session=False)).rowcount == 1
    if newly:
        audit.record("schedule.stopped", actor_type="his" if actor == "his" else "system", actor_id=actor,
                     target_type="schedule", target_id=his_schedule_id, detail=reason)
    db.session.commit()
    db.session.refresh(schedule)
    affected = 0
    orders = db.session.scalars(select(AppointmentOrder).where(
        AppointmentOrder.schedule_id == schedule.id, AppointmentOrder.status.in_(ACTIVE))).all()
    for order in orders:
        if _stop_one(order, schedule.stop_reason or reason, actor):
            affected += 1
    log.info("stop-clinic schedule=%s newly=%s affected=%s", his_schedule_id, newly, affected)
    return StopOutcome(True, newly, affected)


def _stop_one(order: AppointmentOrder, reason: str, actor: str) -> bool:
    payment = payment_of(order)
    source = order.status
    text = f"停诊：{reason}"
    if source == "holding":
        return False  # the booking is still asking the HIS, which refuses a stopped session
    if source == "pending_payment" and payment is not None and payment.status in ("created", "paying"):
        if not payments.cancel_unpaid(payment, f"system:{actor}", text):
            db.session.rollback()
            return False  # paid meanwhile: the core's confirm sees the stop and refunds
    if not _end(order, source, "stopped", actor=f"system:{actor}", reason=text, cancelled_at=utcnow(),
                cancel_reason=text[:255]):
        db.session.rollback()
        return False
    if payment is not None and payment.status in payments.REFUNDABLE and payment.amount_fen > payment.refunded_fen:
        payments.request_refund(payment, payment.amount_fen - payment.refunded_fen, text[:255],
                                requested_by=f"system:{actor}", request_key=f"stopped:{order.order_no}")
    db.session.refresh(order)
    _notify_stopped(order, reason, paid=payment is not None and payment.status not in ("created", "paying", "closed"))
    db.session.commit()
    payments.send_queued_refunds()
    return True


def _notify_attendance(order_id: int, rules: BookingRules, today: dt.date) -> None:
    """Tell the patient an order became 爽约 (with the count and whether booking is now barred), or
    that a 爽约 was corrected to 已就诊; once each (dedupe keys). The caller commits."""
    order = db.session.get(AppointmentOrder, order_id)
    when = f"{order.clinic_date:%Y-%m-%d} {HALF_DAY_NAMES.get(order.half_day, '')} {order.start_time}"
    who = f"{mask_name(order.patient.name)} 预约的 {when} {order.doctor.name}医生"
    link = _public_link("h5.booking_order", order_id=order.id)
    if order.status == "visited":
        notify(order.owner_id, "no_show", "就诊记录更正", f"{who}的就诊记录已更正为已就诊，不计爽约次数。",
               dedupe_key=f"no_show_corrected:{order.order_no}", link=link, payload={"order_no": order.order_no})
        return
    since = today - dt.timedelta(days=rules.no_show_window_days)
    count = db.session.scalar(select(func.count()).select_from(AppointmentOrder).where(
        AppointmentOrder.patient_id == order.patient_id, AppointmentOrder.status == "no_show",
        AppointmentOrder.clinic_date >= since)) or 0
    barred = no_show_barred_until(order.patient_id, today, rules)
    then = (f"已暂停网上预约至 {barred:%Y-%m-%d}。" if barred else
            f"累计 {rules.no_show_limit} 次将暂停网上预约 {rules.no_show_bar_days} 天。")
    notify(order.owner_id, "no_show", "爽约提醒",
           f"{who}未按时就诊，已记为爽约（{rules.no_show_window_days} 天内第 {count} 次），{then}"
           "如已就诊请联系服务台更正；不能按时就诊请提前取消预约。",
           dedupe_key=f"no_show:{order.order_no}", link=link,
           payload={"order_no": order.order_no, "no_shows": count,
                    "barred_until": barred.isoformat() if barred else None})


def _notify_stopped(order: AppointmentOrder, reason: str, *, paid: bool) -> None:
    notify(order.owner_id, "stop_clinic", "停诊通知",
           f"很抱歉，{order.doctor.name}医生 {order.clinic_date:%Y-%m-%d} {HALF_DAY_NAMES.get(order.half_day, '')} "
           f"停诊（{reason}），您的预约已取消" + ("，挂号费将原路退回。" if paid else "。")
           + "点击可一键改约该医生其他时段。",
           dedupe_key=f"stopped:{order.order_no}", link=_public_link("h5.booking_rebook", order_id=order.id),
           payload={"order_no": order.order_no, "doctor_id": order.doctor_id})


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


# -- 改约: the doctor's next open slots -------------------------------------------------------------

def next_open_slots(doctor_id: int, limit: int = 12, now: dt.datetime | None = None) -> list[ScheduleSlice]:
    """The doctor's next slices with places left, in the open booking window, soonest first."""
    now = now or hospital_now()
    dates = open_dates(now)
    if not dates:
        return []
    slices = db.session.scalars(
        select(ScheduleSlice).join(Schedule).where(
            Schedule.doctor_id == doctor_id, Schedule.status == "open",
            Schedule.clinic_date >= dates[0], Schedule.clinic_date <= dates[-1],
            ScheduleSlice.booked < ScheduleSlice.capacity)
        .options(joinedload(ScheduleSlice.schedule))
        .order_by(Schedule.clinic_date, ScheduleSlice.start_time)).all()  # start times order 上午/下午/晚上
    return [s for s in slices if slot_start(s.schedule.clinic_date, s.end_time) > now][:limit]


# -- housekeeping -------------------------------------------------------------------------------------

def release_stale_holds(older_than_s: int = STALE_HOLD_SECONDS) -> int:
    """Give back places of orders interrupted between our guard and the HIS lock (a killed process)."""
    cutoff = utcnow() - dt.timedelta(seconds=older_than_s)
    stale = db.session.scalars(select(AppointmentOrder).where(
        AppointmentOrder.status == "holding", AppointmentOrder.created_at <= cutoff).limit(200)).all()
    released = 0
    for order in stale:
        # the HIS may hold a lock under this order number: cancel it by looking it up is not in the
        # contract, so the HIS's own expiry (LOCK_MINUTES) frees it; ours is given back now.
        if _end(order, "holding", "lock_failed", actor="system:sweep", reason="interrupted hold", his_cancel=False):
            released += 1
        db.session.commit()
    return released


def active_orders_for(slice_ids: Iterable[int]) -> int:
    """How many live orders hold places in these slices (for checks and the benchmark)."""
    ids = list(slice_ids)
    if not ids:
        return 0
    return db.session.scalar(select(func.count(AppointmentOrder.id)).where(
        AppointmentOrder.slice_id.in_(ids), AppointmentOrder.status.in_(ACTIVE))) or 0
