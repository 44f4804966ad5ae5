"""Operators (操作员): list and search, edit (with department), deactivate, reset a password with a
forced change at the next sign-in, and the hook that enforces that change on every staff page."""

from __future__ import annotations

from flask import Flask, flash, g, redirect, request, url_for
from flask_appbuilder.actions import action
from flask_appbuilder.security.sqla.models import User
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from markupsafe import Markup
from flask_appbuilder import expose
from flask_appbuilder.security.decorators import has_access
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField
from wtforms.validators import DataRequired, Email, Length, Optional, Regexp

from app import clock
from app.admin.filters import AuditedModelView, CriteriaInterface, criterion
from app.backoffice import operators
from app.services.errors import DomainError
from app.services.formatting import mask_phone

# Pages an operator with a one-time password may still open.
OPEN_ENDPOINTS = {"ResetMyPasswordView.this_form_get", "ResetMyPasswordView.this_form_post",
                  "AuthDBView.login", "AuthDBView.logout", "static", "appbuilder.static", "LocaleView.index"}
OPEN_PREFIXES = ("/h5", "/api", "/notify", "/sandbox", "/static")


def _roles(roles) -> str:
    return ", ".join(operators.role_label(r.name) for r in roles or [])


class NewOperatorForm(FlaskForm):
    """新增操作员: what the hospital knows of a new colleague; email is optional."""

    username = StringField(_l("登录名"), validators=[
        DataRequired(message=_l("请填写登录名")),
        Regexp(r"^[A-Za-z][A-Za-z0-9_.-]{2,31}$", message=_l("登录名为 3 到 32 位字母、数字或 _ . -，以字母开头"))])
    name = StringField(_l("姓名"), validators=[DataRequired(message=_l("请填写姓名")), Length(max=32)])
    department = StringField(_l("科室"), validators=[DataRequired(message=_l("请填写科室")), Length(max=64)])
    phone = StringField(_l("手机号"), validators=[
        DataRequired(message=_l("请填写手机号")), Regexp(r"^1[3-9]\d{9}$", message=_l("请填写 11 位手机号"))])
    role = SelectField(_l("角色"), validators=[DataRequired(message=_l("请选择角色"))])
    email = StringField(_l("邮箱（可不填）"), validators=[Optional(), Email(message=_l("邮箱格式不正确")),
                                                     Length(max=64)])


