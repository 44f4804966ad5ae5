"""Server-side control of sign-in sessions (staff and patients).

The session cookie is signed, not stored, so a copied cookie would live as long as its signature. Each
session therefore carries a *fingerprint* of what its owner's sessions may depend on — for staff the
password hash, the roles, the 2FA state and a revocation counter (``session_epoch``); for patients the
counter — checked against the database on every request. Signing out raises the counter, so every
session of that person ends at once; a password, role or 2FA change ends them by changing the
fingerprint; a disabled operator is refused by Flask-AppBuilder's loader. Staff sessions also end after
``security.staff_idle_minutes`` idle and ``security.staff_session_hours`` in all; patient sessions after
H5_SESSION_IDLE_MINUTES idle and H5_SESSION_MAX_HOURS in all.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac

from flask import current_app, session
from sqlalchemy import update

from app import clock
from app.extensions import db

STAFF_PRINT = "_staff_print"
STAFF_SEEN = "_staff_seen"
STAFF_SINCE = "_staff_since"
PATIENT_EPOCH = "channel_user_epoch"
PATIENT_SINCE = "channel_user_since"
FLASK_LOGIN_KEYS = ("_user_id", "_fresh", "_id", "_remember", "_remember_seconds")


def _digest(*parts) -> str:
    key = str(current_app.config["SECRET_KEY"]).encode()
    return hmac.new(key, "|".join(str(p) for p in parts).encode(), hashlib.sha256).hexdigest()[:32]


def staff_fingerprint(user, profile) -> str:
    roles = ",".join(sorted(r.name for r in user.roles or []))
    epoch = 0 if profile is None else profile.session_epoch
    second_factor = bool(profile is not None and profile.totp_enabled_at)
    return _digest("staff", user.id, user.password, roles, epoch, second_factor)


def _stamp(now: dt.datetime) -> str:
    return now.isoformat(timespec="seconds")


def start_staff_session(user) -> None:
    """Stamp a new staff session (called once the sign-in, second factor included, is complete)."""
    from app.backoffice.operators import profile_of

    now = clock.utcnow()
    session[STAFF_PRINT] = staff_fingerprint(user, profile_of(user.id))
    session[STAFF_SINCE] = session[STAFF_SEEN] = _stamp(now)


def refresh_staff_session(user) -> None:
    """Keep the current session after its owner changed something the fingerprint covers (their own
    password, their second factor): every *other* session of theirs ends."""
    from app.backoffice.operators import profile_of

    session[STAFF_PRINT] = staff_fingerprint(user, profile_of(user.id))


def staff_session_problem(user) -> str | None:
    """Why this request's staff session must end ('revoked' | 'idle' | 'expired'), or None (and the
    idle clock restarts)."""
    from sqlalchemy import select

    from app.models import OperatorProfile
    from app.services.settings import security_rules

    profile = db.session.scalar(select(OperatorProfile).where(OperatorProfile.user_id == user.id))
    if not hmac.compare_digest(str(session.get(STAFF_PRINT, "")), staff_fingerprint(user, profile)):
        return "revoked"
    rules = security_rules()
    now = clock.utcnow()
    try:
        seen = dt.datetime.fromisoformat(session[STAFF_SEEN])
        since = dt.datetime.fromisoformat(session[STAFF_SINCE])
    except (KeyError, TypeError, ValueError):
        return "revoked"
    if now - since > dt.timedelta(hours=rules.staff_session_hours):
        return "expired"
    if now - seen > dt.timedelta(minutes=rules.staff_idle_minutes):
        return "idle"
    if now - seen >= dt.timedelta(seconds=30):  # rewrite the cookie at most twice a minute
        session[STAFF_SEEN] = _stamp(now)
    return None


def end_staff_session() -> None:
    """Drop the staff keys of this cookie (a patient signed in on the same browser stays)."""
    for key in (*FLASK_LOGIN_KEYS, STAFF_PRINT, STAFF_SEEN, STAFF_SINCE):
        session.pop(key, None)


def revoke_staff(user_id: int) -> None:
    """End every session of an operator (the caller's unit of work commits)."""
    from app.backoffice.operators import profile_of

    profile = profile_of(user_id)
    profile.session_epoch = (profile.session_epoch or 0) + 1


def revoke_patient(channel_user_id: int) -> None:
    """End every session of a patient (the caller's unit of work commits)."""
    from app.models import ChannelUser

    db.session.execute(update(ChannelUser).where(ChannelUser.id == channel_user_id)
                       .values(session_epoch=ChannelUser.session_epoch + 1))


def patient_session_valid(user, since: str | None) -> bool:
    """The patient's cookie still belongs to a live session: not revoked, not past its lifetime."""
    if user is None or session.get(PATIENT_EPOCH) != user.session_epoch:
        return False
    try:
        started = dt.datetime.fromisoformat(since or "")
    except ValueError:
        return False
    hours = int(current_app.config.get("H5_SESSION_MAX_HOURS", 7 * 24))
    return clock.utcnow() - started <= dt.timedelta(hours=hours)
