"""The back-office security manager: Flask-AppBuilder's, with the hospital's sign-in (throttles, lockout,
second factor), password policy, server-side session checks, audited user and role views, and the
role sync that never re-grants what an administrator removed."""

from __future__ import annotations

import json
import logging
import re

from flask_appbuilder.api import BaseApi
from flask_appbuilder.security.sqla.manager import SecurityManager

from app.admin.roles import ROLE_PERMISSIONS, STAFF_ROLES
from app.security import views as security_views

log = logging.getLogger(__name__)


class NoRestLogin(BaseApi):
    """Flask-AppBuilder's JSON login (/api/v1/security/login) is not offered: nothing here uses its REST
    API, and a second password door would need its own throttles and second factor."""

    resource_name = "security"


class HospitalSecurityManager(SecurityManager):
    security_api = NoRestLogin
    authdbview = security_views.AuthDBView
    resetmypasswordview = security_views.ResetMyPasswordView
    resetpasswordview = security_views.ResetPasswordView
    userdbmodelview = security_views.UserDBModelView
    rolemodelview = security_views.RoleModelView
    userstatschartview = None  # it loads Google's chart library from the internet: no CDN, no CSP hole

    def create_limiter(self, app):
        """Flask-AppBuilder's Flask-Limiter only ever limits its own sign-in POSTs (AUTH_RATE_LIMITED), and
        that is off: failed sign-ins are counted in the database (app.security.throttle), and no view
        declares ``limits``. Installed, it still checked every request against no limit (about a
        quarter of a bare health request's CPU); so it is kept, for FAB, but not installed."""
        if app.config.get("AUTH_RATE_LIMITED"):
            return super().create_limiter(app)
        from flask_limiter import Limiter
        from flask_limiter.util import get_remote_address

        return Limiter(key_func=app.config.get("RATELIMIT_KEY_FUNC", get_remote_address))

    def register_views(self) -> None:
        super().register_views()
        self.appbuilder.add_view_no_menu(security_views.SecondFactorView())
        self.appbuilder.add_view_no_menu(security_views.TwoFactorView())

    def auth_user_db(self, username, password):
        """FAB's password check behind the hospital's throttles and lockout (raises 429 / 423)."""
        from app.security import staff

        return staff.authenticate(self, username, password)

    def load_user(self, pk):
        """The operator of this session, unless it was revoked, idle too long or too old."""
        from flask import flash, g
        from flask_babel import gettext as _

        from app.security import sessions

        user = super().load_user(pk)
        if user is None:
            return None
        problem = sessions.staff_session_problem(user)
        if problem is None:
            return user
        sessions.end_staff_session()
        if not g.get("_staff_session_flashed"):
            g._staff_session_flashed = True
            flash(_("长时间未操作，请重新登录") if problem == "idle" else _("登录已失效，请重新登录"), "warning")
            from app.services import audit
            from app.services.uow import unit_of_work

            with unit_of_work():
                audit.record("staff.session_ended", actor_type="staff", actor_id=str(user.id),
                             actor_name=user.username, target_type="operator", target_id=user.id,
                             detail=json.dumps({"reason": problem}))
        return None

    def reset_password(self, userid, password) -> None:
        """FAB's reset forms land here: the operator's own choice ends a forced change; a password set
        by someone else must be changed at the next sign-in. Audited either way."""
        from flask import g, has_request_context

        from app.backoffice.operators import set_password

        staff = getattr(g, "user", None) if has_request_context() else None
        set_password(int(userid), password, staff if getattr(staff, "is_authenticated", False) else None)

    def sync_hospital_roles(self) -> dict[str, int]:
        """Create the staff roles and grant each the permissions its table row matches.

        A grant is given once: `role_grant` remembers every grant a sync gave, so a permission an
        administrator removed is not given back by the next release; only grants new to the table (or to
        the code) are added. Returns the number of permissions per role.
        """
        from app.services.uow import unit_of_work

        self.create_db_roles_only()
        self.appbuilder.add_permissions(update_perms=True)
        with unit_of_work():
            return self._grant_role_permissions()

    def _grant_role_permissions(self) -> dict[str, int]:
        from sqlalchemy import select

        from app.extensions import db
        from app.models import RoleGrant

        given = set(db.session.execute(select(RoleGrant.role, RoleGrant.view_menu, RoleGrant.permission)).all())
        counts: dict[str, int] = {}
        all_pvms = [p for p in self.session.query(self.permissionview_model).all()
                    if p.view_menu is not None and p.permission is not None]
        for role_name in STAFF_ROLES:
            role = self.find_role(role_name) or self.add_role(role_name)
            if role_name == self.auth_role_admin:
                wanted = all_pvms
            else:
                rules = [(re.compile(v), re.compile(p)) for v, p in ROLE_PERMISSIONS.get(role_name, [])]
                wanted = [pvm for pvm in all_pvms if any(v.fullmatch(pvm.view_menu.name)
                                                         and p.fullmatch(pvm.permission.name) for v, p in rules)]
            for pvm in wanted:
                grant = (role_name, pvm.view_menu.name, pvm.permission.name)
                if grant in given:
                    continue  # given by an earlier sync: if it is gone, an administrator removed it
                if pvm not in role.permissions:
                    role.permissions.append(pvm)
                db.session.add(RoleGrant(role=role_name, view_menu=grant[1], permission=grant[2]))
                given.add(grant)
            counts[role_name] = len(role.permissions)
        return counts

    def create_db_roles_only(self) -> None:
        """Admin and Public roles, as Flask-AppBuilder's create_db would make them (without create_all)."""
        if not self.find_role(self.auth_role_admin):
            self.add_role(self.auth_role_admin)
        if not self.find_role(self.auth_role_public):
            self.add_role(self.auth_role_public)

    def exist_permission_on_roles(self, view_name: str, permission_name: str, role_ids: list[int]) -> bool:
        """FAB asks once per menu entry and button of a page, a query each (~70 a page); within a request
        the roles' grants are read once and every later question answered from them."""
        from flask import g, has_request_context
        from flask_appbuilder.security.sqla.models import assoc_permissionview_role
        from sqlalchemy import select

        if not has_request_context():
            return super().exist_permission_on_roles(view_name, permission_name, role_ids)
        cache = g.__dict__.setdefault("_role_grants", {})
        key = tuple(sorted(role_ids))
        if key not in cache:
            pv, perm, menu = self.permissionview_model, self.permission_model, self.viewmenu_model
            cache[key] = set(self.session.execute(
                select(perm.name, menu.name).select_from(pv)
                .join(assoc_permissionview_role, pv.id == assoc_permissionview_role.c.permission_view_id)
                .join(perm, perm.id == pv.permission_id).join(menu, menu.id == pv.view_menu_id)
                .where(assoc_permissionview_role.c.role_id.in_(key))).all())
        return (permission_name, view_name) in cache[key]
