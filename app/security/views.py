"""Back-office security pages on Flask-AppBuilder's hooks: sign-in with throttles, lockout and the second
factor; the password change that asks for the current password and applies the policy; 2FA enrolment;
用户列表 and 角色列表 whose every change is audited by name. Class names stay Flask-AppBuilder's so
permissions and links keep working."""

from __future__ import annotations

import functools
import json

from flask import current_app, flash, g, redirect, render_template, request, session, url_for
from flask_appbuilder import BaseView, expose
from flask_appbuilder.fieldwidgets import BS3PasswordFieldWidget
from flask_appbuilder.forms import DynamicForm
from flask_appbuilder.security.forms import LoginForm_db
from flask_appbuilder.security.views import AuthDBView as FabAuthDBView
from flask_appbuilder.security.views import ResetMyPasswordView as FabResetMyPasswordView
from flask_appbuilder.security.views import ResetPasswordView as FabResetPasswordView
from flask_appbuilder.security.views import RoleModelView as FabRoleModelView
from flask_appbuilder.security.views import UserDBModelView as FabUserDBModelView
from flask_appbuilder.utils.base import get_safe_redirect
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import logout_user
from markupsafe import Markup
from werkzeug.security import check_password_hash
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, ValidationError

from app import clock
from app.extensions import db
from app.security import passwords, sessions, staff, totp
from app.security.errors import AccountLocked, TooManyAttempts
from app.security.throttle import minutes_left
from app.services import audit
from app.services.uow import unit_of_work

NEXT_KEY = "_2fa_next"
ENROL_KEY = "_2fa_enrol"
SAME_PASSWORD = EqualTo("password", message=_l("两次输入的密码不一致"))
POLICY_HINT = _l("至少 10 位，包含大写字母、小写字母、数字、符号中的至少三类，不含登录名，不与最近 5 次相同")


def refused_page(refused):
    """The Chinese page for a throttled sign-in (429) or a locked account (423)."""
    until = clock.display(refused.until, "%H:%M")
    if isinstance(refused, AccountLocked):
        title = _("账号已锁定")
        left = minutes_left(refused.until)
        message = _("多次输错密码或验证码，账号已锁定。请于 %(time)s（约 %(n)d 分钟后）再试，或联系系统管理员解锁。",
                    time=until, n=left)
    else:
        title = _("尝试次数过多")
        message = _("失败次数过多，请于 %(time)s（约 %(n)d 分钟后）再试。", time=until, n=minutes_left(refused.until))
    return render_template("security/refused.html", title=title, message=message,
                           appbuilder=current_app.appbuilder,
                           base_template=current_app.appbuilder.base_template), refused.code


class AuthDBView(FabAuthDBView):
    """员工登录: throttled, locked after repeated failures, then the second factor when enrolled."""

    invalid_login_message = _l("登录名或密码错误")
    title = _l("员工登录")

    @expose("/login/", methods=["GET", "POST"])
    def login(self):
        if g.user is not None and g.user.is_authenticated:
            return redirect(self._get_safe_next_url())
        form = LoginForm_db()
        if form.validate_on_submit():
            next_url = get_safe_redirect(request.args.get("next", ""))
            try:
                user = self.appbuilder.sm.auth_user_db(form.username.data, form.password.data)
            except (TooManyAttempts, AccountLocked) as refused:
                return refused_page(refused)
            if not user:
                flash(str(self.invalid_login_message), "warning")
                return redirect(self.appbuilder.get_url_for_login_with(next_url))
            if staff.needs_second_factor(user):
                staff.begin_second_factor(user)
                session[NEXT_KEY] = next_url
                return redirect(url_for("SecondFactorView.verify"))
            staff.complete_login(user)
            return redirect(next_url)
        return self.render_template(self.login_template, title=self.title, form=form, appbuilder=self.appbuilder)

    @expose("/logout/")
    def logout(self):
        user = self._get_authenticated_user()
        if user is not None:
            staff.logout(user)
        logout_user()
        sessions.end_staff_session()
        return redirect(self.appbuilder.get_url_for_index)


