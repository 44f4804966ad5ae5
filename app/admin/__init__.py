"""Back-office (Flask-AppBuilder): every view registered with its menu category and icon."""

from __future__ import annotations

from flask_appbuilder import AppBuilder
from flask_babel import lazy_gettext as _l


def register_admin_views(appbuilder: AppBuilder) -> None:
    """Register every back-office view. Menu names are stable Chinese keys; labels are translated."""
    from app.admin.analytics import AnalyticsView
    from app.admin.inspection import InspectionView
    from app.admin.guidance import GuidanceRuleView
    from app.admin.operations import AuditLogView
    from app.admin.reconciliation import ReconciliationItemView, ReconciliationRunView

    appbuilder.add_view(AuditLogView, "审计日志", label=_l("审计日志"), icon="fa-history",
                        category="运维", category_label=_l("运维"), category_icon="fa-wrench")
    appbuilder.add_view(ReconciliationRunView, "对账记录", label=_l("对账记录"), icon="fa-balance-scale",
                        category="财务", category_label=_l("财务"), category_icon="fa-jpy")
    appbuilder.add_view(ReconciliationItemView, "对账差异", label=_l("对账差异"), icon="fa-exclamation-triangle",
                        category="财务")
    appbuilder.add_view(AnalyticsView, "数据分析", label=_l("数据分析"), icon="fa-line-chart",
                        category="统计分析", category_label=_l("统计分析"), category_icon="fa-bar-chart")
    appbuilder.add_view(InspectionView, "巡检报告", label=_l("巡检报告"), icon="fa-stethoscope", category="运维")
    appbuilder.add_view(GuidanceRuleView, "导诊规则", label=_l("导诊规则"), icon="fa-map-signs", category="运维")

    register_message_views(appbuilder)


def register_message_views(appbuilder: AppBuilder) -> None:
    """Messages and patient content (issue 4): notices, deliveries, templates, follows, content, surveys."""
    from app.admin import messages as m

    for view, name, label, icon in [
        (m.NotificationView, "消息发送", _l("消息发送"), "fa-envelope"),
        (m.MessagePushView, "推送记录", _l("推送记录"), "fa-paper-plane"),
        (m.MessageTemplateView, "消息模板", _l("消息模板"), "fa-file-text-o"),
        (m.FollowEventView, "关注事件", _l("关注事件"), "fa-user-plus"),
    ]:
        appbuilder.add_view(view, name, label=label, icon=icon, category="消息", category_label=_l("消息"),
                            category_icon="fa-comments")
    for view, name, label, icon in [
        (m.ServiceInstructionView, "服务说明", _l("服务说明"), "fa-book"),
        (m.SurveyView, "满意度调查", _l("满意度调查"), "fa-check-square-o"),
        (m.SurveyResponseView, "调查结果", _l("调查结果"), "fa-bar-chart"),
    ]:
        appbuilder.add_view(view, name, label=label, icon=icon, category="内容", category_label=_l("内容"),
                            category_icon="fa-newspaper-o")
    appbuilder.add_view_no_menu(m.SurveyQuestionView)
