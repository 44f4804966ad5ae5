"""Follow / unfollow of the 服务号 and 服务窗, recorded per channel for follower analytics."""

from __future__ import annotations

import datetime as dt

from flask_babel import gettext as _
from sqlalchemy import select

from app.links import patient_url
from app.channels.events import ChannelEvent
from app.extensions import db
from app.models import ChannelUser, FollowEvent
from app.messages.notifications import notify
from app.services.uow import unit_of_work

WELCOME = "欢迎关注阳春市妇幼保健院！点击菜单即可预约挂号、门诊缴费、查询排队与报告。"


def welcome_text() -> str:
    return _("欢迎关注阳春市妇幼保健院！点击菜单即可预约挂号、门诊缴费、查询排队与报告。")


def record_follow_event(event: ChannelEvent) -> FollowEvent | None:
    """Record one event once (the channels retry pushes) and keep the account's follow state.

    A follower who never opened the H5 pages gets an account now, so later notices can reach them.
    On an Alipay follow, the welcome goes out as a notice (WeChat answers it in the passive reply).
    """
    if event.event not in ("subscribe", "unsubscribe"):
        return None
    with unit_of_work():
        seen = db.session.scalar(select(FollowEvent).where(
            FollowEvent.channel == event.channel, FollowEvent.channel_uid == event.uid,
            FollowEvent.event == event.event, FollowEvent.at == event.at))
        if seen is not None:
            return seen
        row = FollowEvent(channel=event.channel, channel_uid=event.uid, event=event.event, at=event.at)
        db.session.add(row)
        user = db.session.scalar(select(ChannelUser).where(ChannelUser.channel == event.channel,
                                                           ChannelUser.channel_uid == event.uid))
        if user is None:
            user = ChannelUser(channel=event.channel, channel_uid=event.uid)
            db.session.add(user)
        if event.event == "subscribe":
            user.subscribed, user.subscribed_at = True, event.at
        else:
            user.subscribed, user.unsubscribed_at = False, event.at
        db.session.flush()
        if event.channel == "alipay" and event.event == "subscribe":
            notify(user.id, "welcome", _("欢迎关注"), welcome_text(),
                   dedupe_key=f"welcome:{event.channel}:{event.uid}:{event.at:%Y%m%d%H%M%S}",
                   link=patient_url("h5.home"))
    return row


def follower_counts(channel: str, since: dt.datetime) -> dict[str, int]:
    """Follows and unfollows of one channel since ``since`` (for analytics)."""
    from sqlalchemy import func

    rows = db.session.execute(select(FollowEvent.event, func.count()).where(
        FollowEvent.channel == channel, FollowEvent.at >= since).group_by(FollowEvent.event))
    return {event: int(n) for event, n in rows}