class SecondFactorForm(DynamicForm):
    code = StringField(_l("动态验证码或恢复码"), validators=[DataRequired()])


class SecondFactorView(BaseView):
    """The second step of a sign-in: the authenticator's 6-digit code, or one recovery code."""

    route_base = "/login/second-factor"
    default_view = "verify"

    @expose("/", methods=["GET", "POST"])
    def verify(self):
        user = staff.pending_user()
        if user is None:
            flash(_("验证已超时，请重新登录"), "warning")
            return redirect(self.appbuilder.get_url_for_login)
        form = SecondFactorForm()
        if form.validate_on_submit():
            try:
                staff.check_throttles(user.username)
                method = staff.verify_second_factor(user, form.code.data)
            except TooManyAttempts as refused:
                return refused_page(refused)
            except AccountLocked as refused:
                session.pop(staff.PENDING_KEY, None)
                return refused_page(refused)
            if method is None:
                flash(_("验证码错误，请重新输入"), "warning")
                return redirect(url_for("SecondFactorView.verify"))
            session.pop(staff.PENDING_KEY, None)
            next_url = session.pop(NEXT_KEY, None) or self.appbuilder.get_url_for_index
            staff.complete_login(user, second_factor=method)
            return redirect(get_safe_redirect(next_url))
        return self.render_template("security/second_factor.html", form=form, title=_("双因素验证"),
                                    username=user.username)


def staff_only(view):
    """Any signed-in operator (their own security settings need no extra permission)."""

    @functools.wraps(view)
    def wrapper(self, *args, **kwargs):
        if g.user is None or not g.user.is_authenticated:
            return redirect(self.appbuilder.get_url_for_login_with(request.full_path))
        return view(self, *args, **kwargs)

    return wrapper


class TotpCodeForm(DynamicForm):
    code = StringField(_l("动态验证码"), validators=[DataRequired()])


class TwoFactorView(BaseView):
    """An operator's own second factor: enrol (QR drawn here), see whether it is on."""

    route_base = "/my-security"
    default_view = "two_factor"

    @expose("/two-factor/", methods=["GET", "POST"])
    @staff_only
    def two_factor(self):
        from app.backoffice.operators import profile_of

        user = g.user
        profile = profile_of(user.id)
        if profile.totp_enabled_at:
            db.session.rollback()
            return self.render_template("security/two_factor.html", title=_("双因素认证"), enabled=True,
                                        enabled_at=clock.display(profile.totp_enabled_at),
                                        remaining=len(json.loads(profile.recovery_codes or "[]")))
        secret = totp.unseal(session.get(ENROL_KEY))
        if secret is None:
            secret = totp.new_secret()
            session[ENROL_KEY] = totp.seal(secret)
        form = TotpCodeForm()
        if form.validate_on_submit():
            if totp.code_ok(secret, form.code.data):
                codes, stored = totp.new_recovery_codes()
                with unit_of_work():
                    profile.totp_secret = totp.seal(secret)
                    profile.totp_enabled_at = clock.utcnow()
                    profile.recovery_codes = stored
                    audit.record_staff("staff.2fa_enrol", user, target_type="operator", target_id=user.id,
                                       username=user.username)
                session.pop(ENROL_KEY, None)
                sessions.refresh_staff_session(user)
                return self.render_template("security/recovery_codes.html", title=_("恢复码"), codes=codes)
            form.code.errors = [_("验证码不正确，请核对手机时间后重试")]
        db.session.rollback()
        uri = totp.provisioning_uri(secret, user.username)
        return self.render_template("security/two_factor.html", title=_("双因素认证"), enabled=False, form=form,
                                    qr=Markup(totp.qr_svg(uri)), secret=secret,
                                    required=staff_requires_totp(user))


def staff_requires_totp(user) -> bool:
    from app.services.settings import security_rules

    required = set(security_rules().totp_required_roles)
    return any(r.name in required for r in user.roles or [])