class OperatorView(AuditedModelView):
    """操作员 for the administrator: Flask-AppBuilder's user rows with the hospital's department."""

    audit_target = "operator"
    audit_exclude = AuditedModelView.audit_exclude + ("login_count", "fail_login_count", "last_login",
                                                      "changed_by_fk", "created_by_fk", "operator_profile")
    datamodel = CriteriaInterface(User, {
        "username": [criterion("operator", "username", _l("开头是"))],
        "first_name": [criterion("operator", "name", _l("包含"))],
        "department": [criterion("operator", "department", _l("包含"))],
        "roles": [criterion("operator", "role", _l("等于"))],
        "active": [criterion("operator", "active", _l("等于"))],
    })
    base_permissions = ["can_list", "can_show", "can_edit", "can_deactivate", "can_reset_password", "can_unlock",
                        "can_reset_second_factor", "can_create"]
    method_permission_name = {"deactivate": "deactivate", "reset_password": "reset_password", "list": "list",
                              "create": "create",
                              "show": "show", "edit": "edit", "unlock": "unlock",
                              "reset_second_factor": "reset_second_factor"}
    base_order = ("id", "asc")
    list_columns = ["username", "first_name", "last_name", "operator_profile.department", "operator_profile.phone",
                    "roles", "last_login", "active"]
    show_columns = list_columns + ["email", "login_count", "fail_login_count", "created_on",
                                   "operator_profile.locked_until", "operator_profile.totp_enabled_at"]
    edit_columns = ["first_name", "last_name", "email", "department", "roles", "active"]
    search_columns = ["username", "first_name", "department", "roles", "active"]
    search_form_extra_fields = {
        "username": StringField(_l("登录名")), "first_name": StringField(_l("姓名")),
        "department": StringField(_l("科室")), "roles": StringField(_l("角色")),
        "active": SelectField(_l("启用"), choices=[("", ""), ("1", _l("是")), ("0", _l("否"))]),
    }
    edit_form_extra_fields = {"department": StringField(_l("科室"), validators=[Optional(), Length(max=64)])}
    label_columns = {"username": _l("登录名"), "first_name": _l("姓名"), "last_name": _l("职务/备注"),
                     "operator_profile.department": _l("科室"), "department": _l("科室"), "roles": _l("角色"),
                     "operator_profile.phone": _l("手机号"),
                     "last_login": _l("最近登录"), "active": _l("启用"), "email": _l("邮箱"),
                     "login_count": _l("登录次数"), "fail_login_count": _l("失败次数"), "created_on": _l("创建时间"),
                     "operator_profile.locked_until": _l("锁定至"),
                     "operator_profile.totp_enabled_at": _l("双因素认证启用时间")}
    formatters_columns = {"roles": _roles, "active": lambda v: _("是") if v else _("否"),
                          "operator_profile.phone": lambda v: mask_phone(v) if v else "",
                          "last_login": clock.display, "created_on": clock.display,
                          # an operator without a profile row gets "" from Flask-AppBuilder, not None
                          "operator_profile.locked_until": lambda at: clock.display(at or None),
                          "operator_profile.totp_enabled_at": lambda at: clock.display(at or None)}
    list_title = _l("操作员")
    show_title = _l("操作员详情")
    edit_title = _l("编辑操作员")

    @expose("/create/", methods=["GET", "POST"])
    @has_access
    def create(self):
        """新增操作员: login, name, 科室, phone, role (email optional); a one-time password shown once."""
        sm = self.appbuilder.sm
        form = NewOperatorForm()
        form.role.choices = [("", _("请选择"))] + [
            (r.name, operators.role_label(r.name)) for r in sm.get_all_roles() if r.name != sm.auth_role_public]
        if form.validate_on_submit():
            try:
                user, temporary = operators.create_operator(
                    username=form.username.data, name=form.name.data, department=form.department.data,
                    phone=form.phone.data, role_name=form.role.data, email=form.email.data, staff=g.user)
            except DomainError as exc:
                field = {"username_taken": form.username, "email_taken": form.email,
                         "role_required": form.role}.get(exc.code)
                if field is None:
                    flash(exc.message, "danger")
                else:
                    field.errors = [exc.message]
            else:
                flash(Markup(_("已新增操作员 %(user)s，临时密码：<code data-test=\"temp-password\">%(pw)s</code>"
                               "（仅显示一次，首次登录须修改）")) % {"user": user.username, "pw": temporary}, "warning")
                return redirect(url_for("OperatorView.list"))
        return self.render_template("backoffice/operator_new.html", title=_("新增操作员"), form=form)

    def prefill_form(self, form, pk) -> None:
        form.department.data = operators.department_of(int(pk))

    def pre_update(self, item) -> None:
        super().pre_update(item)
        department = request.form.get("department")
        operators.set_department(item.id, department, g.user)

    @action("deactivate", _l("停用"), _l("停用所选操作员？他们将无法登录。"), "fa-ban", multiple=True, single=False)
    def deactivate(self, items):
        items = items if isinstance(items, list) else [items]
        try:
            changed = operators.deactivate([u.id for u in items], g.user)
        except DomainError as exc:
            flash(exc.message, "danger")
        else:
            flash(_("已停用 %(n)d 个操作员", n=changed), "success")
        return redirect(url_for("OperatorView.list"))

    @action("reset_password", _l("重置密码"), _l("重置所选操作员的密码？他们下次登录时必须修改密码。"), "fa-key",
            multiple=True, single=False)
    def reset_password(self, items):
        items = items if isinstance(items, list) else [items]
        for user in items:
            temporary = operators.reset_password(user.id, g.user)
            flash(Markup(_("%(user)s 的临时密码：<code data-test=\"temp-password\">%(pw)s</code>（仅显示一次，"
                           "首次登录须修改）")) % {"user": user.username, "pw": temporary}, "warning")
        return redirect(url_for("OperatorView.list"))


    @action("unlock", _l("解锁"), _l("解除所选操作员的登录锁定？"), "fa-unlock", multiple=True, single=False)
    def unlock(self, items):
        items = items if isinstance(items, list) else [items]
        changed = operators.unlock([u.id for u in items], g.user)
        flash(_("已解锁 %(n)d 个操作员", n=changed), "success")
        return redirect(url_for("OperatorView.list"))

    @action("reset_second_factor", _l("重置双因素认证"), _l("清除所选操作员的双因素认证？他们须重新绑定验证器。"),
            "fa-mobile", multiple=True, single=False)
    def reset_second_factor(self, items):
        items = items if isinstance(items, list) else [items]
        changed = operators.reset_second_factor([u.id for u in items], g.user)
        flash(_("已重置 %(n)d 个操作员的双因素认证", n=changed), "success")
        return redirect(url_for("OperatorView.list"))


def enforce_password_change():
    """before_request: an operator whose password was reset may only change it (or sign out)."""
    # the path first: a patient's or the HIS's request never loads an operator (Flask-Login's loader)
    if request.path.startswith(OPEN_PREFIXES) or request.endpoint is None:
        return None
    if not current_user.is_authenticated or request.endpoint in OPEN_ENDPOINTS:
        return None
    if operators.must_change_password(current_user.id):
        flash(_("管理员已重置您的密码，请先设置新密码（“当前密码”填写临时密码）"), "warning")
        return redirect(url_for("ResetMyPasswordView.this_form_get"))
    return None


def install_password_guard(app: Flask) -> None:
    app.before_request(enforce_password_change)


