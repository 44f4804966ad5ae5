"""The back-office security manager: Flask-AppBuilder's, plus login auditing and role sync."""

from __future__ import annotations

import logging
import re

from flask_appbuilder.security.sqla.manager import SecurityManager

from app.admin.roles import ROLE_PERMISSIONS, STAFF_ROLES

log = logging.getLogger(__name__)


class HospitalSecurityManager(SecurityManager):
    def on_user_login(self, user) -> None:
        from app.services import audit
        from app.services.uow import unit_of_work

        with unit_of_work():
            audit.record("staff.login", actor_type="staff", actor_id=str(user.id), actor_name=user.username)

    def reset_password(self, userid, password) -> None:
        """FAB's reset forms land here: the operator's own choice ends a forced change; a password set
        by someone else must be changed at the next sign-in. Audited either way."""
        from flask import g, has_request_context

        from app.services.operators import set_password

        staff = getattr(g, "user", None) if has_request_context() else None
        set_password(int(userid), password, staff if getattr(staff, "is_authenticated", False) else None)

    def sync_hospital_roles(self) -> dict[str, int]:
        """Create the staff roles and grant each the permissions its table row matches.

        Permissions are only added, never removed, so an administrator's extra grants survive.
        Returns the number of permissions per role.
        """
        from app.services.uow import unit_of_work

        self.create_db_roles_only()
        self.appbuilder.add_permissions(update_perms=True)
        with unit_of_work():
            return self._grant_role_permissions()

    def _grant_role_permissions(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        all_pvms = self.session.query(self.permissionview_model).all()
        for role_name in STAFF_ROLES:
            role = self.find_role(role_name) or self.add_role(role_name)
            if role_name == self.auth_role_admin:
                for pvm in all_pvms:
                    if pvm not in role.permissions:
                        role.permissions.append(pvm)
            else:
                rules = [(re.compile(v), re.compile(p)) for v, p in ROLE_PERMISSIONS.get(role_name, [])]
                for pvm in all_pvms:
                    if pvm.view_menu is None or pvm.permission is None:
                        continue
                    if any(v.fullmatch(pvm.view_menu.name) and p.fullmatch(pvm.permission.name)
                           for v, p in rules) and pvm not in role.permissions:
                        role.permissions.append(pvm)
            counts[role_name] = len(role.permissions)
        return counts

    def create_db_roles_only(self) -> None:
        """Admin and Public roles, as Flask-AppBuilder's create_db would make them (without create_all)."""
        if not self.find_role(self.auth_role_admin):
            self.add_role(self.auth_role_admin)
        if not self.find_role(self.auth_role_public):
            self.add_role(self.auth_role_public)
