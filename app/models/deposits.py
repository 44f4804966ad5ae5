"""Deposit refunds at discharge (出院结算退押金) that the HIS asks for: one request of the HIS, carried
out as one refund per deposit payment it draws on (a channel refund must name its original payment)."""

from __future__ import annotations

from flask_appbuilder import Model
from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import TimestampMixin
from app.models.payments import Refund


class DepositRefundRequest(TimestampMixin, Model):
    """The HIS's request to return ``amount_fen`` of a stay's surplus deposits to the original payments.

    ``request_no`` is the HIS's number and unique: however often or concurrently the request arrives,
    it is carried out once, and the same request again answers the refunds made the first time.
    """

    __tablename__ = "deposit_refund_request"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_no: Mapped[str] = mapped_column(String(48), unique=True, nullable=False)
    inpatient_no: Mapped[str] = mapped_column(String(64), nullable=False, index=True)  # the stay (住院号)
    amount_fen: Mapped[int] = mapped_column(Integer, nullable=False)
    reason: Mapped[str] = mapped_column(String(200), nullable=False)

    parts: Mapped[list[DepositRefundPart]] = relationship(order_by="DepositRefundPart.id")


class DepositRefundPart(Model):
    """One refund of one deposit payment that a request was split into (newest payment first)."""

    __tablename__ = "deposit_refund_part"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("deposit_refund_request.id"), nullable=False, index=True)
    refund_id: Mapped[int] = mapped_column(ForeignKey("refund.id"), unique=True, nullable=False)

    refund: Mapped[Refund] = relationship()
