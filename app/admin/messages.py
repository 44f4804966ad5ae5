"""Messages in the back-office (read-only): notices and their deliveries, follow events and survey
answers. Templates, service instructions and surveys are configuration pages (app/admin/configuration.py)."""

from __future__ import annotations

from flask_appbuilder import ModelView
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import SelectField, StringField

from app import clock
from app.admin.filters import CriteriaInterface, day_range
from app.admin.list_tools import DatePresets
from app.admin.display import NOTICE_STATES
from app.backoffice.orders import CHANNELS
from app.messages.notifications import NOTICE_KINDS
from app.models import FollowEvent, MessagePush, Notification, SurveyResponse

READ_ONLY = ["can_list", "can_show"]


def _day_field(label) -> StringField:
    return StringField(label, description="YYYY-MM-DD")


class NotificationView(DatePresets, ModelView):
    """Every notice in the outbox: whether it was pushed, how often, and why not."""

    datamodel = CriteriaInterface(Notification, {"created_at": day_range(_l("创建时间"))})
    date_filters = (("created_at", _l("创建时间")),)
    search_form_extra_fields = {"created_at": _day_field(_l("创建时间")),
                                "kind": SelectField(_l("类型"), choices=[("", "")] + list(NOTICE_KINDS.items())),
                                "channel": SelectField(_l("渠道"), choices=[("", "")] + list(CHANNELS.items())),
                                "status": SelectField(_l("发送状态"), choices=[("", "")] + list(NOTICE_STATES.items()))}
    base_permissions = READ_ONLY
    base_order = ("id", "desc")
    list_columns = ["id", "created_at", "channel", "kind", "title", "status", "attempts", "last_error", "sent_at",
                    "read_at"]
    # not the dedupe key: it is the program's (no_show:GH…), the title and the time say which notice it is
    show_columns = list_columns + ["owner_id", "body", "link", "next_attempt_at"]
    search_columns = ["channel", "kind", "status", "last_error", "created_at", "owner_id"]
    label_columns = {"id": _l("编号"), "created_at": _l("创建时间"), "channel": _l("渠道"), "kind": _l("类型"),
                     "title": _l("标题"), "status": _l("发送状态"), "attempts": _l("尝试次数"),
                     "last_error": _l("失败原因"), "sent_at": _l("发送时间"), "read_at": _l("阅读时间"),
                     "owner_id": _l("账号编号"), "body": _l("内容"), "link": _l("链接"),
                     "next_attempt_at": _l("下次重试"), "dedupe_key": _l("去重键")}
    list_title = _l("消息发送")
    show_title = _l("消息详情")


def channel_answer(value: str | None) -> str:
    """A push the channel took keeps its message id as ``msgid=…`` (app/messages/delivery.py): shown in the
    page's words; a refusal's message is the channel's own, shown as it came."""
    if value and value.startswith("msgid="):
        return _("渠道消息编号 %(id)s", id=value[len("msgid="):])
    return value or ""


class MessagePushView(DatePresets, ModelView):
    """Each push attempt (sandbox or real channel) with the request and the channel's answer."""

    datamodel = CriteriaInterface(MessagePush, {"at": day_range(_l("时间"))})
    date_filters = (("at", _l("推送时间")),)
    search_form_extra_fields = {"at": _day_field(_l("时间"))}
    base_permissions = READ_ONLY
    base_order = ("id", "desc")
    list_columns = ["at", "notification_id", "channel", "template_id", "ok", "error_code", "error_message"]
    show_columns = list_columns + ["request_json"]
    search_columns = ["channel", "ok", "error_code", "notification_id", "at"]
    label_columns = {"at": _l("时间"), "notification_id": _l("消息编号"), "channel": _l("渠道"),
                     "template_id": _l("模板 ID"), "ok": _l("成功"), "error_code": _l("错误码"),
                     "error_message": _l("渠道返回"), "request_json": _l("推送内容")}
    formatters_columns = {"error_message": channel_answer}
    list_title = _l("推送记录")


class FollowEventView(DatePresets, ModelView):
    datamodel = CriteriaInterface(FollowEvent, {"at": day_range(_l("时间"))})
    date_filters = (("at", _l("时间")),)
    search_form_extra_fields = {"at": _day_field(_l("时间"))}
    base_permissions = READ_ONLY
    base_order = ("at", "desc")
    list_columns = ["at", "channel", "event", "channel_uid"]
    search_columns = ["channel", "event", "at"]
    label_columns = {"at": _l("时间"), "channel": _l("渠道"), "event": _l("事件"), "channel_uid": _l("用户标识")}
    list_title = _l("关注事件")


class SurveyResponseView(DatePresets, ModelView):
    datamodel = CriteriaInterface(SurveyResponse, {"created_at": day_range(_l("提交时间"))})
    date_filters = (("created_at", _l("提交时间")),)
    search_form_extra_fields = {"created_at": _day_field(_l("提交时间"))}
    base_permissions = READ_ONLY
    base_order = ("id", "desc")
    list_columns = ["created_at", "survey_id", "subject", "overall", "answers_json"]
    search_columns = ["survey_id", "overall", "created_at"]
    label_columns = {"created_at": _l("提交时间"), "survey_id": _l("问卷编号"), "subject": _l("就诊/缴费单号"),
                     "overall": _l("总体评分"), "answers_json": _l("答案")}
    list_title = _l("调查结果")
    formatters_columns = {"created_at": clock.display}
