"""Staff sign-in (等保 2.0 level 3, identity): failure throttles per account and per client, lockout
after ``security.lockout_failures`` wrong passwords in a row, the second factor, and the guard that keeps
an operator on the password or 2FA page until they have done what the policy asks.

Every outcome is audited: staff.login, staff.login_failed, staff.login_throttled, staff.account_locked,
staff.login_refused_locked, staff.logout, staff.session_ended.
"""

from __future__ import annotations

import datetime as dt
import json

from flask import current_app, has_request_context, request, session
from flask_appbuilder.security.sqla.manager import SecurityManager
from flask_login import login_user

from app import clock
from app.extensions import db
from app.security import sessions
from app.security.errors import AccountLocked, TooManyAttempts
from app.security.throttle import Throttle
from app.services import audit
from app.services.uow import unit_of_work

PENDING_KEY = "_2fa_pending"  # {"uid": ..., "at": ...}: password right, second factor still to come
PENDING_MINUTES = 5


def account_throttle() -> Throttle:
    return Throttle.from_config("login.account", "LOGIN_FAILURES_PER_ACCOUNT", "10/900")


def client_throttle() -> Throttle:
    return Throttle.from_config("login.client", "LOGIN_FAILURES_PER_CLIENT", "30/900")


def client_address() -> str:
    """The client's address as ProxyFix left it (only the configured trusted proxies are believed)."""
    return (request.remote_addr if has_request_context() else None) or "-"


def _name(username: str | None) -> str:
    return (username or "").strip()[:64]


def _audit_commit(action: str, *, actor_id=None, username=None, **detail) -> None:
    with unit_of_work():
        audit.record(action, actor_type="staff", actor_id=None if actor_id is None else str(actor_id),
                     actor_name=_name(username), target_type="operator", target_id=actor_id,
                     detail=json.dumps(detail, ensure_ascii=False, default=str, sort_keys=True) if detail else None)


def check_throttles(username: str | None) -> None:
    """Refuse (429) before checking anything when this client or this account failed too often."""
    for throttle, key in ((client_throttle(), client_address()), (account_throttle(), _name(username).lower())):
        until = throttle.blocked_until(key)
        if until is not None:
            _audit_commit("staff.login_throttled", username=username, scope=throttle.scope,
                          until=clock.display(until))
            raise TooManyAttempts(until)


def count_failure(user, username: str | None, reason: str) -> None:
    """One failed password or code: counted per client and per account, audited, and the account
    locked once it reached the configured number of failures in a row."""
    from app.backoffice.operators import profile_of
    from app.services.settings import security_rules

    db.session.rollback()
    client_throttle().failed(client_address())
    account_throttle().failed(_name(username).lower())
    user_id = None if user is None else user.id
    _audit_commit("staff.login_failed", actor_id=user_id, username=username, reason=reason)
    if user is None:
        return
    user = db.session.get(type(user), user_id)
    rules = security_rules()
    if (user.fail_login_count or 0) >= rules.lockout_failures:
        until = clock.utcnow() + dt.timedelta(minutes=rules.lockout_minutes)
        with unit_of_work():
            profile_of(user.id).locked_until = until
            user.fail_login_count = 0  # after the lock ends, a fresh series of tries
            audit.record("staff.account_locked", actor_type="system", target_type="operator", target_id=user.id,
                         detail=json.dumps({"username": user.username, "failures": rules.lockout_failures,
                                            "minutes": rules.lockout_minutes}, ensure_ascii=False))
        raise AccountLocked(until)


def locked_until(user) -> dt.datetime | None:
    from sqlalchemy import select

    from app.models import OperatorProfile

    until = db.session.scalar(select(OperatorProfile.locked_until).where(OperatorProfile.user_id == user.id))
    return until if until is not None and until > clock.utcnow() else None


