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

from flask import current_app, g, redirect, request, session, url_for

from app.extensions import db
from app.models import ChannelUser
from app.models.base import utcnow
from app.security.sessions import PATIENT_EPOCH, PATIENT_SINCE, patient_session_valid, revoke_patient

SESSION_KEY = "channel_user_id"
ACTIVE_KEY = "channel_user_seen"


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


def logout_user() -> None:
    """Sign out here and everywhere: a copy of any of this patient's session cookies stops working."""
    uid = session.get(SESSION_KEY)
    if uid and session.get(PATIENT_EPOCH) is not None:
        from app.services.uow import unit_of_work

        with unit_of_work():
            revoke_patient(uid)
    _forget()


def _forget() -> None:
    for key in (SESSION_KEY, ACTIVE_KEY, PATIENT_EPOCH, PATIENT_SINCE):
        session.pop(key, None)


def current_user() -> ChannelUser | None:
    """The signed-in channel user, or None when absent or idle for too long."""
    if "channel_user" in g:
        return g.channel_user
    user = None
    uid = session.get(SESSION_KEY)
    seen = session.get(ACTIVE_KEY)
    idle = dt.timedelta(minutes=int(current_app.config.get("H5_SESSION_IDLE_MINUTES", 30)))
    if uid and seen and utcnow() - dt.datetime.fromisoformat(seen) <= idle:
        user = db.session.get(ChannelUser, uid)
        if patient_session_valid(user, session.get(PATIENT_SINCE)):
            session[ACTIVE_KEY] = utcnow().isoformat()
        else:
            user = None
            _forget()
    elif uid:
        _forget()
    g.channel_user = user
    return user


def login_required(view: Callable) -> Callable:
    """Send a visitor without a (fresh) session to the channel's authorisation, then back here."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        if current_user() is None:
            return redirect(url_for("h5.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return wrapper
