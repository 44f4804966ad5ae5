"""Operations views: audit log (read-only)."""

from __future__ import annotations

from flask_appbuilder import ModelView
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_babel import lazy_gettext as _l

from app.models import AuditLog


class AuditLogView(ModelView):
    datamodel = SQLAInterface(AuditLog)
    base_permissions = ["can_list", "can_show"]
    base_order = ("at", "desc")
    list_columns = ["at", "actor_type", "actor_name", "action", "target_type", "target_id", "ip"]
    show_columns = list_columns + ["actor_id", "detail"]
    search_columns = ["actor_type", "actor_name", "action", "target_type", "target_id", "at"]
    label_columns = {
        "at": _l("时间"), "actor_type": _l("操作者类型"), "actor_name": _l("操作者"), "actor_id": _l("操作者编号"),
        "action": _l("操作"), "target_type": _l("对象类型"), "target_id": _l("对象编号"), "detail": _l("详情"),
        "ip": _l("IP 地址"),
    }
    list_title = _l("审计日志")
    show_title = _l("审计日志详情")
