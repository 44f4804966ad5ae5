"""Configuration pages for operations staff (系统配置): settings, message templates, 导诊 rules, surveys
with their questions and results, service instructions. Every value is checked by
app/services/configuration.py before it is saved, and every change is audited (before/after, IP)."""

from __future__ import annotations

import json

from flask import abort, g
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_appbuilder.security.decorators import has_access
from flask_appbuilder.views import expose
from flask_babel import LazyString
from flask_babel import lazy_gettext as _l
from markupsafe import Markup
from wtforms import SelectField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, ValidationError

from app.admin.filters import AuditedModelView, beijing_time
from app.channels.wechat import keywords
from app.models import GuidanceRule, MessageTemplate, ServiceInstruction, Survey, SurveyQuestion, SystemSetting
from app.services import configuration
from app.services.configuration import InvalidConfiguration
from app.messages.notifications import NOTICE_KINDS


def checked(check):
    """A WTForms validator that runs a configuration rule and stores its normalised value."""

    def validator(form, field) -> None:
        try:
            field.data = check(form, field)
        except InvalidConfiguration as exc:
            raise ValidationError(str(exc)) from None

    return validator


class SystemSettingView(AuditedModelView):
    """系统设置: booking window, release time, deadlines, limits (what the booking rules read)."""

    audit_target = "setting"
    datamodel = SQLAInterface(SystemSetting)
    base_permissions = ["can_list", "can_show", "can_add", "can_edit"]
    list_columns = ["key", "shown_value", "description", "updated_by", "updated_at"]
    show_columns = ["key", "shown_value", "description", "updated_by", "updated_at"]
    add_columns = ["key", "value", "description"]
    edit_columns = ["value", "description"]
    search_columns = ["key", "description"]
    base_order = ("key", "asc")
    validators_columns = {
        "key": [DataRequired(), Length(max=64), checked(lambda form, field: _key_only(field.data))],
        # on the add form the key is beside the value; on edit the row's key is used in pre_update
        "value": [checked(lambda form, field: configuration.validate_setting(form.key.data, field.data)
                          if "key" in form else field.data)],
    }
    label_columns = {"key": _l("配置键"), "value": _l("值"), "shown_value": _l("值"),
                     "description": _l("说明"), "updated_by": _l("修改人"),
                     "updated_at": _l("修改时间")}
    formatters_columns = {"updated_at": beijing_time}
    list_title = _l("系统设置")

    def pre_add(self, item) -> None:
        from app.services.settings import REGISTRY

        item.updated_by = g.user.username
        item.description = item.description or str(REGISTRY[item.key].label)
        super().pre_add(item)

    def pre_update(self, item) -> None:
        # the value was checked against the key the row already has
        try:
            item.value = configuration.validate_setting(item.key, item.value)
        except InvalidConfiguration as exc:
            raise ValueError(str(exc)) from None
        item.updated_by = g.user.username
        super().pre_update(item)


def _key_only(key: str) -> str:
    from app.services.settings import REGISTRY

    key = (key or "").strip()
    if key not in REGISTRY:
        raise InvalidConfiguration(str(_l("没有这个设置项：%(key)s（只能修改列表中已有的设置）", key=key)))
    return key


_MAPPING_HELP = _l("微信模板字段名的前缀就是类型，每个值按类型自动截断或换成渠道格式（超出以…截断）：")
_SOURCES_HELP = _l("每个字段的值可以是消息标题、消息正文、发送时间（下例依次写法）、业务数据（payload.字段名）"
                   "或单引号括起的固定文字，例如：")
#: what a mapping's value fills the field with (app/messages/delivery.py render_fields)
SOURCES = {"title": _l("消息标题"), "body": _l("消息正文"), "time": _l("发送时间")}
MAPPING_EXAMPLE = '{"thing1": "title", "thing2": "body", "time3": "time"}'


class _HelpMarkup(LazyString):
    """Help text built per request (the reader's language) that carries its own markup."""

    def __html__(self) -> str:
        return str(self)


