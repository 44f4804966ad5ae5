"""Back-office operators (操作员): department, deactivation, password resets with a forced change.

The user row is Flask-AppBuilder's (ab_user); what the hospital adds lives in OperatorProfile. A reset
gives a one-time password and sets ``must_change_password``: until the operator picks their own, every
back-office page sends them to the change-password form (see app/admin/operators.py).
"""

from __future__ import annotations

import secrets
import string

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select
from werkzeug.security import generate_password_hash

from app.extensions import db
from app.models import OperatorProfile
from app.services import audit
from app.services.errors import Conflict, NotFound
from app.services.uow import transaction

TEMP_PASSWORD_ALPHABET = "".join(c for c in string.ascii_letters + string.digits if c not in "0O1lI")


def _user_model():
    return current_app.appbuilder.sm.user_model


def _user(user_id: int):
    user = db.session.get(_user_model(), int(user_id))
    if user is None:
        raise NotFound(_("操作员不存在"))
    return user


def _user_condition(build):
    return lambda v: build(v.strip()) if v.strip() else None


def _role_condition(name: str):
    model = _user_model()
    return model.roles.any(current_app.appbuilder.sm.role_model.name == name)


def _department_condition(text: str):
    return _user_model().id.in_(select(OperatorProfile.user_id)
                                .where(OperatorProfile.department.contains(text, autoescape=True)))


def _name_condition(text: str):
    model = _user_model()
    return (model.first_name + model.last_name).contains(text, autoescape=True) | \
        model.first_name.contains(text, autoescape=True) | model.last_name.contains(text, autoescape=True)


def _active_condition(text: str):
    return _user_model().active.is_(text in ("1", "true", "y", "yes"))


# Search criteria of the operator list (key -> text -> SQL condition), used by app/admin/operators.py.
CRITERIA = {
    "username": _user_condition(lambda v: _user_model().username.startswith(v, autoescape=True)),
    "name": _user_condition(_name_condition),
    "department": _user_condition(_department_condition),
    "role": _user_condition(_role_condition),
    "active": _user_condition(_active_condition),
}


def profile_of(user_id: int) -> OperatorProfile:
    """The operator's profile, created (in the current unit of work) when missing."""
    profile = db.session.scalar(select(OperatorProfile).where(OperatorProfile.user_id == user_id))
    if profile is None:
        profile = OperatorProfile(user_id=user_id, must_change_password=False)
        db.session.add(profile)
    return profile


def department_of(user_id: int) -> str | None:
    return db.session.scalar(select(OperatorProfile.department).where(OperatorProfile.user_id == user_id))


def set_department(user_id: int, department: str | None, staff) -> None:
    """Change an operator's department in the caller's unit of work, audited when it changes."""
    profile = profile_of(user_id)
    new = (department or "").strip() or None
    if profile.department != new:
        audit.record_staff("staff.operator_department", staff, target_type="operator", target_id=user_id,
                           before={"department": profile.department}, after={"department": new})
        profile.department = new


def must_change_password(user_id: int) -> bool:
    return bool(db.session.scalar(select(OperatorProfile.must_change_password)
                                  .where(OperatorProfile.user_id == user_id)))


def _hash(password: str) -> str:
    return generate_password_hash(password, method=current_app.config.get("FAB_PASSWORD_HASH_METHOD", "scrypt"),
                                  salt_length=current_app.config.get("FAB_PASSWORD_HASH_SALT_LENGTH", 16))


@transaction
def deactivate(user_ids: list[int], staff) -> int:
    """Deactivate operators (they can no longer sign in; their history stays). Returns how many changed.
    Nobody deactivates their own account, so an administrator cannot lock themselves out."""
    changed = 0
    for user_id in user_ids:
        user = _user(user_id)
        if staff is not None and user.id == staff.id:
            raise Conflict(_("不能停用自己的账号"))
        if user.active:
            user.active = False
            audit.record_staff("staff.operator_deactivate", staff, target_type="operator", target_id=user.id,
                               before={"active": True}, after={"active": False}, username=user.username)
            changed += 1
    return changed


@transaction
def reset_password(user_id: int, staff) -> str:
    """Give the operator a random one-time password (returned once, never stored in clear) and force
    them to choose their own at the next sign-in."""
    user = _user(user_id)
    temporary = "".join(secrets.choice(TEMP_PASSWORD_ALPHABET) for _ in range(10))
    user.password = _hash(temporary)
    profile_of(user.id).must_change_password = True
    audit.record_staff("staff.operator_reset_password", staff, target_type="operator", target_id=user.id,
                       after={"must_change_password": True}, username=user.username)
    return temporary


@transaction
def set_password(user_id: int, password: str, staff) -> None:
    """Store a new password. Chosen by the operator themselves: the forced change is done. Set by
    someone else (Flask-AppBuilder's reset form): the operator must change it at the next sign-in."""
    user = _user(user_id)
    own = staff is not None and staff.id == user.id
    user.password = _hash(password)
    profile = profile_of(user.id)
    before = profile.must_change_password
    profile.must_change_password = not own
    audit.record_staff("staff.password_changed" if own else "staff.operator_reset_password", staff,
                       target_type="operator", target_id=user.id,
                       before={"must_change_password": bool(before)},
                       after={"must_change_password": not own}, username=user.username)
