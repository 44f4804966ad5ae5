"""孕妇学校: classes with a capacity, booked like slots (a guarded counter in the database), free or paid
through the payment core (kind ``prenatal_class``). Classes are the platform's own (staff add them in
the back-office), so confirming a payment asks no HIS."""

from __future__ import annotations

import datetime as dt
import logging

from flask_babel import gettext as _
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from app import clock
from app.extensions import db
from app.links import patient_url
from app.maternity import states
from app.maternity.states import ClassBookingStatus as S
from app.models import ClassBooking, PaymentOrder, PrenatalClass, Refund, StateTransition
from app.models.base import new_order_no
from app.payments import commands as payments
from app.services.errors import Conflict, DomainError, Forbidden
from app.services.formatting import mask_name, yuan
from app.messages.notifications import notify
from app.identity.patients import owned_patient
from app.services.uow import unit_of_work
from app.maternity.states import PrenatalClassStatus
from app.payments.states import PaymentStatus
from app.services.states import NO_STATE

log = logging.getLogger("classes")

KIND = "prenatal_class"
CANCEL_BEFORE = dt.timedelta(hours=2)  # she may cancel until two hours before the class
payments.ORDER_PREFIX.setdefault(KIND, "KC")


def upcoming(limit: int = 30) -> list[PrenatalClass]:
    """Open classes that have not started, soonest first."""
    return list(db.session.scalars(select(PrenatalClass).where(
        PrenatalClass.status == PrenatalClassStatus.OPEN, PrenatalClass.starts_at > clock.beijing_now())
        .order_by(PrenatalClass.starts_at).limit(limit)))


def bookings_of(owner_id: int) -> list[ClassBooking]:
    return list(db.session.scalars(select(ClassBooking).where(ClassBooking.owner_id == owner_id)
                                   .order_by(ClassBooking.id.desc()).limit(50)))


def payment_of(booking: ClassBooking) -> PaymentOrder | None:
    return db.session.scalar(select(PaymentOrder).where(PaymentOrder.kind == KIND,
                                                        PaymentOrder.business_ref == booking.booking_no))


def _take_place(class_id: int) -> bool:
    return db.session.execute(update(PrenatalClass).where(
        PrenatalClass.id == class_id, PrenatalClass.status == PrenatalClassStatus.OPEN,
        PrenatalClass.booked < PrenatalClass.capacity)
        .values(booked=PrenatalClass.booked + 1).execution_options(synchronize_session=False)).rowcount == 1


def _release_place(class_id: int) -> None:
    db.session.execute(update(PrenatalClass).where(PrenatalClass.id == class_id, PrenatalClass.booked > 0)
                       .values(booked=PrenatalClass.booked - 1).execution_options(synchronize_session=False))


def book(owner_id: int, patient_id: int | str, class_id: int | str) -> tuple[ClassBooking, str | None]:
    """Book a place: refused (nothing changed) when the class is over, cancelled or full, or she already
    holds a place. A free class is booked at once; a paid one holds the place while she pays (returns
    the payment order number)."""
    patient = owned_patient(owner_id, patient_id)
    try:
        lesson = db.session.get(PrenatalClass, int(class_id))
    except (TypeError, ValueError):
        lesson = None
    if lesson is None:
        raise Forbidden(_("课程不存在"))
    if lesson.status != PrenatalClassStatus.OPEN or lesson.starts_at <= clock.beijing_now():
        raise DomainError(_("该课程已开始或已取消，不能报名"), code="closed")
    booking = ClassBooking(booking_no=new_order_no("KB"), class_id=lesson.id, owner_id=owner_id,
                           patient_id=patient.id, fee_fen=lesson.fee_fen,
                           status=S.BOOKED if lesson.fee_fen == 0 else S.PENDING_PAYMENT,
                           active_key=f"{patient.id}:{lesson.id}")
    payment_no = None
    try:
        with unit_of_work():
            if not _take_place(lesson.id):  # the guard: never more places than the capacity
                raise DomainError(_("该课程名额已满"), code="full")
            db.session.add(booking)
            db.session.flush()
            db.session.add(StateTransition(order_type="class_booking", order_id=booking.id, from_status=NO_STATE,
                                           to_status=booking.status, actor=f"patient:{owner_id}", reason="book"))
            if lesson.fee_fen:
                payment = payments.create_payment_order(
                    kind=KIND, owner_id=owner_id, patient_id=patient.id, channel=patient.owner.channel,
                    amount_fen=lesson.fee_fen, description=f"孕妇学校 {lesson.title}"[:60],
                    actor=f"patient:{owner_id}", business_ref=booking.booking_no)
                payment_no = payment.order_no
            else:
                _notify_booked(booking, lesson)
    except IntegrityError:
        raise DomainError(_("该就诊人已报名该课程"), code="duplicate") from None
    log.info("class booked %s class=%s patient=%s pay=%s", booking.booking_no, lesson.id, patient.id, payment_no)
    return booking, payment_no


