"""Shared set-up for back-office tests: demo staff, a few demo orders, signing in."""

from __future__ import annotations

import re
from contextlib import contextmanager

from app.extensions import db

PASSWORDS = {"admin": "admin123", "finance": "finance123", "ops": "ops123", "service": "service123"}


def seed_staff_and_orders(app, days: int = 3, per_day: int = 6) -> None:
    from doubles.demo.backoffice import seed_backoffice_demo
    from doubles.demo.hospital import seed_demo

    with app.app_context():
        seed_demo()
        seed_backoffice_demo(days=days, per_day=per_day)
        db.session.remove()
    restore_demo_staff(app)


def login(client, username: str, password: str | None = None) -> None:
    client.get("/logout/")
    response = client.post("/login/", data={"username": username, "password": password or PASSWORDS[username]})
    assert response.status_code == 302, response.get_data(as_text=True)[:300]


def restore_demo_staff(app) -> None:
    """Staff accounts outlive a test's clean tables: put every demo account back as seeded."""
    from werkzeug.security import generate_password_hash

    from doubles.demo.hospital import DEMO_ACCOUNTS

    with app.app_context():
        sm = app.appbuilder.sm
        for username, password, _role, name in DEMO_ACCOUNTS:
            user = sm.find_user(username=username)
            if user is not None:
                user.password = generate_password_hash(password)
                user.active = True
                user.first_name, user.last_name = name, "（演示）"  # as seeded: a test may rename one
        db.session.commit()
        db.session.remove()
    restore_hospital_roles(app)


def restore_hospital_roles(app) -> None:
    """Roles outlive a test's clean tables too: give each staff role exactly its row of the hospital's table.

    A test that removes a grant (the permission matrix, a role edit) would otherwise leave it removed for every
    later test, since a sync never gives back what an administrator removed.
    """
    from sqlalchemy import delete

    from app.admin.roles import STAFF_ROLES
    from app.models import RoleGrant

    with app.app_context():
        sm = app.appbuilder.sm
        for name in STAFF_ROLES:
            role = sm.find_role(name)
            if role is not None:
                role.permissions = []
        db.session.execute(delete(RoleGrant).where(RoleGrant.role.in_(STAFF_ROLES)))
        db.session.commit()
        sm.sync_hospital_roles()
        db.session.remove()


@contextmanager
def month_of_orders(app, now):
    """The clock frozen at ``now`` (Beijing) over ten days of demo orders, eight a day: the lists, their
    date presets and 数据分析's day links read these."""
    from app import clock

    clock.freeze(now)
    try:
        seed_staff_and_orders(app, days=10, per_day=8)
        yield
    finally:
        clock.reset()


def record_count(page: str) -> int:
    """The 记录数目 a back-office list shows."""
    return int(re.search(r"(?:Record Count|记录数目):</strong>\s*([\d,]+)", page).group(1).replace(",", ""))
