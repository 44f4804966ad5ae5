"""权限矩阵: every menu and the buttons behind it (查看/新增/修改/删除/导出/取消/退费 …) per role, in
Chinese instead of Flask-AppBuilder's ``can_x on YView`` strings; an administrator ticks and saves, and
each role's change is audited by name (what was granted, what was taken away)."""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import flash, g, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.services import audit
from app.backoffice import operators
from app.services.uow import unit_of_work

#: what each permission lets a person do, as the hospital says it
ACTIONS = {
    "menu_access": _l("菜单可见"), "can_list": _l("查看"), "can_show": _l("查看详情"), "can_add": _l("新增"),
    "can_edit": _l("修改"), "can_delete": _l("删除"), "can_export": _l("导出"), "can_cancel_order": _l("取消"),
    "can_mark_attendance": _l("标记就诊"), "can_resolve_his": _l("向医院核实/退费"), "can_retry": _l("重试退费"),
    "can_resolve": _l("处理差异"), "can_rerun": _l("重新对账"), "can_download": _l("下载"), "can_search": _l("查询"),
    "can_index": _l("查看"), "can_create": _l("新增"), "can_deactivate": _l("停用"),
    "can_reset_password": _l("重置密码"), "can_unlock": _l("解锁"), "can_reset_second_factor": _l("重置双因素"),
    "can_approve": _l("审批"), "can_reject": _l("驳回"), "can_this_form_get": _l("打开表单"),
    "can_this_form_post": _l("提交表单"), "can_userinfo": _l("个人信息"), "resetmypassword": _l("修改本人密码"),
    "resetpasswords": _l("重置他人密码"), "userinfoedit": _l("编辑个人信息"), "can_copyrole": _l("复制角色"),
    "can_chart": _l("图表"), "can_decide": _l("审批"), "can_propose": _l("提交申请"), "can_results": _l("查看结果"),
    "copyrole": _l("复制角色"),
}

#: pages that are not a menu entry of their own (Flask-AppBuilder's security pages, forms reached from
#: another page, sign-in steps) and Flask-AppBuilder's English menu keys, as staff name them
VIEWS = {
    "AuthDBView": _l("登录"), "SecondFactorView": _l("双因素验证"), "TwoFactorView": _l("双因素设置"),
    "NoRestLogin": _l("接口登录（已停用）"), "HomeView": _l("首页"), "LocaleView": _l("切换语言"),
    "UtilView": _l("返回上一页"), "UserInfoEditView": _l("个人信息"), "ResetMyPasswordView": _l("修改本人密码"),
    "ResetPasswordView": _l("重置他人密码"), "UserDBModelView": _l("用户列表"), "RoleModelView": _l("角色列表"),
    "UserGroupModelView": _l("用户组"), "PermissionModelView": _l("权限"), "ViewMenuModelView": _l("页面与菜单"),
    "PermissionViewModelView": _l("页面权限"), "SurveyQuestionView": _l("调查题目"),
    "Security": _l("安全"), "List Users": _l("用户列表"), "List Roles": _l("角色列表"),
    "List Groups": _l("用户组"), "Base Permissions": _l("权限"), "Views/Menus": _l("页面与菜单"),
    "Permission on Views/Menus": _l("页面权限"),
}


def action_label(permission: str) -> str:
    """A permission as the hospital says it (查看, 导出, 退费 …); an unknown one keeps its code, which the
    role tests catch."""
    for key in (permission, permission.removeprefix("can_")):
        if key in ACTIONS:
            return str(ACTIONS[key])
    return permission


def view_label(name: str) -> str:
    """A view or menu entry as staff see it in the menu (``RefundView`` -> 退费记录)."""
    from flask import current_app, has_app_context

    if name in VIEWS:
        return str(VIEWS[name])
    if not has_app_context():
        return name
    for category in current_app.appbuilder.menu.get_list():
        if category.name == name:
            return str(category.label or name)
        for child in category.childs or []:
            if child.name == name or (child.baseview is not None
                                      and child.baseview.class_permission_name == name):
                return str(child.label or child.name)
    return name


