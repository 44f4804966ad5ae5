"""Tables of the operations domain: the repair request (数据维护申请)."""

from __future__ import annotations

import datetime as dt

from flask_appbuilder import Model
from sqlalchemy import CheckConstraint, DateTime, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app import clock
from app.models.base import TimestampMixin


class RepairRequest(TimestampMixin, Model):
    """One correction of data broken by an operator's mistake: what, on which order, the values before
    and after, why, who proposed it and who (another person) approved or rejected it."""

    __tablename__ = "repair_request"
    __table_args__ = (
        # four eyes, in the database: nobody decides their own request (withdrawing is not deciding)
        CheckConstraint("status = 'withdrawn' OR decided_by_id IS NULL OR decided_by_id <> proposed_by_id",
                        name="ck_repair_request_four_eyes"),
        Index("ix_repair_request_status_created", "status", "created_at"),
        Index("ix_repair_request_target", "target_type", "target_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)          # RepairKind
    target_type: Mapped[str] = mapped_column(String(16), nullable=False)   # appointment | payment | refund
    target_id: Mapped[int] = mapped_column(Integer, nullable=False)
    order_no: Mapped[str] = mapped_column(String(40), nullable=False)
    field: Mapped[str] = mapped_column(String(32), nullable=False)         # phone | status
    before_value: Mapped[str | None] = mapped_column(String(64))
    after_value: Mapped[str] = mapped_column(String(64), nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="proposed")
    proposed_by_id: Mapped[int] = mapped_column(Integer, nullable=False)
    proposed_by: Mapped[str] = mapped_column(String(64), nullable=False)
    proposed_at: Mapped[dt.datetime] = mapped_column(DateTime, default=clock.utcnow, nullable=False)
    decided_by_id: Mapped[int | None] = mapped_column(Integer)
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    decision_note: Mapped[str | None] = mapped_column(String(255))
