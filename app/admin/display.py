"""What staff read on every back-office list, detail and form: Chinese words for the platform's codes,
是/否 for booleans, Beijing time to the second, nothing for an empty field, and Chinese page titles.

Flask-AppBuilder prints a value as Python would (``True``, ``wechat``, ``2026-11-30 16:30:00.123456`` in
UTC, ``<… object at 0x…>``) and titles pages "Show/Edit/Add <Model>". ``install`` gives every
registered view the formatters and titles below, once, after registration; a view's own formatter or
title wins. The list and detail widgets (app/templates/appbuilder/general/widgets/) pass anything left
through ``staff_value``.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Callable, Mapping

from flask_babel import lazy_gettext as _l
from markupsafe import Markup

from app import clock
from app.messages.notifications import NOTICE_KINDS
from app.backoffice.orders import (APPOINTMENT_STATUS, CHANNELS, HALF_DAYS, KINDS, PAYMENT_FLAGS, PAYMENT_STATUS,
                                 REFUND_STATUS, actor_label, label, reason_label)

YES_NO = {True: _l("是"), False: _l("否")}
GENDERS = {"male": _l("男"), "female": _l("女")}
RELATIONS = {"self": _l("本人"), "child": _l("子女"), "spouse": _l("配偶"), "parent": _l("父母"), "other": _l("其他")}
BINDINGS = {"bound": _l("已绑定"), "unbound": _l("已解绑")}
REGISTRATION_KINDS = {"advance": _l("预约挂号"), "same_day": _l("当天挂号")}
FOLLOW_EVENTS = {"subscribe": _l("关注"), "unsubscribe": _l("取消关注")}
NOTICE_STATES = {"pending": _l("待发送"), "sending": _l("发送中"), "sent": _l("已发送"), "failed": _l("发送失败"),
                 "skipped": _l("未发送")}
SURVEY_TRIGGERS = {"visit": _l("就诊后"), "payment": _l("缴费后")}
QUESTION_KINDS = {"single": _l("单选"), "rating": _l("评分"), "text": _l("文字")}
CLASS_STATES = {"open": _l("开放报名"), "cancelled": _l("已取消")}
INSTRUCTION_SLUGS = {"booking": _l("预约挂号须知"), "payment": _l("门诊缴费须知"), "inpatient": _l("住院押金须知"),
                     "privacy": _l("隐私说明")}
EXPORT_STATES = {"queued": _l("排队中"), "running": _l("生成中"), "done": _l("已完成"), "failed": _l("失败")}
ACTOR_TYPES = {"staff": _l("工作人员"), "operator": _l("操作员"), "patient": _l("患者"), "system": _l("系统"),
               "channel": _l("支付渠道"),
               "his": _l("医院 HIS"), "seed": _l("初始数据")}
#: what an audit entry is about
TARGET_TYPES = {
    "department": _l("科室"), "doctor": _l("医生"), "guidance_rule": _l("导诊规则"), "message_template": _l("消息模板"),
    "operator": _l("操作员"), "prenatal_class": _l("孕妇学校课程"), "service_instruction": _l("服务说明"),
    "setting": _l("系统设置"), "survey": _l("满意度调查"), "survey_question": _l("调查题目"),
    "appointment": _l("预约订单"), "appointment_order": _l("预约订单"), "channel_user": _l("患者账号"),
    "export_job": _l("报表下载"), "order": _l("订单"), "patient": _l("就诊人"), "payment": _l("缴费订单"),
    "payment_order": _l("缴费订单"), "reconciliation_item": _l("对账差异"), "refund": _l("退费记录"),
    "report": _l("报表"), "role": _l("角色"), "schedule": _l("排班"),
    "analytics": _l("数据分析"), "audit_log": _l("审计日志"), "inspection": _l("巡检报告"),
    "reconciliation_day": _l("对账日"),
}

#: each audited action as staff read it (the code stays beside it: the runbook and the logs name the code)
AUDIT_ACTIONS = {
    "staff.login": _l("登录后台"), "staff.logout": _l("退出登录"), "staff.login_failed": _l("登录失败"),
    "staff.login_refused_locked": _l("账号已锁定，拒绝登录"), "staff.login_throttled": _l("登录过于频繁，已限制"),
    "staff.account_locked": _l("账号被锁定"), "staff.session_ended": _l("会话已结束"),
    "staff.password_changed": _l("修改密码"), "staff.password_change_refused": _l("修改密码被拒绝"),
    "staff.view_order": _l("查看订单"), "staff.view_patient": _l("查看就诊人"),
    "staff.trace_search": _l("订单全链路查询"),
    "staff.search_personal": _l("按个人信息搜索"), "staff.export_requested": _l("提交导出"),
    "staff.export_download": _l("下载导出文件"), "staff.analytics_export": _l("导出数据分析"),
    "staff.audit_export": _l("导出审计日志"), "staff.reconciliation_download": _l("下载对账表"),
    "staff.operator_add": _l("新增操作员"), "staff.operator_create": _l("创建操作员"),
    "staff.operator_edit": _l("修改操作员"), "staff.operator_disable": _l("停用操作员"),
    "staff.operator_deactivate": _l("停用操作员"), "staff.operator_delete": _l("删除操作员"),
    "staff.operator_department": _l("修改操作员科室"), "staff.operator_reset_password": _l("重置操作员密码"),
    "staff.operator_unlock": _l("解锁操作员"), "staff.role_create": _l("新建角色"), "staff.role_delete": _l("删除角色"),
    "staff.role_permissions": _l("修改角色权限"),
    "booking.cancel": _l("取消预约"), "booking.attendance": _l("标记就诊情况"), "schedule.stopped": _l("停诊"),
    "payment.recheck_his": _l("向医院核实缴费"), "payment.refund_unknown": _l("确认医院未入账并退款"),
    "refund.retry": _l("重试退款"), "reconciliation.resolve": _l("标记对账差异已处理"),
    "reconciliation.rerun": _l("重新对账"), "repair.propose": _l("提交数据维护申请"),
    "repair.apply": _l("审批并执行数据维护"), "repair.reject": _l("驳回数据维护申请"),
    "repair.withdraw": _l("撤回数据维护申请"), "repair.failed": _l("数据维护执行失败"),
    "inspection.save": _l("保存巡检报告"), "inspection.download": _l("下载巡检报告"),
    "patient.sign_in": _l("患者登录"), "patient.bind": _l("患者绑卡"), "patient.bind_failed": _l("患者绑卡失败"),
    "patient.bind_throttled": _l("患者绑卡过于频繁"), "patient.unbind": _l("患者解绑"),
    "patient.update": _l("患者修改就诊人"), "patient.view_report": _l("患者查看报告"),
    "system.audit_purged": _l("清理过期审计日志"),
}


def audit_action_label(code: str | None) -> Markup:
    """"登录后台 staff.login": the action in Chinese, its code small beside it (searched by, named in the runbook)."""
    if not code:
        return Markup("")
    text = AUDIT_ACTIONS.get(code)
    if text is None:
        return Markup("{}").format(code)
    return Markup('{} <small class="text-muted">{}</small>').format(str(text), code)


def staff_value(value):
    """Any value as staff read it (the widgets' fallback when a view has no formatter for the column)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(YES_NO[value])
    if isinstance(value, dt.datetime):
        return clock.display(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (list, tuple)):
        return "\n".join(str(staff_value(v)) for v in value)  # one per line on a detail page
    return value


def _codes(table: Mapping) -> Callable:
    return lambda code: label(table, code) if not isinstance(code, bool) else str(YES_NO[code])


#: column -> its code table, for every model that has the column
BY_COLUMN: dict[str, Mapping] = {
    "channel": CHANNELS, "run.channel": CHANNELS, "payment.channel": CHANNELS, "gender": GENDERS,
    "relation": RELATIONS, "registration_kind": REGISTRATION_KINDS, "half_day": HALF_DAYS, "event": FOLLOW_EVENTS,
    "actor_type": ACTOR_TYPES, "target_type": TARGET_TYPES, "flag": PAYMENT_FLAGS,
}
#: (model, column) -> its code table, where the same column name means different things
BY_MODEL: dict[tuple[str, str], Mapping] = {
    ("AppointmentOrder", "status"): APPOINTMENT_STATUS, ("PaymentOrder", "status"): PAYMENT_STATUS,
    ("Refund", "status"): REFUND_STATUS, ("PaymentOrder", "kind"): KINDS, ("Patient", "status"): BINDINGS,
    ("Notification", "status"): NOTICE_STATES, ("Survey", "trigger"): SURVEY_TRIGGERS,
    ("SurveyQuestion", "kind"): QUESTION_KINDS, ("PrenatalClass", "status"): CLASS_STATES,
    ("ServiceInstruction", "slug"): INSTRUCTION_SLUGS, ("ExportJob", "status"): EXPORT_STATES,
    ("Notification", "kind"): NOTICE_KINDS, ("MessageTemplate", "kind"): NOTICE_KINDS,
}
ACTOR_COLUMNS = ("requested_by", "actor", "updated_by")
#: why an order moved or a refund failed: the commands' reasons in Chinese (what staff typed as typed)
REASON_COLUMNS = ("failure_reason", "his_error")
#: timestamps kept in Beijing time (as the hospital's timetable speaks), shown as they are
NAIVE_BEIJING = {("PrenatalClass", "starts_at"), ("PrenatalClass", "ends_at")}
#: views reached from another page, not from the menu: the name their titles use
UNLISTED_VIEWS = {"SurveyQuestionView": _l("调查题目")}
#: column names Flask-AppBuilder would title in English ("Created At", "Login Count") and their Chinese
COLUMN_LABELS = {
    "created_at": _l("创建时间"), "updated_at": _l("更新时间"), "changed_on": _l("修改时间"),
    "created_on": _l("创建时间"),
    "name": _l("名称"), "label": _l("显示名称"), "description": _l("说明"), "users": _l("用户"), "roles": _l("角色"),
    "role": _l("角色"), "user": _l("用户"),
    "groups": _l("用户组"), "questions": _l("题目"), "active": _l("启用"), "email": _l("邮箱"),
    "first_name": _l("名"), "last_name": _l("姓"), "last_login": _l("最近登录"), "login_count": _l("登录次数"),
    "fail_login_count": _l("登录失败次数"), "username": _l("用户名"), "changed_by": _l("修改人"),
    "created_by": _l("创建人"),
}


def _as_is_time(moment) -> str:
    return "" if moment is None else moment.strftime("%Y-%m-%d %H:%M")


def _name_formatters() -> dict[tuple[str, str], Callable]:
    """Flask-AppBuilder's security rows whose ``name`` is a code: shown as staff name them."""
    from app.admin.role_matrix import action_label, view_label
    from app.backoffice.operators import role_label

    return {("Role", "name"): role_label, ("Permission", "name"): action_label, ("ViewMenu", "name"): view_label}


def formatters_for(model_name: str, columns) -> dict[str, Callable]:
    found: dict[str, Callable] = {}
    names = _name_formatters()
    for column in columns:
        table = BY_MODEL.get((model_name, column)) or BY_COLUMN.get(column)
        if (model_name, column) in names:
            found[column] = names[(model_name, column)]
        elif table is not None:
            found[column] = _codes(table)
        elif (model_name, column) in NAIVE_BEIJING:
            found[column] = _as_is_time
        elif column in ACTOR_COLUMNS:
            found[column] = actor_label
        elif column in REASON_COLUMNS:
            found[column] = reason_label
    return found


def install(appbuilder) -> None:
    """Give every registered model view Chinese codes, Beijing times and Chinese titles (its own win)."""
    _chinese_role_names(appbuilder)
    labels = _menu_labels(appbuilder)
    for view in appbuilder.baseviews:
        datamodel = getattr(view, "datamodel", None)
        if datamodel is None:
            continue
        view.label_columns = _chinese_labels(view)
        if getattr(view, "definitions", None):  # a chart's series, titled by their column
            view.definitions = [{**d, "label": view.label_columns.get(d["series"][0], d["label"])}
                                for d in view.definitions]
            for d in view.definitions:  # Flask-AppBuilder titled the grouping column with a chart's label
                view.label_columns[d["group"]] = COLUMN_LABELS.get(d["group"], d["group"])
        _rebuild_forms(view)
        if not hasattr(view, "list_columns"):
            continue
        model_name = datamodel.obj.__name__
        columns = set(view.list_columns or []) | set(getattr(view, "show_columns", None) or [])
        view.formatters_columns = {**formatters_for(model_name, columns), **(view.formatters_columns or {})}
        name = labels.get(view.__class__.__name__) or UNLISTED_VIEWS.get(view.__class__.__name__)
        if name is None:
            continue
        titles = {"list_title": name, "show_title": _l("查看%(name)s", name=name),
                  "edit_title": _l("编辑%(name)s", name=name), "add_title": _l("新增%(name)s", name=name)}
        for attribute, title in titles.items():
            current = getattr(view, attribute, None)
            if isinstance(current, str) and current.startswith(("List ", "Show ", "Edit ", "Add ")):
                setattr(view, attribute, title)


def _chinese_role_names(appbuilder) -> None:
    """A role reads as its Chinese name wherever Flask-AppBuilder prints one (user lists, the role
    pickers of the user and group forms); its ``name`` stays the key the code and the grants use.
    Permissions, pages and grants read as the permission matrix names them (退费记录·重试退费), not
    as ``can retry on RefundView``."""
    from app.admin.role_matrix import action_label, permission_label, view_label
    from app.backoffice.operators import role_label

    sm = appbuilder.sm
    sm.role_model.__str__ = lambda role: role_label(role.name)
    sm.permission_model.__str__ = lambda permission: action_label(permission.name)
    sm.viewmenu_model.__str__ = lambda view_menu: view_label(view_menu.name)
    sm.permissionview_model.__str__ = permission_label


def _chinese_labels(view) -> dict:
    """The view's labels, with the English Flask-AppBuilder made up from column names ("Created At")
    replaced by the Chinese of the column where we have it."""
    labels = dict(view.label_columns or {})
    for column, chinese in COLUMN_LABELS.items():
        if column not in labels or str(labels[column]) == view._prettify_column(column):
            labels[column] = chinese
    return labels


def _rebuild_forms(view) -> None:
    """Flask-AppBuilder builds its own add, edit and search forms when the view is created, with the
    labels of then: build them again with the Chinese ones (forms a view brings itself stay)."""
    rebuilt = False
    for form in ("add_form", "edit_form", "search_form"):
        if hasattr(view, form) and getattr(type(view), form, None) is None:
            setattr(view, form, None)
            rebuilt = True
    if rebuilt:
        view._init_forms()


def _menu_labels(appbuilder) -> dict:
    """View class name -> its (lazy, translated) menu label."""
    found = {}

    def walk(items):
        for item in items:
            if item.childs:
                walk(item.childs)
            elif getattr(item, "baseview", None) is not None:
                found.setdefault(item.baseview.__class__.__name__, item.label)

    walk(appbuilder.menu.get_list())
    return found
