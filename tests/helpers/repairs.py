"""数据维护 (repairs): the two Admin accounts that propose and approve a correction."""

from __future__ import annotations

from app.extensions import db
from app.operations import commands
from tests.backoffice_helpers import restore_demo_staff

ADMINS = (("admin", "admin123"), ("itlead", "itlead-Pass-2026"))


def admins(app):
    """Two Admin accounts (the demo's ``admin`` and an IT lead), as plain Staff values."""
    with app.app_context():
        sm = app.appbuilder.sm
        for username, password in ADMINS:
            if sm.find_user(username=username) is None:
                sm.add_user(username=username, first_name=username, last_name="IT", email=f"{username}@h.local",
                            role=sm.find_role("Admin"), password=password)
        found = [commands.Staff(sm.find_user(username=u).id, u) for u, _ in ADMINS]
        db.session.remove()
    restore_demo_staff(app)
    return found
