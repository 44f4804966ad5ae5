"""Channel users: a WeChat 服务号 follower or an Alipay 服务窗 user who signed in."""

from __future__ import annotations

import datetime as dt

from flask_appbuilder import Model
from sqlalchemy import Boolean, DateTime, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import TimestampMixin

CHANNELS = ("wechat", "alipay")


class ChannelUser(TimestampMixin, Model):
    """One person as one channel knows them: openid (服务号) or Alipay user id (服务窗)."""

    __tablename__ = "channel_user"
    __table_args__ = (
        UniqueConstraint("channel", "channel_uid", name="uq_channel_user_uid"),
        Index("ix_channel_user_channel_created", "channel", "created_at"),
        Index("ix_channel_user_unionid", "unionid"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16), nullable=False)  # wechat | alipay
    channel_uid: Mapped[str] = mapped_column(String(64), nullable=False)  # openid / alipay user_id
    unionid: Mapped[str | None] = mapped_column(String(64))
    nickname: Mapped[str | None] = mapped_column(String(64))
    avatar_url: Mapped[str | None] = mapped_column(String(255))
    subscribed: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    subscribed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    unsubscribed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    locale: Mapped[str | None] = mapped_column(String(8))
    # Raised by sign-out: every session cookie issued before ends at once (issue 15).
    session_epoch: Mapped[int] = mapped_column(Integer, default=0, server_default="0", nullable=False)

    def __repr__(self) -> str:
        return f"<ChannelUser {self.channel}:{self.id}>"
