"""Back-office (Flask-AppBuilder): every view registered with its menu category and icon."""

from __future__ import annotations

from flask_appbuilder import AppBuilder
from flask_babel import lazy_gettext as _l


def register_admin_views(appbuilder: AppBuilder) -> None:
    """Register every back-office view. Menu names are stable Chinese keys; labels are translated."""
    from app.admin.operations import AuditLogView

    appbuilder.add_view(AuditLogView, "审计日志", label=_l("审计日志"), icon="fa-history",
                        category="运维", category_label=_l("运维"), category_icon="fa-wrench")

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
