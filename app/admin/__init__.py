"""Back-office (Flask-AppBuilder): every view registered with its menu category and icon."""

from __future__ import annotations

from flask_appbuilder import AppBuilder
from flask_babel import lazy_gettext as _l


def register_admin_views(appbuilder: AppBuilder) -> None:
    """Register every back-office view. Menu names are stable Chinese keys; labels are translated."""
    from app.admin.analytics import AnalyticsView
    from app.admin.inspection import InspectionView
    from app.admin.operations import AuditLogView
    from app.admin.reconciliation import ReconciliationItemView, ReconciliationRunView

    appbuilder.add_view(AuditLogView, "审计日志", label=_l("审计日志"), icon="fa-history",
                        category="运维", category_label=_l("运维"), category_icon="fa-wrench")
    appbuilder.add_view(ReconciliationRunView, "对账记录", label=_l("对账记录"), icon="fa-balance-scale",
                        category="财务", category_label=_l("财务"), category_icon="fa-jpy")
    from app.admin.reconciliation_desk import ReconciliationDeskView

    appbuilder.add_view(ReconciliationDeskView, "对账工作台", label=_l("对账工作台"), icon="fa-check-square-o",
                        category="财务", category_label=_l("财务"), category_icon="fa-jpy")
    appbuilder.add_view(ReconciliationItemView, "对账差异", label=_l("对账差异"), icon="fa-exclamation-triangle",
                        category="财务")
    appbuilder.add_view(AnalyticsView, "数据分析", label=_l("数据分析"), icon="fa-line-chart",
                        category="统计分析", category_label=_l("统计分析"), category_icon="fa-bar-chart")
    appbuilder.add_view(InspectionView, "巡检报告", label=_l("巡检报告"), icon="fa-stethoscope", category="运维")
    from app.operations.views import RepairRequestView

    appbuilder.add_view(RepairRequestView, "数据维护", label=_l("数据维护"), icon="fa-medkit", category="运维")
    appbuilder.add_link("新建维护申请", label=_l("新建维护申请"), href="/repairrequestview/new/", icon="fa-plus",
                        category="运维")

    register_message_views(appbuilder)
    register_backoffice_views(appbuilder)
    from app.admin import display

    display.install(appbuilder)
    from flask import current_app

    current_app.jinja_env.filters["staff_value"] = display.staff_value
    current_app.jinja_env.filters["actor_label"] = display.actor_label


def register_message_views(appbuilder: AppBuilder) -> None:
    """Messages (issue 4): notices, deliveries, follow events, survey answers (templates and content are
    configuration pages, see register_backoffice_views)."""
    from app.admin import messages as m

    for view, name, label, icon in [
        (m.NotificationView, "消息发送", _l("消息发送"), "fa-envelope"),
        (m.MessagePushView, "推送记录", _l("推送记录"), "fa-paper-plane"),
        (m.FollowEventView, "关注事件", _l("关注事件"), "fa-user-plus"),
        (m.SurveyResponseView, "调查结果", _l("调查结果"), "fa-bar-chart"),
    ]:
        appbuilder.add_view(view, name, label=label, icon=icon, category="消息", category_label=_l("消息"),
                            category_icon="fa-comments")


def register_backoffice_views(appbuilder: AppBuilder) -> None:
    """Issue #8: orders, finance reports, configuration and operators."""
    from flask import current_app

    from app.admin.configuration import (GuidanceRuleView, MessageTemplateView, ServiceInstructionView,
                                         SurveyQuestionView, SurveyView, SystemSettingView)
    from app.admin.operators import OperatorView, install_password_guard
    from app.admin.orders import AppointmentOrderView, PatientView, PaymentOrderView, RefundView
    from app.admin.reports import ExportJobView, StatisticsView

    orders = {"category": "订单管理", "category_label": _l("订单管理"), "category_icon": "fa-list-alt"}
    appbuilder.add_view(AppointmentOrderView, "预约订单", label=_l("预约订单"), icon="fa-calendar-check-o", **orders)
    appbuilder.add_view(PaymentOrderView, "缴费订单", label=_l("缴费订单"), icon="fa-credit-card", **orders)
    appbuilder.add_view(RefundView, "退费记录", label=_l("退费记录"), icon="fa-undo", **orders)
    appbuilder.add_view(PatientView, "就诊人", label=_l("就诊人"), icon="fa-user", **orders)
    from app.admin.trace import OrderTraceView

    appbuilder.add_view(OrderTraceView, "订单全链路", label=_l("订单全链路"), icon="fa-road", **orders)
    finance = {"category": "财务", "category_label": _l("财务"), "category_icon": "fa-cny"}
    appbuilder.add_view(StatisticsView, "交易统计", label=_l("交易统计"), icon="fa-bar-chart", **finance)
    appbuilder.add_view(ExportJobView, "报表下载", label=_l("报表下载"), icon="fa-download", **finance)
    config = {"category": "系统配置", "category_label": _l("系统配置"), "category_icon": "fa-cogs"}
    appbuilder.add_view(SystemSettingView, "系统设置", label=_l("系统设置"), icon="fa-sliders", **config)
    appbuilder.add_view(MessageTemplateView, "消息模板", label=_l("消息模板"), icon="fa-envelope", **config)
    appbuilder.add_view(GuidanceRuleView, "导诊规则", label=_l("导诊规则"), icon="fa-map-signs", **config)
    appbuilder.add_view(SurveyView, "满意度调查", label=_l("满意度调查"), icon="fa-smile-o", **config)
    appbuilder.add_view_no_menu(SurveyQuestionView)
    appbuilder.add_view(ServiceInstructionView, "服务说明", label=_l("服务说明"), icon="fa-info-circle", **config)
    from app.admin.basedata import DepartmentView, DoctorView, PrenatalClassView  # issue 17

    basedata = {"category": "基础数据", "category_label": _l("基础数据"), "category_icon": "fa-hospital-o"}
    appbuilder.add_view(DepartmentView, "科室", label=_l("科室"), icon="fa-sitemap", **basedata)
    appbuilder.add_view(DoctorView, "医生", label=_l("医生"), icon="fa-user-md", **basedata)
    appbuilder.add_view(PrenatalClassView, "孕妇学校课程", label=_l("孕妇学校课程"), icon="fa-graduation-cap",
                        **basedata)
    appbuilder.add_view(OperatorView, "操作员", label=_l("操作员"), icon="fa-users", category="系统管理",
                        category_label=_l("系统管理"), category_icon="fa-user-secret")
    from app.admin.role_matrix import RoleMatrixView

    appbuilder.add_view(RoleMatrixView, "权限矩阵", label=_l("权限矩阵"), icon="fa-th", category="系统管理")
    appbuilder.add_link("新增操作员", label=_l("新增操作员"), href="/operatorview/create/", icon="fa-user-plus",
                        category="系统管理")
    install_password_guard(current_app._get_current_object())
