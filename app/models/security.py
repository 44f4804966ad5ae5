"""Security bookkeeping (issue 15): failure counters behind login and card-binding throttles, the
passwords an operator used before, and the role grants a release already gave."""

from __future__ import annotations

import datetime as dt

from flask_appbuilder import Model
from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import utcnow


class AttemptCounter(Model):
    """Failures of one kind (``scope``) from one account, client or card (``key``) in one fixed window."""

    __tablename__ = "attempt_counter"
    __table_args__ = (UniqueConstraint("scope", "key", "window_start", name="uq_attempt_counter"),
                      Index("ix_attempt_counter_window", "window_start"))

    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(String(24), nullable=False)
    key: Mapped[str] = mapped_column(String(128), nullable=False)
    window_start: Mapped[dt.datetime] = mapped_column(DateTime, nullable=False)
    count: Mapped[int] = mapped_column(Integer, default=0, nullable=False)


class PasswordHistory(Model):
    """A password hash an operator had: the policy refuses the last few again."""

    __tablename__ = "password_history"
    __table_args__ = (Index("ix_password_history_user", "user_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("ab_user.id", ondelete="CASCADE"), nullable=False)
    password_hash: Mapped[str] = mapped_column(String(256), nullable=False)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, nullable=False)


class RoleGrant(Model):
    """A permission `flask roles sync` once gave a staff role: never given again, so an administrator's
    removal sticks across releases."""

    __tablename__ = "role_grant"
    __table_args__ = (UniqueConstraint("role", "view_menu", "permission", name="uq_role_grant"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    role: Mapped[str] = mapped_column(String(64), nullable=False)
    view_menu: Mapped[str] = mapped_column(String(250), nullable=False)
    permission: Mapped[str] = mapped_column(String(100), nullable=False)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, nullable=False)
