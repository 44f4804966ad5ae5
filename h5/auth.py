"""Who the patient is: the channel user in the session, and the decorator that requires one.

Identity comes only from the channel's authorisation (WeChat OAuth / Alipay auth code, or the
sandbox authorisation page in demo mode): see h5/routes/auth.py. The session holds the channel
user's id and when it was last active; it expires after inactivity (H5_SESSION_IDLE_MINUTES), after
its lifetime, and at once everywhere when the patient signs out (app/security/sessions.py).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable

from typing import NamedTuple

from flask import current_app, g, redirect, request, session, url_for
from sqlalchemy import bindparam, select

from app.extensions import db
from app.models import ChannelUser
from app.models.base import utcnow
from app.security.sessions import PATIENT_EPOCH, PATIENT_SINCE, patient_session_valid, revoke_patient
from app.services import uow

SESSION_KEY = "channel_user_id"
ACTIVE_KEY = "channel_user_seen"


class SessionEpoch(NamedTuple):
    """What ``patient_session_valid`` reads of the account (the sign-in reads no more)."""

    session_epoch: int


def detect_channel(user_agent: str | None) -> str | None:
    """'wechat' inside WeChat, 'alipay' inside Alipay, None in any other browser."""
    ua = (user_agent or "").lower()
    if "micromessenger" in ua:
        return "wechat"
    if "alipayclient" in ua:
        return "alipay"
    return None


def login_user(user: ChannelUser) -> None:
    session.clear()  # a fresh session on login: no fixation
    session[SESSION_KEY] = user.id
    session[ACTIVE_KEY] = session[PATIENT_SINCE] = utcnow().isoformat()
    session[PATIENT_EPOCH] = user.session_epoch
    session.permanent = True
    _forget_checked()


def logout_user() -> None:
    """Sign out here and everywhere: a copy of any of this patient's session cookies stops working."""
    uid = session.get(SESSION_KEY)
    if uid and session.get(PATIENT_EPOCH) is not None:
        with uow.unit_of_work():
            revoke_patient(uid)
    _forget()


def _forget() -> None:
    for key in (SESSION_KEY, ACTIVE_KEY, PATIENT_EPOCH, PATIENT_SINCE):
        session.pop(key, None)
    _forget_checked()


def _forget_checked() -> None:
    """This request's answer of ``current_user_id``/``current_user`` no longer holds (sign-in, sign-out)."""
    g.pop("channel_user_id", None)
    g.pop("channel_user", None)


#: the signed-in patient's cookie is written again when its "last seen" is at least this old (so a patient
#: clicking through pages is not sent a new cookie each time; the idle clock is at most this much early)
SEEN_REWRITE = dt.timedelta(seconds=30)


@functools.cache
def _epoch_statement():
    u = ChannelUser.__table__
    return select(u.c.session_epoch).where(u.c.id == bindparam("uid"))


def current_user_id() -> int | None:
    """The signed-in channel user's id, or None when absent, idle for too long, past its lifetime or
    revoked (signed out elsewhere): the session is checked against one column of the account, read as
    Core; the ORM row is loaded only by ``current_user()``."""
    if "channel_user_id" in g:
        return g.channel_user_id
    uid = session.get(SESSION_KEY)
    seen = session.get(ACTIVE_KEY)
    idle = dt.timedelta(minutes=int(current_app.config.get("H5_SESSION_IDLE_MINUTES", 30)))
    now = utcnow()
    checked = None
    if uid and seen and now - (last := dt.datetime.fromisoformat(seen)) <= idle:
        epoch = uow.execute(_epoch_statement(), {"uid": uid}).scalar()
        if epoch is not None and patient_session_valid(SessionEpoch(epoch), session.get(PATIENT_SINCE)):
            checked = uid
            if now - last >= SEEN_REWRITE:
                session[ACTIVE_KEY] = now.isoformat()
        else:
            _forget()
    elif uid:
        _forget()
    g.channel_user_id = checked
    return checked


def current_user() -> ChannelUser | None:
    """The signed-in channel user as its ORM row (loaded on first use in a request), or None."""
    if "channel_user" in g:
        return g.channel_user
    uid = current_user_id()
    g.channel_user = user = None if uid is None else db.session.get(ChannelUser, uid)
    return user


def login_required(view: Callable) -> Callable:
    """Send a visitor without a (fresh) session to the channel's authorisation, then back here."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        if current_user_id() is None:
            return redirect(url_for("h5.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return wrapper
