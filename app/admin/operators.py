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
from wtforms import SelectField, StringField
from wtforms.validators import Length, Optional

from app.admin.filters import AuditedModelView, CriteriaInterface, criterion
from app.services import operators
from app.services.errors import DomainError

# Pages an operator with a one-time password may still open.
OPEN_ENDPOINTS = {"ResetMyPasswordView.this_form_get", "ResetMyPasswordView.this_form_post",
                  "AuthDBView.login", "AuthDBView.logout", "static", "appbuilder.static", "LocaleView.index"}
OPEN_PREFIXES = ("/h5", "/api", "/notify", "/sandbox", "/static")


def _roles(roles) -> str:
    return ", ".join(r.name for r in roles or [])


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
    base_permissions = ["can_list", "can_show", "can_edit", "can_deactivate", "can_reset_password"]
    method_permission_name = {"deactivate": "deactivate", "reset_password": "reset_password", "list": "list",
                              "show": "show", "edit": "edit"}
    base_order = ("id", "asc")
    list_columns = ["username", "first_name", "last_name", "operator_profile.department", "roles", "last_login",
                    "active"]
    show_columns = list_columns + ["email", "login_count", "fail_login_count", "created_on"]
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
                     "last_login": _l("最近登录"), "active": _l("启用"), "email": _l("邮箱"),
                     "login_count": _l("登录次数"), "fail_login_count": _l("失败次数"), "created_on": _l("创建时间")}
    formatters_columns = {"roles": _roles, "active": lambda v: _("是") if v else _("否"),
                          "last_login": lambda v: v.strftime("%Y-%m-%d %H:%M:%S") if v else "",
                          "created_on": lambda v: v.strftime("%Y-%m-%d %H:%M:%S") if v else ""}
    list_title = _l("操作员")
    show_title = _l("操作员详情")
    edit_title = _l("编辑操作员")

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


def enforce_password_change():
    """before_request: an operator whose password was reset may only change it (or sign out)."""
    if not current_user.is_authenticated or request.endpoint in OPEN_ENDPOINTS:
        return None
    if request.path.startswith(OPEN_PREFIXES) or request.endpoint is None:
        return None
    if operators.must_change_password(current_user.id):
        flash(_("管理员已重置您的密码，请先设置新密码"), "warning")
        return redirect(url_for("ResetMyPasswordView.this_form_get"))
    return None


def install_password_guard(app: Flask) -> None:
    app.before_request(enforce_password_change)


