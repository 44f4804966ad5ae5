"""The staff password policy (等保 2.0 level 3, identity): at least 10 characters of three classes, not
the login name, none of the last five; passwords age out after ``security.password_expiry_days``."""

from __future__ import annotations

import datetime as dt

from flask_babel import gettext as _
from sqlalchemy import delete, select
from werkzeug.security import check_password_hash

from app import clock
from app.extensions import db
from app.models import PasswordHistory

MIN_LENGTH = 10
MIN_CLASSES = 3
HISTORY = 5


def _classes(password: str) -> int:
    return sum((any(c.islower() for c in password), any(c.isupper() for c in password),
                any(c.isdigit() for c in password), any(not c.isalnum() for c in password)))


def problems(password: str, *, username: str | None = None, user_id: int | None = None) -> list[str]:
    """Why ``password`` is refused (translated), or an empty list."""
    found = []
    password = password or ""
    if len(password) < MIN_LENGTH:
        found.append(_("密码至少 %(n)d 位", n=MIN_LENGTH))
    if _classes(password) < MIN_CLASSES:
        found.append(_("密码须包含大写字母、小写字母、数字、符号中的至少三类"))
    name = (username or "").strip().lower()
    if name and len(name) >= 3 and name in password.lower():
        found.append(_("密码不能包含登录名"))
    if user_id is not None and password and used_recently(user_id, password):
        found.append(_("不能使用最近 %(n)d 次用过的密码", n=HISTORY))
    return found


def used_recently(user_id: int, password: str) -> bool:
    """True when ``password`` is the current one or one of the HISTORY - 1 before it."""
    from flask import current_app

    user = db.session.get(current_app.appbuilder.sm.user_model, int(user_id))
    hashes = [] if user is None or not user.password else [user.password]
    hashes += db.session.scalars(select(PasswordHistory.password_hash).where(PasswordHistory.user_id == user_id)
                                 .order_by(PasswordHistory.id.desc()).limit(HISTORY - 1)).all()
    return any(check_password_hash(h, password) for h in hashes)


def remember(user_id: int, password_hash: str | None) -> None:
    """Keep the hash being replaced in the history (the caller's unit of work), trimmed to the last
    HISTORY - 1 (with the current password, that makes the last HISTORY)."""
    if not password_hash:
        return
    db.session.add(PasswordHistory(user_id=user_id, password_hash=password_hash, at=clock.utcnow()))
    db.session.flush()
    keep = db.session.scalars(select(PasswordHistory.id).where(PasswordHistory.user_id == user_id)
                              .order_by(PasswordHistory.id.desc()).limit(HISTORY - 1)).all()
    db.session.execute(delete(PasswordHistory).where(PasswordHistory.user_id == user_id,
                                                     PasswordHistory.id.not_in(keep)))


def expired(changed_at: dt.datetime | None, expiry_days: int) -> bool:
    """True when a password set at ``changed_at`` (naive UTC) is older than the expiry (0 = never)."""
    return bool(expiry_days and changed_at is not None
                and clock.utcnow() - changed_at > dt.timedelta(days=expiry_days))


def fab_validator(password: str) -> None:
    """FAB_PASSWORD_COMPLEXITY_VALIDATOR: FAB's own forms (用户列表 add) refuse a weak password too."""
    from flask import has_request_context, request
    from wtforms.validators import ValidationError

    username = request.form.get("username") if has_request_context() else None
    found = problems(password, username=username)
    if found:
        raise ValidationError("；".join(found))
