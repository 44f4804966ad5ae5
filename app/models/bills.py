"""Outpatient bills paid through the platform (门诊缴费) and the items of refunds the HIS asks for."""

from __future__ import annotations

import datetime as dt

from flask_appbuilder import Model
from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import TimestampMixin


class BillPayment(TimestampMixin, Model):
    """One HIS bill inside an outpatient payment order: what was asked, and the HIS's settlement.

    The items as they were when the patient paid stay in the order's ``detail_json``; this row is the
    index that answers "which payment paid bill B…?" (refunds, double-payment guard, receipts).
    """

    __tablename__ = "bill_payment"
    __table_args__ = (
        UniqueConstraint("payment_id", "bill_no", name="uq_bill_payment_payment_bill"),
        Index("ix_bill_payment_bill_no", "bill_no"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payment_order.id"), nullable=False, index=True)
    bill_no: Mapped[str] = mapped_column(String(32), nullable=False)
    card_no: Mapped[str] = mapped_column(String(32), nullable=False)
    amount_fen: Mapped[int] = mapped_column(Integer, nullable=False)
    # pending (not yet handed to the HIS) | settled | refused (the HIS would not settle it: refunded)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")
    receipt_no: Mapped[str | None] = mapped_column(String(32))  # 电子票据号
    settled_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    guidance: Mapped[str | None] = mapped_column(Text)
    his_error: Mapped[str | None] = mapped_column(String(255))


class RefundItem(Model):
    """Quantity of one bill item returned by a refund the HIS asked for (a whole-bill refund lists every item)."""

    __tablename__ = "refund_item"

    id: Mapped[int] = mapped_column(primary_key=True)
    refund_id: Mapped[int] = mapped_column(ForeignKey("refund.id"), nullable=False, index=True)
    bill_no: Mapped[str] = mapped_column(String(32), nullable=False)
    item_seq: Mapped[int] = mapped_column(Integer, nullable=False)  # 1-based position in the bill
    quantity: Mapped[int] = mapped_column(Integer, nullable=False)
    amount_fen: Mapped[int] = mapped_column(Integer, nullable=False)


class BillPaymentItem(Model):
    """One item of a bill paid through the platform, with how many of its units went back.

    The per-item guard of refunds the HIS asks for lives here, in the database: ``refunded_qty`` moves
    only by ``UPDATE … SET refunded_qty = refunded_qty + :q WHERE refunded_qty + :q <= quantity`` and a
    CHECK refuses anything outside 0..quantity, so concurrent requests for the last unit cannot both
    take it, on SQLite as on MariaDB. A refund that finally fails gives its units back.
    """

    __tablename__ = "bill_payment_item"
    __table_args__ = (
        UniqueConstraint("bill_payment_id", "item_seq", name="uq_bill_payment_item_seq"),
        CheckConstraint("refunded_qty >= 0 AND refunded_qty <= quantity", name="ck_bill_payment_item_refunded"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    bill_payment_id: Mapped[int] = mapped_column(ForeignKey("bill_payment.id"), nullable=False)
    item_seq: Mapped[int] = mapped_column(Integer, nullable=False)  # 1-based position in the bill
    quantity: Mapped[int] = mapped_column(Integer, nullable=False)
    unit_price_fen: Mapped[int] = mapped_column(Integer, nullable=False)
    refunded_qty: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