# --- passwords -------------------------------------------------------------------------------------

def _policy(target_user):
    """A WTForms validator applying the password policy for ``target_user()``."""

    def validate(form, field):
        user = target_user()
        found = passwords.problems(field.data, username=getattr(user, "username", None),
                                   user_id=getattr(user, "id", None))
        if found:
            raise ValidationError("；".join(found))

    return validate


def _current_password_ok(form, field):
    user = g.user
    blocked = staff.account_throttle().blocked_until(user.username.lower())
    if blocked is not None:
        raise ValidationError(_("失败次数过多，请于 %(n)d 分钟后再试", n=minutes_left(blocked)))
    if not check_password_hash(user.password, field.data or ""):
        staff.account_throttle().failed(user.username.lower())
        with unit_of_work():
            audit.record_staff("staff.password_change_refused", user, target_type="operator", target_id=user.id,
                               reason="current_password")
        raise ValidationError(_("当前密码不正确"))


class ChangePasswordForm(DynamicForm):
    current_password = PasswordField(_l("当前密码"), validators=[DataRequired(), _current_password_ok],
                                     widget=BS3PasswordFieldWidget())
    password = PasswordField(_l("新密码"), description=POLICY_HINT,
                             validators=[DataRequired(), _policy(lambda: g.user)], widget=BS3PasswordFieldWidget())
    conf_password = PasswordField(_l("确认新密码"), validators=[SAME_PASSWORD], widget=BS3PasswordFieldWidget())


def _reset_target():
    pk = request.args.get("pk")
    return None if not (pk or "").isdigit() else current_app.appbuilder.sm.get_user_by_id(int(pk))


class SetPasswordForm(DynamicForm):
    password = PasswordField(_l("新密码"), description=POLICY_HINT,
                             validators=[DataRequired(), _policy(_reset_target)], widget=BS3PasswordFieldWidget())
    conf_password = PasswordField(_l("确认新密码"), validators=[SAME_PASSWORD], widget=BS3PasswordFieldWidget())


class ResetMyPasswordView(FabResetMyPasswordView):
    """修改密码: the current password first, then a new one the policy accepts."""

    form = ChangePasswordForm
    # named, so Flask-AppBuilder does not freeze the fields of its first request (csrf_token included when
    # CSRF happened to be on) into the view for good
    form_columns = ["current_password", "password", "conf_password"]
    form_title = _l("修改密码")
    message = _l("密码已修改，您在其他设备上的登录已失效")

    def form_post(self, form) -> None:
        self.appbuilder.sm.reset_password(g.user.id, form.password.data)
        sessions.refresh_staff_session(g.user)
        flash(str(self.message), "info")


class ResetPasswordView(FabResetPasswordView):
    form = SetPasswordForm
    form_columns = ["password", "conf_password"]
    form_title = _l("设置密码")
    message = _l("密码已设置，该操作员下次登录时须修改")


# --- 用户列表 and 角色列表, audited by name ------------------------------------------------------------

def _names(items) -> list[str]:
    return sorted(str(getattr(i, "name", i)) for i in items or [])


def _user_snapshot(user) -> dict:
    return {"username": user.username, "name": f"{user.first_name or ''}{user.last_name or ''}",
            "email": user.email, "active": bool(user.active), "roles": _names(user.roles)}