def _mapping_help() -> Markup:
    """The mapping field's help: each type by a field name as WeChat's console shows it (thing1, time3),
    with its Chinese name and rule, then what a value may be, with an example mapping."""
    types = "；".join(f"{code}1（{t.label}）：{t.rule}" for code, t in keywords.TYPES.items())
    return Markup("{}{}。{}<code>{}</code>").format(_MAPPING_HELP, types, _SOURCES_HELP, MAPPING_EXAMPLE)


def source_label(source: str) -> str:
    """A mapping's value as staff read it: title -> 消息标题, payload.doctor -> 业务数据 payload.doctor."""
    if source in SOURCES:
        return str(SOURCES[source])
    if source.startswith("payload."):
        return f"{_l('业务数据')} {source}"
    return source


def _field_types(text: str) -> Markup:
    """A mapping as staff read it: each field with its WeChat type and rule (WeChat refuses a push whose
    value breaks its field's type, errcode 47003)."""
    try:
        mapping = json.loads(text or "{}")
    except ValueError:
        return Markup.escape(text)
    rows = keywords.describe_mapping(mapping if isinstance(mapping, dict) else {})
    return Markup("<br>").join(Markup("{}（{}）← {} <small class=\"text-muted\">{}</small>").format(
        key, label, source_label(source), rule) for key, label, rule, source in rows)


class MessageTemplateView(AuditedModelView):
    """消息模板: which channel template each notice uses, its field mapping and link."""

    audit_target = "message_template"
    base_permissions = ["can_list", "can_show", "can_add", "can_edit", "can_delete"]
    datamodel = SQLAInterface(MessageTemplate)
    list_columns = ["kind", "channel", "template_id", "field_map_json", "link_pattern", "is_active"]
    show_columns = ["kind", "channel", "template_id", "field_map_json", "link_pattern", "is_active"]
    add_columns = edit_columns = ["kind", "channel", "template_id", "field_map_json", "link_pattern", "is_active"]
    search_columns = ["kind", "channel", "template_id", "is_active"]
    add_form_extra_fields = edit_form_extra_fields = {
        "kind": SelectField(_l("消息类型"), choices=list(NOTICE_KINDS.items())),
        "channel": SelectField(_l("渠道"), choices=[("wechat", _l("微信")), ("alipay", _l("支付宝"))]),
        # extra fields carry their own validators (validators_columns only reach generated fields)
        "field_map_json": TextAreaField(_l("字段映射 (JSON)"), default="{}", validators=[
            checked(lambda form, field: configuration.validate_field_map(field.data))],
            description=_HelpMarkup(_mapping_help)),
    }
    validators_columns = {
        "template_id": [DataRequired(), Length(max=128)],
        "link_pattern": [checked(lambda form, field: configuration.validate_link(field.data))],
    }
    label_columns = {"kind": _l("消息类型"), "channel": _l("渠道"), "template_id": _l("模板 ID"),
                     "field_map_json": _l("字段映射 (JSON)"), "link_pattern": _l("链接"), "is_active": _l("启用")}
    formatters_columns = {"kind": lambda kind: str(NOTICE_KINDS.get(kind, kind)),
                          "field_map_json": lambda text: _field_types(text)}
    list_title = _l("消息模板")


class GuidanceRuleView(AuditedModelView):
    """导诊规则: an item category or keyword of a paid bill -> where the patient goes next."""

    audit_target = "guidance_rule"
    base_permissions = ["can_list", "can_show", "can_add", "can_edit", "can_delete"]
    datamodel = SQLAInterface(GuidanceRule)
    list_columns = ["sort", "match_category", "match_keyword", "guidance"]
    add_columns = edit_columns = ["match_category", "match_keyword", "guidance", "sort"]
    search_columns = ["match_category", "match_keyword", "guidance"]
    base_order = ("sort", "asc")
    validators_columns = {
        # checked on the required field: the optional ones stop their validator chain when empty
        "guidance": [DataRequired(), Length(max=255), checked(lambda form, field: (configuration.validate_guidance(
            form.match_category.data, form.match_keyword.data), field.data)[1])],
        "sort": [NumberRange(min=0, max=9999)],
    }
    label_columns = {"sort": _l("排序"), "match_category": _l("项目类别"), "match_keyword": _l("关键字"),
                     "guidance": _l("导诊提示")}
    list_title = _l("导诊规则")