def permission_label(pvm) -> str:
    """One grant (a permission on a view) in Chinese: 退费记录·重试退费."""
    if pvm.view_menu is None or pvm.permission is None:
        return ""
    return f"{view_label(pvm.view_menu.name)}·{action_label(pvm.permission.name)}"


@dataclass
class Row:
    category: str
    menu: str
    # (permission-view id, action label) for the menu entry itself and the view behind it
    cells: list[tuple[int, str]] = field(default_factory=list)


class RoleMatrixView(BaseView):
    route_base = "/rolematrix"
    default_view = "index"
    base_permissions = ["can_index", "can_edit"]
    method_permission_name = {"index": "index", "save": "edit"}

    def _roles(self):
        sm = self.appbuilder.sm
        return [r for r in sm.get_all_roles() if r.name not in (sm.auth_role_admin, sm.auth_role_public)]

    def _rows(self) -> list[Row]:
        sm = self.appbuilder.sm
        pvms = sm.session.query(sm.permissionview_model).all()
        by_view: dict[str, list] = {}
        for pvm in pvms:
            if pvm.view_menu is not None and pvm.permission is not None:
                by_view.setdefault(pvm.view_menu.name, []).append(pvm)
        rows: list[Row] = []
        for category in self.appbuilder.menu.get_list():
            for child in category.childs or []:
                if not child.name or child.name == "-":
                    continue
                row = Row(str(category.label or category.name), str(child.label or child.name))
                names = [child.name]
                if child.baseview is not None:
                    names.append(child.baseview.class_permission_name)
                for name in names:
                    for pvm in sorted(by_view.get(name, []), key=lambda p: (p.permission.name != "menu_access",
                                                                            p.permission.name)):
                        row.cells.append((pvm.id, action_label(pvm.permission.name)))
                if row.cells:
                    rows.append(row)
        return rows

    @expose("/")
    @has_access
    def index(self):
        roles = self._roles()
        granted = {(r.id, p.id) for r in roles for p in r.permissions}
        return self.render_template("backoffice/role_matrix.html", title=_l("权限矩阵"), roles=roles,
                                    rows=self._rows(), granted=granted, role_label=operators.role_label)

    @expose("/", methods=["POST"])
    @has_access
    def save(self):
        sm = self.appbuilder.sm
        shown = {pvm_id for row in self._rows() for pvm_id, _label in row.cells}
        wanted = {tuple(int(x) for x in v.split(":")) for v in request.form.getlist("grant")
                  if v.count(":") == 1 and all(p.isdigit() for p in v.split(":"))}
        names = {pvm_id: label for row in self._rows() for pvm_id, label in
                 ((c[0], f"{row.menu}·{c[1]}") for c in row.cells)}
        changed = 0
        with unit_of_work():
            for role in self._roles():
                have = {p.id for p in role.permissions if p.id in shown}
                want = {pvm_id for role_id, pvm_id in wanted if role_id == role.id and pvm_id in shown}
                added, removed = want - have, have - want
                if not added and not removed:
                    continue
                pvms = {p.id: p for p in sm.session.query(sm.permissionview_model)
                        .filter(sm.permissionview_model.id.in_(added | removed))}
                for pvm_id in added:
                    role.permissions.append(pvms[pvm_id])
                role.permissions = [p for p in role.permissions if p.id not in removed]
                audit.record_staff("staff.role_permissions", g.user, target_type="role", target_id=role.name,
                                   before={"revoked": sorted(names[i] for i in removed)},
                                   after={"granted": sorted(names[i] for i in added)},
                                   role=operators.role_label(role.name))
                changed += 1
        flash(_("已保存 %(n)s 个角色的权限", n=changed) if changed else _("权限没有变化"), "success")
        return redirect(url_for("RoleMatrixView.index"))