def cancel(owner_id: int, booking_id: int | str) -> ClassBooking:
    """She cancels until two hours before the class: the place goes back, a paid fee is refunded in full."""
    try:
        booking = db.session.get(ClassBooking, int(booking_id))
    except (TypeError, ValueError):
        booking = None
    if booking is None or booking.owner_id != owner_id:
        raise Forbidden(_("报名记录不存在"))
    lesson = booking.prenatal_class
    if booking.status == S.BOOKED and lesson.starts_at - CANCEL_BEFORE <= clock.beijing_now():
        raise DomainError(_("课程开始前 2 小时内不能取消"), code="past_cutoff")
    payment = payment_of(booking)
    with unit_of_work():
        source = booking.status
        if (source == S.PENDING_PAYMENT and payment is not None
                and payment.status in (PaymentStatus.CREATED, PaymentStatus.PAYING)):
            if not payments.cancel_unpaid(payment, f"patient:{owner_id}", "取消报名"):
                raise Conflict(_("订单已支付，请稍后再试"))
        if source not in (S.PENDING_PAYMENT, S.BOOKED) or not states.move(
                booking.id, source, S.CANCELLED, actor=f"patient:{owner_id}", reason="cancel"):
            raise Conflict(_("报名状态已变化，请刷新后查看"))
        _release_place(lesson.id)
        refundable = payment is not None and payment.status in payments.REFUNDABLE
        if refundable and payment.amount_fen > payment.refunded_fen:
            payments.request_refund(payment, payment.amount_fen - payment.refunded_fen, "取消孕妇学校报名",
                                    requested_by=f"patient:{owner_id}", request_key=f"class:{booking.booking_no}")
    payments.send_queued_refunds()
    return booking


def _notify_booked(booking: ClassBooking, lesson: PrenatalClass) -> None:
    notify(booking.owner_id, "class_booked", _("孕妇学校报名成功"),
           _("%(name)s 已报名孕妇学校“%(title)s”，时间 %(when)s，地点 %(where)s。",
             name=mask_name(booking.patient.name), title=lesson.title,
             when=lesson.starts_at.strftime("%m-%d %H:%M"), where=lesson.location),
           dedupe_key=f"class_booked:{booking.booking_no}", link=patient_url("h5.classes"),
           payload={"booking_no": booking.booking_no, "class_id": lesson.id})


def _booking_of(payment: PaymentOrder) -> ClassBooking:
    found = db.session.scalar(select(ClassBooking).where(ClassBooking.booking_no == payment.business_ref))
    if found is None:
        raise LookupError(f"payment {payment.order_no} has no class booking")
    return found


class PrenatalClassKind:
    """What a class booking does around the money (plugged into the payment core)."""

    def confirm(self, payment: PaymentOrder) -> payments.ConfirmOutcome:
        booking = _booking_of(payment)
        if booking.status not in (S.PENDING_PAYMENT, S.BOOKED):
            from app.his.errors import InvalidRequest

            raise InvalidRequest(f"class booking is {booking.status}")  # the core refunds in full
        return payments.ConfirmOutcome(receipt_no=booking.booking_no)

    def on_confirmed(self, payment: PaymentOrder, outcome: payments.ConfirmOutcome) -> None:
        booking = _booking_of(payment)
        if states.move(booking.id, S.PENDING_PAYMENT, S.BOOKED, actor="system:payment", reason=payment.order_no):
            db.session.refresh(booking)
            _notify_booked(booking, booking.prenatal_class)

    def on_closed(self, payment: PaymentOrder) -> None:
        booking = _booking_of(payment)
        if states.move(booking.id, S.PENDING_PAYMENT, S.EXPIRED, actor="system:deadline", reason="unpaid"):
            _release_place(booking.class_id)

    def on_confirm_failed(self, payment: PaymentOrder, reason: str) -> None:
        booking = _booking_of(payment)
        if states.move(booking.id, S.PENDING_PAYMENT, S.CANCELLED, actor="system:payment", reason=reason):
            _release_place(booking.class_id)

    def on_refunded(self, payment: PaymentOrder, refund: Refund) -> None:
        booking = _booking_of(payment)
        notify(booking.owner_id, "refund_success", _("退费成功"),
               _("孕妇学校报名费 ¥%(amount)s 已原路退回，请注意查收。", amount=yuan(refund.amount_fen)),
               dedupe_key=f"refund:{refund.refund_no}", link=patient_url("h5.classes"),
               payload={"booking_no": booking.booking_no, "refund_no": refund.refund_no})

    def result_url(self, payment: PaymentOrder) -> str:
        return patient_url("h5.classes")
