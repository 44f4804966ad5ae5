"""Payment orders (registration fee, outpatient bill, inpatient 押金) and refunds."""

from __future__ import annotations

import datetime as dt

from flask_appbuilder import Model
from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import TimestampMixin, utcnow
from app.models.patients import Patient

PAYMENT_KINDS = ("registration", "outpatient", "deposit")


class PaymentOrder(TimestampMixin, Model):
    """What a patient pays through one channel; money in fen; the channel's raw data kept beside it."""

    __tablename__ = "payment_order"
    __table_args__ = (
        Index("ix_payment_kind_status_created", "kind", "status", "created_at"),
        Index("ix_payment_channel_paid", "channel", "paid_at"),
        Index("ix_payment_owner_created", "owner_id", "created_at"),
        Index("ix_payment_status_next_his", "status", "next_his_attempt_at"),
        Index("ix_payment_business", "kind", "business_ref"),
        # the back-office lists' date ranges, and the rollups (a day's payments; rows changed since)
        Index("ix_payment_created_at", "created_at"),
        # covering: a day range's money grouped by channel, business and state is read from the index alone
        Index("ix_payment_paid_at", "paid_at", "channel", "kind", "status", "amount_fen"),
        Index("ix_payment_updated_at", "updated_at"),
        # 订单全链路 finds an order by any number the patient or the channel has
        Index("ix_payment_his_receipt_no", "his_receipt_no"),
        Index("ix_payment_business_ref", "business_ref"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_no: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)  # registration | outpatient | deposit
    owner_id: Mapped[int] = mapped_column(ForeignKey("channel_user.id"), nullable=False)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"), nullable=False, index=True)
    appointment_id: Mapped[int | None] = mapped_column(ForeignKey("appointment_order.id"), index=True)
    business_ref: Mapped[str | None] = mapped_column(String(64))  # bill no / inpatient no
    channel: Mapped[str] = mapped_column(String(16), nullable=False)  # wechat | alipay
    amount_fen: Mapped[int] = mapped_column(Integer, nullable=False)
    refunded_fen: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    description: Mapped[str] = mapped_column(String(128), nullable=False)
    status: Mapped[str] = mapped_column(String(24), nullable=False, default="created")
    channel_trade_no: Mapped[str | None] = mapped_column(String(64), unique=True)
    payer_uid: Mapped[str | None] = mapped_column(String(64))
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    paid_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    # confirmation to the HIS after the money arrived (status paid -> confirmed | confirm_failed)
    his_attempts: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    his_receipt_no: Mapped[str | None] = mapped_column(String(64))
    his_error: Mapped[str | None] = mapped_column(String(255))
    next_his_attempt_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    guidance: Mapped[str | None] = mapped_column(Text)  # 导诊: where to go next, one line each
    detail_json: Mapped[str | None] = mapped_column(Text)  # bill items snapshot
    raw_notification: Mapped[str | None] = mapped_column(Text)
    # set when something needs a human look, e.g. "paid_after_close" (auto-refunded)
    flag: Mapped[str | None] = mapped_column(String(32), index=True)

    patient: Mapped[Patient] = relationship()


class Refund(TimestampMixin, Model):
    """A refund of part or all of a payment; at most one per (payment, request) by ``request_key``."""

    __tablename__ = "refund"
    __table_args__ = (
        Index("ix_refund_status_created", "status", "created_at"),
        Index("ix_refund_created_at", "created_at"),
        Index("ix_refund_status_succeeded", "status", "succeeded_at"),
        Index("ix_refund_updated_at", "updated_at"),
        Index("ix_refund_channel_refund_no", "channel_refund_no"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    refund_no: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payment_order.id"), nullable=False, index=True)
    amount_fen: Mapped[int] = mapped_column(Integer, nullable=False)
    reason: Mapped[str] = mapped_column(String(255), nullable=False)
    status: Mapped[str] = mapped_column(String(24), nullable=False, default="requested")
    requested_by: Mapped[str] = mapped_column(String(64), nullable=False)  # patient:1 / staff:admin / his
    request_key: Mapped[str | None] = mapped_column(String(64), unique=True)  # e.g. the HIS's request id
    channel_refund_no: Mapped[str | None] = mapped_column(String(64))
    succeeded_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    failure_reason: Mapped[str | None] = mapped_column(String(255))
    attempts: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    raw: Mapped[str | None] = mapped_column(Text)

    payment: Mapped[PaymentOrder] = relationship()


class ChannelNotification(Model):
    """Every payment/refund notification received, verified or not: dedupe by the channel's id."""

    __tablename__ = "channel_notification"
    __table_args__ = (
        UniqueConstraint("channel", "notify_id", name="uq_channel_notification_id"),
        Index("ix_channel_notification_order", "order_no"),
        Index("ix_channel_notification_received", "received_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)  # payment | refund
    notify_id: Mapped[str] = mapped_column(String(96), nullable=False)
    order_no: Mapped[str | None] = mapped_column(String(32))
    outcome: Mapped[str] = mapped_column(String(32), nullable=False)  # applied | duplicate | rejected:<why>
    received_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, nullable=False)
    raw: Mapped[str | None] = mapped_column(Text)


class HisCheck(Model):
    """One time the platform asked the HIS what it did with a payment's trade (``trade_status``) before
    moving money on it, and what it answered: the evidence finance reads on a flagged order."""

    __tablename__ = "his_check"
    __table_args__ = (Index("ix_his_check_payment", "payment_id", "asked_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payment_order.id"), nullable=False)
    trade_no: Mapped[str] = mapped_column(String(64), nullable=False)
    asked_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, nullable=False)
    why: Mapped[str] = mapped_column(String(255), nullable=False)  # what the platform was about to do
    answer: Mapped[str] = mapped_column(String(16), nullable=False)  # applied | not_applied | unavailable
    detail: Mapped[str | None] = mapped_column(Text)  # the HIS's records (JSON) or its error
    actor: Mapped[str] = mapped_column(String(64), nullable=False)
