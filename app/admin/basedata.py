"""基础数据: departments and doctors as synced from the HIS. Staff give what the HIS does not carry: the
English names patients see when they choose English, a department's introduction, a doctor's
introduction (the sync never overwrites these). Every change is audited."""

from __future__ import annotations

from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_babel import lazy_gettext as _l
from wtforms import SelectField
from wtforms.validators import Length, Optional

from app.admin.filters import AuditedModelView
from app.models import Department, Doctor


class DepartmentView(AuditedModelView):
    audit_target = "department"
    datamodel = SQLAInterface(Department)
    base_permissions = ["can_list", "can_show", "can_edit"]
    list_columns = ["code", "name", "name_en", "parent", "location", "is_active"]
    show_columns = ["code", "name", "name_en", "parent", "location", "intro", "allowed_gender", "min_age", "max_age"]
    edit_columns = ["name_en", "intro", "allowed_gender", "min_age", "max_age"]
    search_columns = ["code", "name", "name_en"]
    base_order = ("sort", "asc")
    validators_columns = {"name_en": [Optional(), Length(max=128)]}
    label_columns = {"code": _l("科室代码"), "name": _l("科室名称"), "name_en": _l("英文名称"),
                     "parent": _l("上级科室"), "location": _l("位置"), "is_active": _l("启用"), "intro": _l("简介"),
                     "allowed_gender": _l("限定性别"), "min_age": _l("最小年龄"), "max_age": _l("最大年龄")}
    formatters_columns = {"is_active": lambda v: "✓" if v else ""}
    list_title = _l("科室")


class DoctorView(AuditedModelView):
    audit_target = "doctor"
    datamodel = SQLAInterface(Doctor)
    base_permissions = ["can_list", "can_show", "can_edit"]
    list_columns = ["code", "name", "name_en", "title", "department", "specialty"]
    show_columns = ["code", "name", "name_en", "title", "department", "specialty", "intro", "fee_fen"]
    edit_columns = ["name_en", "intro"]
    search_columns = ["code", "name", "name_en", "specialty"]
    validators_columns = {"name_en": [Optional(), Length(max=64)]}
    label_columns = {"code": _l("医生代码"), "name": _l("姓名"), "name_en": _l("英文名"), "title": _l("职称"),
                     "department": _l("科室"), "specialty": _l("擅长"), "intro": _l("简介"),
                     "fee_fen": _l("挂号费（分）")}
    list_title = _l("医生")


class PrenatalClassView(AuditedModelView):
    """孕妇学校课程: staff publish classes (time, place, capacity, fee); patients book them in the H5."""

    from app.models import PrenatalClass as _Model

    audit_target = "prenatal_class"
    datamodel = SQLAInterface(_Model)
    base_permissions = ["can_list", "can_show", "can_add", "can_edit"]
    list_columns = ["title", "starts_at", "location", "capacity", "booked", "fee_fen", "status"]
    add_columns = edit_columns = ["title", "intro", "teacher", "location", "starts_at", "ends_at", "capacity",
                                  "fee_fen", "status"]
    base_order = ("starts_at", "desc")
    label_columns = {"title": _l("课程"), "intro": _l("简介"), "teacher": _l("讲师"), "location": _l("地点"),
                     "starts_at": _l("开始时间（北京时间）"), "ends_at": _l("结束时间（北京时间）"),
                     "capacity": _l("名额"), "booked": _l("已报名"), "fee_fen": _l("费用（分，0 为免费）"),
                     "status": _l("状态")}
    add_form_extra_fields = edit_form_extra_fields = {
        "status": SelectField(_l("状态"), choices=[("open", _l("开放报名")), ("cancelled", _l("已取消"))]),
    }
    list_title = _l("孕妇学校课程")
