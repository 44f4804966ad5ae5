"""Messages and patient-facing content in the back-office: notices and their deliveries (read-only),
message templates, follow events, service instructions, satisfaction surveys and their answers."""

from __future__ import annotations

from flask_appbuilder import ModelView
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_babel import lazy_gettext as _l

from app.models import (FollowEvent, MessagePush, MessageTemplate, Notification, ServiceInstruction, Survey,
                        SurveyQuestion, SurveyResponse)
from app.services.formatting import beijing

READ_ONLY = ["can_list", "can_show"]


class NotificationView(ModelView):
    """Every notice in the outbox: whether it was pushed, how often, and why not."""

    datamodel = SQLAInterface(Notification)
    base_permissions = READ_ONLY
    base_order = ("id", "desc")
    list_columns = ["id", "created_at", "channel", "kind", "title", "status", "attempts", "last_error", "sent_at",
                    "read_at"]
    show_columns = list_columns + ["owner_id", "body", "link", "next_attempt_at", "dedupe_key"]
    search_columns = ["channel", "kind", "status", "last_error", "created_at", "owner_id"]
    label_columns = {"id": _l("编号"), "created_at": _l("创建时间"), "channel": _l("渠道"), "kind": _l("类型"),
                     "title": _l("标题"), "status": _l("发送状态"), "attempts": _l("尝试次数"),
                     "last_error": _l("失败原因"), "sent_at": _l("发送时间"), "read_at": _l("阅读时间"),
                     "owner_id": _l("账号编号"), "body": _l("内容"), "link": _l("链接"),
                     "next_attempt_at": _l("下次重试"), "dedupe_key": _l("去重键")}
    list_title = _l("消息发送")
    show_title = _l("消息详情")


class MessagePushView(ModelView):
    """Each push attempt (sandbox or real channel) with the request and the channel's answer."""

    datamodel = SQLAInterface(MessagePush)
    base_permissions = READ_ONLY
    base_order = ("id", "desc")
    list_columns = ["at", "notification_id", "channel", "template_id", "ok", "error_code", "error_message"]
    show_columns = list_columns + ["request_json"]
    search_columns = ["channel", "ok", "error_code", "notification_id", "at"]
    label_columns = {"at": _l("时间"), "notification_id": _l("消息编号"), "channel": _l("渠道"),
                     "template_id": _l("模板 ID"), "ok": _l("成功"), "error_code": _l("错误码"),
                     "error_message": _l("渠道返回"), "request_json": _l("推送内容")}
    list_title = _l("推送记录")


class MessageTemplateView(ModelView):
    datamodel = SQLAInterface(MessageTemplate)
    list_columns = ["kind", "channel", "template_id", "is_active", "updated_at"]
    add_columns = edit_columns = ["kind", "channel", "template_id", "field_map_json", "link_pattern", "is_active"]
    show_columns = add_columns + ["updated_at"]
    label_columns = {"kind": _l("消息类型"), "channel": _l("渠道"), "template_id": _l("模板 ID"),
                     "field_map_json": _l("字段映射"), "link_pattern": _l("跳转链接"), "is_active": _l("启用"),
                     "updated_at": _l("更新时间")}
    description_columns = {
        "kind": _l("booking_success / payment_success / refund_success / stop_clinic / unpaid_reminder / "
                   "report_ready / survey / welcome"),
        "channel": _l("wechat 或 alipay"),
        "field_map_json": _l('模板关键词 -> 取值，如 {"thing1": "title", "thing2": "body", "time3": "time", '
                             '"character_string4": "payload.order_no"}；微信已不显示 first/remark，内容请放在关键词中'),
        "link_pattern": _l("留空则打开消息详情；{link} 为消息自带链接，{id} 为消息编号"),
    }
    list_title = _l("消息模板")


class FollowEventView(ModelView):
    datamodel = SQLAInterface(FollowEvent)
    base_permissions = READ_ONLY
    base_order = ("at", "desc")
    list_columns = ["at", "channel", "event", "channel_uid"]
    search_columns = ["channel", "event", "at"]
    label_columns = {"at": _l("时间"), "channel": _l("渠道"), "event": _l("事件"), "channel_uid": _l("用户标识")}
    list_title = _l("关注事件")


class ServiceInstructionView(ModelView):
    datamodel = SQLAInterface(ServiceInstruction)
    list_columns = ["sort", "title", "slug", "is_published", "updated_at"]
    add_columns = edit_columns = ["slug", "title", "sort", "is_published", "body"]
    label_columns = {"sort": _l("排序"), "title": _l("标题"), "slug": _l("路径"), "is_published": _l("发布"),
                     "updated_at": _l("更新时间"), "body": _l("正文")}
    description_columns = {"body": _l("支持简单 HTML（段落、加粗、列表、表格、链接），脚本和样式表会被移除")}
    base_order = ("sort", "asc")
    list_title = _l("服务说明")


class SurveyQuestionView(ModelView):
    datamodel = SQLAInterface(SurveyQuestion)
    list_columns = ["survey_id", "sort", "kind", "text", "required"]
    add_columns = edit_columns = ["survey_id", "sort", "kind", "text", "options_json", "required"]
    label_columns = {"survey_id": _l("问卷编号"), "sort": _l("排序"), "kind": _l("题型"), "text": _l("题目"),
                     "options_json": _l("选项"), "required": _l("必答")}
    description_columns = {"kind": _l("single 单选 / rating 评分 1-5 / text 文字"),
                           "options_json": _l('单选题的选项，如 ["满意", "一般", "不满意"]')}
    list_title = _l("调查问题")


class SurveyView(ModelView):
    datamodel = SQLAInterface(Survey)
    related_views = [SurveyQuestionView]
    list_columns = ["id", "title", "trigger", "is_active", "created_at"]
    add_columns = edit_columns = ["title", "trigger", "is_active"]
    label_columns = {"id": _l("编号"), "title": _l("问卷名称"), "trigger": _l("触发时机"), "is_active": _l("启用"),
                     "created_at": _l("创建时间")}
    description_columns = {"trigger": _l("visit 就诊完成后 / payment 缴费完成后")}
    list_title = _l("满意度调查")


class SurveyResponseView(ModelView):
    datamodel = SQLAInterface(SurveyResponse)
    base_permissions = READ_ONLY
    base_order = ("id", "desc")
    list_columns = ["created_at", "survey_id", "subject", "overall", "answers_json"]
    search_columns = ["survey_id", "overall", "created_at"]
    label_columns = {"created_at": _l("提交时间"), "survey_id": _l("问卷编号"), "subject": _l("就诊/缴费单号"),
                     "overall": _l("总体评分"), "answers_json": _l("答案")}
    list_title = _l("调查结果")
    formatters_columns = {"created_at": lambda at: beijing(at)}
