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

from app import clock
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
    from app.security import passwords

    user = _user(user_id)
    while True:  # one-time, yet it meets the policy like any other password
        temporary = "".join(secrets.choice(TEMP_PASSWORD_ALPHABET) for _ in range(10))
        if not passwords.problems(temporary, username=user.username):
            break
    passwords.remember(user.id, user.password)
    user.password = _hash(temporary)
    profile = profile_of(user.id)
    profile.must_change_password = True
    profile.password_changed_at = clock.utcnow()
    audit.record_staff("staff.operator_reset_password", staff, target_type="operator", target_id=user.id,
                       after={"must_change_password": True}, username=user.username)
    return temporary


@transaction
def set_password(user_id: int, password: str, staff) -> None:
    """Store a new password. Chosen by the operator themselves: the forced change is done. Set by
    someone else (Flask-AppBuilder's reset form): the operator must change it at the next sign-in."""
    from app.security import passwords

    user = _user(user_id)
    own = staff is not None and staff.id == user.id
    passwords.remember(user.id, user.password)
    user.password = _hash(password)
    profile = profile_of(user.id)
    profile.password_changed_at = clock.utcnow()
    before = profile.must_change_password
    profile.must_change_password = not own
    audit.record_staff("staff.password_changed" if own else "staff.operator_reset_password", staff,
                       target_type="operator", target_id=user.id,
                       before={"must_change_password": bool(before)},
                       after={"must_change_password": not own}, username=user.username)


@transaction
def unlock(user_ids: list[int], staff) -> int:
    """End the lockout of operators (audited); returns how many were locked."""
    from app.security.staff import locked_until, unlock as end_lock

    changed = 0
    for user_id in user_ids:
        was_locked = locked_until(_user(user_id)) is not None
        end_lock(user_id, staff)
        changed += was_locked
    return changed


@transaction
def reset_second_factor(user_ids: list[int], staff) -> int:
    """Remove operators' second factor (a lost phone): they enrol again at the next sign-in when their
    role requires it. Their sessions end (the second factor is part of the session's fingerprint)."""
    changed = 0
    for user_id in user_ids:
        user = _user(user_id)
        profile = profile_of(user.id)
        if profile.totp_enabled_at:
            profile.totp_secret = profile.totp_enabled_at = profile.recovery_codes = None
            audit.record_staff("staff.2fa_reset", staff, target_type="operator", target_id=user.id,
                               username=user.username)
            changed += 1
    return changed


#: the staff roles as the hospital names them (app/admin/roles.py): the role rows keep their stable English
#: names, which the configuration (AUTH_ROLE_ADMIN), `flask roles sync` and the grants key on; staff
#: read these everywhere (角色列表, 操作员, 权限矩阵, audit entries)
ROLE_LABELS = {"Admin": "系统管理员", "Finance": "财务", "Operations": "信息科运维", "Service desk": "服务台",
               "Public": "未登录访客", "User": "普通用户"}


def role_label(name: str) -> str:
    from flask_babel import gettext

    return gettext(ROLE_LABELS[name]) if name in ROLE_LABELS else name


@transaction
def create_operator(*, username: str, name: str, department: str, phone: str, role_name: str,
                    email: str | None, staff) -> tuple[object, str]:
    """A new operator with a one-time password (returned once) they must change at the first sign-in;
    audited with who created whom and with which role. The caller has validated the fields' shapes."""
    from app.security import passwords

    sm = current_app.appbuilder.sm
    username = username.strip()
    if sm.find_user(username=username) is not None:
        raise Conflict(_("登录名“%(name)s”已被使用", name=username), code="username_taken")
    role = sm.find_role(role_name)
    if role is None or role_name == sm.auth_role_public:
        raise Conflict(_("请选择角色"), code="role_required")
    email = (email or "").strip() or f"{username}@operators.invalid"  # FAB needs one; .invalid never delivers
    if sm.find_user(email=email) is not None:
        raise Conflict(_("邮箱“%(email)s”已被使用", email=email), code="email_taken")
    while True:
        temporary = "".join(secrets.choice(TEMP_PASSWORD_ALPHABET) for _ in range(12))
        if not passwords.problems(temporary, username=username):
            break
    user = _user_model()(username=username, first_name=name.strip(), last_name="",
                         email=email, active=True, password=_hash(temporary), roles=[role])
    db.session.add(user)
    db.session.flush()
    passwords.remember(user.id, user.password)
    profile = profile_of(user.id)
    profile.department, profile.phone = department.strip() or None, phone.strip()
    profile.must_change_password = True
    profile.password_changed_at = clock.utcnow()
    audit.record_staff("staff.operator_add", staff, target_type="operator", target_id=user.id,
                       after={"username": username, "name": name.strip(), "department": department.strip(),
                              "role": role_name}, username=username)
    return user, temporary