class UserDBModelView(FabUserDBModelView):
    """用户列表: creating, editing, disabling and deleting an operator are audited, roles by name."""

    def process_form(self, form, is_created: bool) -> None:
        # Called before the form is written into the row: remember the row as it was (Flask-AppBuilder's
        # own queries flush the session before pre_update, which wipes SQLAlchemy's change history).
        super().process_form(form, is_created)
        pk = (request.view_args or {}).get("pk")
        if not is_created and pk is not None:
            item = self.datamodel.get(pk)
            g._operator_before = None if item is None else _user_snapshot(item)

    def post_add(self, item) -> None:
        with unit_of_work():
            audit.record_staff("staff.operator_create", g.user, target_type="operator", target_id=item.id,
                               after=_user_snapshot(item))

    def pre_update(self, item) -> None:
        was = g.pop("_operator_before", None) or {}
        now = _user_snapshot(item)
        before = {k: v for k, v in was.items() if now.get(k) != v}
        after = {k: now[k] for k in before}
        if after:
            action = "staff.operator_disable" if after.get("active") is False else "staff.operator_edit"
            audit.record_staff(action, g.user, target_type="operator", target_id=item.id, before=before,
                               after=after, username=item.username)
        super().pre_update(item)

    def pre_delete(self, item) -> None:
        super().pre_delete(item)
        audit.record_staff("staff.operator_delete", g.user, target_type="operator", target_id=item.id,
                           before=_user_snapshot(item))


def _permission_names(pvms) -> list[str]:
    return sorted(f"{p.permission.name} on {p.view_menu.name}" for p in pvms or [] if p.permission and p.view_menu)


def _built_in_role(pk) -> str | None:
    """The configuration key of the role at ``pk`` when it is one of the hospital's own roles."""
    from app.backoffice.operators import ROLE_LABELS

    role = db.session.get(current_app.appbuilder.sm.role_model, pk) if pk is not None else None
    return role.name if role is not None and role.name in ROLE_LABELS else None


class BuiltInRoleKeepsItsName:
    """编辑角色: the configuration (AUTH_ROLE_ADMIN …) and `flask roles sync` find these roles by key."""

    def __call__(self, form, field) -> None:
        key = _built_in_role((request.view_args or {}).get("pk"))
        if key is not None and field.data != key:
            field.data = key  # the box shows the key again, not what would have been lost
            raise ValidationError(_("内置角色的名称供系统配置使用，不能修改"))


class RoleModelView(FabRoleModelView):
    """角色列表: adding, renaming, granting, revoking and deleting are audited with permission names.

    A built-in role's name box is read-only and says which role it is in Chinese (the row keeps its
    English key); a role the hospital added is renamed freely."""

    validators_columns = {"name": [DataRequired(), BuiltInRoleKeepsItsName()]}

    def _get_edit_widget(self, form, exclude_cols=None, widgets=None):
        from app.backoffice.operators import role_label

        key = _built_in_role((request.view_args or {}).get("pk"))
        if key is not None and "name" in form:
            form.name.render_kw = {**(form.name.render_kw or {}), "readonly": True}
            form.name.description = _("内置角色「%(label)s」：名称是系统配置使用的键，不能修改；"
                                      "权限可在下方或权限矩阵中调整", label=role_label(key))
        return super()._get_edit_widget(form, exclude_cols=exclude_cols, widgets=widgets)

    def process_form(self, form, is_created: bool) -> None:
        super().process_form(form, is_created)
        pk = (request.view_args or {}).get("pk")
        if not is_created and pk is not None:
            item = self.datamodel.get(pk)
            g._role_before = None if item is None else (item.name, _permission_names(item.permissions))

    def post_add(self, item) -> None:
        with unit_of_work():
            audit.record_staff("staff.role_create", g.user, target_type="role", target_id=item.id,
                               after={"name": item.name, "permissions": _permission_names(item.permissions)})

    def pre_update(self, item) -> None:
        name, permissions = g.pop("_role_before", None) or (item.name, [])
        now = _permission_names(item.permissions)
        before, after = {}, {}
        if name != item.name:
            before["name"], after["name"] = name, item.name
        removed = sorted(set(permissions) - set(now))
        added = sorted(set(now) - set(permissions))
        if removed:
            before["permissions"] = removed
        if added:
            after["permissions"] = added
        if before or after:
            audit.record_staff("staff.role_permissions", g.user, target_type="role", target_id=item.id,
                               before=before or None, after=after or None, role=item.name)

    def pre_delete(self, item) -> None:
        super().pre_delete(item)
        audit.record_staff("staff.role_delete", g.user, target_type="role", target_id=item.id,
                           before={"name": item.name, "permissions": _permission_names(item.permissions)})