def authenticate(sm: SecurityManager, username: str | None, password: str | None):
    """The user whose password this is, or None; raises TooManyAttempts / AccountLocked."""
    check_throttles(username)
    user = sm.find_user(username=_name(username)) if _name(username) else None
    if user is not None:
        until = locked_until(user)
        if until is not None:
            _audit_commit("staff.login_refused_locked", actor_id=user.id, username=username)
            raise AccountLocked(until)
    result = SecurityManager.auth_user_db(sm, username, password)
    if result is None:
        count_failure(user, username, "password")
    return result


def unlock(user_id: int, staff) -> None:
    """An administrator ends a lock (the caller's unit of work commits)."""
    from app.backoffice.operators import _user, profile_of

    user = _user(user_id)
    profile = profile_of(user_id)
    audit.record_staff("staff.operator_unlock", staff, target_type="operator", target_id=user_id,
                       before={"locked_until": profile.locked_until}, after={"locked_until": None},
                       username=user.username)
    profile.locked_until = None
    user.fail_login_count = 0
    account_throttle().clear(user.username.lower())


def needs_second_factor(user) -> bool:
    from app.backoffice.operators import profile_of

    return bool(profile_of(user.id).totp_enabled_at)


def begin_second_factor(user) -> None:
    session[PENDING_KEY] = {"uid": user.id, "at": clock.utcnow().isoformat(timespec="seconds")}


def pending_user():
    """The operator between password and second factor (for PENDING_MINUTES), or None."""
    pending = session.get(PENDING_KEY) or {}
    try:
        at = dt.datetime.fromisoformat(pending["at"])
    except (KeyError, TypeError, ValueError):
        return None
    if clock.utcnow() - at > dt.timedelta(minutes=PENDING_MINUTES):
        session.pop(PENDING_KEY, None)
        return None
    user = current_app.appbuilder.sm.get_user_by_id(int(pending["uid"]))
    return user if user is not None and user.is_active else None


def verify_second_factor(user, code: str) -> str | None:
    """"totp" or "recovery_code" when ``code`` proves the second factor (a recovery code is used up, a
    TOTP code is never accepted twice), else None and the failure is counted (may raise AccountLocked).
    The caller checked the throttles first."""
    from app.security import totp
    from app.backoffice.operators import profile_of

    code = (code or "").strip()
    profile = profile_of(user.id)
    if totp.code_ok(totp.unseal(profile.totp_secret), code) and not totp.USED_CODES.seen_recently(f"{user.id}:{code}"):
        totp.USED_CODES.failed(f"{user.id}:{code}")  # a code seen at sign-in is refused for its whole validity
        return "totp"
    remaining = totp.use_recovery_code(profile.recovery_codes, code)
    if remaining is not None:
        with unit_of_work():
            profile.recovery_codes = remaining
            audit.record("staff.2fa_recovery_code_used", actor_type="staff", actor_id=str(user.id),
                         actor_name=user.username, target_type="operator", target_id=user.id)
        return "recovery_code"
    db.session.rollback()
    with unit_of_work():
        user = db.session.get(type(user), user.id)
        user.fail_login_count = (user.fail_login_count or 0) + 1
    count_failure(user, user.username, "second_factor")
    return None


def complete_login(user, second_factor: str | None = None) -> None:
    """Sign the operator in: a fresh session (no fixation), stamped for revocation, audited."""
    from app.backoffice.operators import profile_of

    keep = {k: v for k, v in session.items() if k in ("locale",)}
    session.clear()
    session.update(keep)
    login_user(user, remember=False)
    with unit_of_work():
        profile = profile_of(user.id)
        if profile.password_changed_at is None:  # the expiry clock starts at the first sign-in we see
            profile.password_changed_at = clock.utcnow()
        audit.record("staff.login", actor_type="staff", actor_id=str(user.id), actor_name=user.username,
                     target_type="operator", target_id=user.id,
                     detail=json.dumps({"second_factor": second_factor}) if second_factor else None)
    sessions.start_staff_session(user)


def logout(user) -> None:
    """Sign-out ends every session of the operator, on every browser."""
    with unit_of_work():
        sessions.revoke_staff(user.id)
        audit.record("staff.logout", actor_type="staff", actor_id=str(user.id), actor_name=user.username,
                     target_type="operator", target_id=user.id)
    sessions.end_staff_session()
