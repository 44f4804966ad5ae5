"""What a refund holds on its payment (``refunded_fen``) is released once, and never below nothing.

The demo once seeded in-flight refunds without their reservation; the channel's final "no" then released
an amount that had never been reserved and 已退款 showed -50.00 on 缴费订单."""

from __future__ import annotations

from sqlalchemy import update

from app.extensions import db
from app.models import PaymentOrder
from app.payments import commands
from app.payments.states import RefundStatus
from tests import factories


def test_a_failed_refund_releases_its_reservation(ctx):
    payment = factories.payment_order(factories.patient(factories.channel_user()), "outpatient", "confirmed", 5000)
    refund = factories.refund(payment, "processing")
    db.session.commit()
    assert payment.refunded_fen == 5000
    assert commands._refund_failed(refund, "RESOURCE_NOT_EXISTS: 订单不存在") == RefundStatus.FAILED
    db.session.refresh(payment)
    assert payment.refunded_fen == 0 and payment.flag == "refund_failed"


def test_a_refund_failing_without_a_reservation_leaves_the_refunded_amount_at_zero(ctx):
    payment = factories.payment_order(factories.patient(factories.channel_user()), "outpatient", "confirmed", 5000)
    refund = factories.refund(payment, "processing")
    # the reservation is gone (seeded or repaired data): nothing to release
    db.session.execute(update(PaymentOrder).where(PaymentOrder.id == payment.id).values(refunded_fen=0))
    db.session.commit()
    assert commands._refund_failed(refund, "RESOURCE_NOT_EXISTS: 订单不存在") == RefundStatus.FAILED
    db.session.refresh(payment)
    assert payment.refunded_fen == 0, "已退款 below zero"
    assert payment.flag == "refund_failed"