class SurveyQuestionView(AuditedModelView):
    audit_target = "survey_question"
    base_permissions = ["can_list", "can_show", "can_add", "can_edit", "can_delete"]
    datamodel = SQLAInterface(SurveyQuestion)
    list_columns = ["sort", "kind", "text", "options_json", "required"]
    add_columns = edit_columns = ["survey", "sort", "kind", "text", "options_json", "required"]
    add_form_extra_fields = edit_form_extra_fields = {
        "kind": SelectField(_l("题型"), choices=[("single", _l("单选")), ("rating", _l("评分")), ("text", _l("填空"))]),
    }
    validators_columns = {
        "text": [DataRequired(), Length(max=255)],
        "options_json": [checked(lambda form, field: configuration.validate_options(form.kind.data, field.data))],
    }
    label_columns = {"survey": _l("问卷"), "sort": _l("排序"), "kind": _l("题型"), "text": _l("题目"),
                     "options_json": _l("选项 (JSON)"), "required": _l("必答")}
    list_title = _l("调查题目")


class SurveyView(AuditedModelView):
    """满意度调查: questionnaires with their questions, and the results page."""

    audit_target = "survey"
    datamodel = SQLAInterface(Survey)
    related_views = [SurveyQuestionView]
    list_columns = ["title", "trigger", "is_active", "created_at"]
    show_columns = ["title", "trigger", "is_active", "questions", "created_at", "updated_at"]
    add_columns = edit_columns = ["title", "trigger", "is_active"]
    show_template = "backoffice/survey_show.html"
    add_form_extra_fields = edit_form_extra_fields = {
        "trigger": SelectField(_l("触发"), choices=[("visit", _l("就诊后")), ("payment", _l("缴费后"))]),
    }
    validators_columns = {"title": [DataRequired(), Length(min=2, max=64)]}
    label_columns = {"title": _l("标题"), "trigger": _l("触发"), "is_active": _l("启用"), "created_at": _l("创建时间")}
    formatters_columns = {"created_at": beijing_time}
    list_title = _l("满意度调查")
    base_permissions = ["can_list", "can_show", "can_add", "can_edit", "can_results"]
    method_permission_name = {"results": "results"}

    @expose("/results/<int:pk>")
    @has_access
    def results(self, pk: int):
        """How the survey was answered: option counts, average ratings, latest comments."""
        results = configuration.survey_results(pk)
        if results is None:
            abort(404)
        return self.render_template("backoffice/survey_results.html", title=_l("调查结果"), results=results)


class ServiceInstructionView(AuditedModelView):
    """服务说明: the notices patients read in the personal centre."""

    audit_target = "service_instruction"
    base_permissions = ["can_list", "can_show", "can_add", "can_edit", "can_delete"]
    datamodel = SQLAInterface(ServiceInstruction)
    list_columns = ["sort", "slug", "title", "is_published", "updated_at"]
    add_columns = edit_columns = ["slug", "title", "body", "sort", "is_published"]
    search_columns = ["slug", "title"]
    base_order = ("sort", "asc")
    add_form_extra_fields = edit_form_extra_fields = {
        "body": TextAreaField(_l("内容"), validators=[DataRequired(), Length(min=5, max=20000)]),
        "is_published": SelectField(_l("发布"), choices=[(1, _l("是")), (0, _l("否"))], coerce=int),
    }
    validators_columns = {
        "slug": [DataRequired(), Length(max=64),
                 checked(lambda form, field: _slug(field.data))],
        "title": [DataRequired(), Length(min=2, max=64)],
    }
    label_columns = {"sort": _l("排序"), "slug": _l("标识"), "title": _l("标题"), "body": _l("内容"),
                     "is_published": _l("发布"), "updated_at": _l("更新时间")}
    formatters_columns = {"updated_at": beijing_time, "is_published": lambda v: "✓" if v else ""}
    list_title = _l("服务说明")


def _slug(value: str) -> str:
    import re

    value = (value or "").strip()
    if not re.fullmatch(r"[a-z][a-z0-9_-]{1,63}", value):
        raise InvalidConfiguration(str(_l("标识只能包含小写字母、数字、- 和 _，并以字母开头")))
    return value
