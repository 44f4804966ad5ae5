"""导诊规则: where a paid item sends the patient, edited by operations staff (used after HIS guidance)."""

from __future__ import annotations

from flask_appbuilder import ModelView
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_babel import lazy_gettext as _l

from app.models import GuidanceRule


class GuidanceRuleView(ModelView):
    datamodel = SQLAInterface(GuidanceRule)
    base_order = ("sort", "asc")
    list_columns = ["sort", "match_category", "match_keyword", "guidance", "updated_at"]
    add_columns = edit_columns = ["sort", "match_category", "match_keyword", "guidance"]
    show_columns = list_columns + ["created_at"]
    search_columns = ["match_category", "match_keyword", "guidance"]
    label_columns = {
        "sort": _l("排序"), "match_category": _l("项目类别"), "match_keyword": _l("项目名称关键词"),
        "guidance": _l("导诊提示"), "created_at": _l("创建时间"), "updated_at": _l("更新时间"),
    }
    description_columns = {
        "match_category": _l("西药、中成药、检查、化验、治疗、材料；留空则不限类别"),
        "match_keyword": _l("项目名称包含此词时提示；留空则不限名称（类别与关键词至少填一项）"),
    }
    list_title = _l("导诊规则")
    add_title = _l("新增导诊规则")
    edit_title = _l("编辑导诊规则")
    show_title = _l("导诊规则详情")
