"""Back-office (Flask-AppBuilder): every view registered with its menu category and icon."""

from __future__ import annotations

from flask_appbuilder import AppBuilder
from flask_babel import lazy_gettext as _l


def register_admin_views(appbuilder: AppBuilder) -> None:
    """Register every back-office view. Menu names are stable Chinese keys; labels are translated."""
    from app.admin.operations import AuditLogView

    appbuilder.add_view(AuditLogView, "审计日志", label=_l("审计日志"), icon="fa-history",
                        category="运维", category_label=_l("运维"), category_icon="fa-wrench")
