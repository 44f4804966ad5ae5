"""Back-office (Flask-AppBuilder): every view registered with its menu category and icon."""

from __future__ import annotations

from flask_appbuilder import AppBuilder
from flask_babel import lazy_gettext as _l


def register_admin_views(appbuilder: AppBuilder) -> None:
    """Register every back-office view. Menu names are stable Chinese keys; labels are translated."""
    from app.admin.guidance import GuidanceRuleView
    from app.admin.operations import AuditLogView
    from app.admin.reconciliation import ReconciliationItemView, ReconciliationRunView

    appbuilder.add_view(AuditLogView, "审计日志", label=_l("审计日志"), icon="fa-history",
                        category="运维", category_label=_l("运维"), category_icon="fa-wrench")
    appbuilder.add_view(ReconciliationRunView, "对账记录", label=_l("对账记录"), icon="fa-balance-scale",
                        category="财务", category_label=_l("财务"), category_icon="fa-jpy")
    appbuilder.add_view(ReconciliationItemView, "对账差异", label=_l("对账差异"), icon="fa-exclamation-triangle",
                        category="财务")
    appbuilder.add_view(GuidanceRuleView, "导诊规则", label=_l("导诊规则"), icon="fa-map-signs", category="运维")
