"""Operators for the security tests: created with a policy-strong password, removed afterwards."""

from __future__ import annotations

import itertools
import time

import pytest

from app.extensions import db

STRONG = "Ward-7-Night-Shift"
_seq = itertools.count(1)


def make_operator(app, role: str = "Service desk", password: str = STRONG) -> dict:
    name = f"nurse{next(_seq)}x{time.time_ns() % 10**6}"
    with app.app_context():
        sm = app.appbuilder.sm
        user = sm.add_user(username=name, first_name="测试", last_name="护士", email=f"{name}@t.local",
                           role=sm.find_role(role), password=password)
        user_id = user.id
        db.session.remove()
    return {"id": user_id, "username": name, "password": password}


def remove_operator(app, user_id: int) -> None:
    from sqlalchemy import delete

    from app.models import OperatorProfile, PasswordHistory

    with app.app_context():
        db.session.execute(delete(PasswordHistory).where(PasswordHistory.user_id == user_id))
        db.session.execute(delete(OperatorProfile).where(OperatorProfile.user_id == user_id))
        user = app.appbuilder.sm.get_user_by_id(user_id)
        if user is not None:
            user.roles = []
            db.session.delete(user)
        db.session.commit()
        db.session.remove()


def require_second_factor_for(app, roles: str) -> None:
    from app.services.settings import set_value

    with app.app_context():
        set_value("security.totp_required_roles", roles)
        db.session.commit()
        db.session.remove()


@pytest.fixture()
def operator(app, clean_db):
    """A service-desk operator; no role requires the second factor unless a test says so."""
    require_second_factor_for(app, "none")
    made = make_operator(app)
    yield made
    remove_operator(app, made["id"])


def sign_in(client, username: str, password: str):
    return client.post("/login/", data={"username": username, "password": password})


def audit_rows(app, action: str) -> list:
    from app.models import AuditLog

    with app.app_context():
        rows = db.session.query(AuditLog).filter_by(action=action).order_by(AuditLog.id).all()
        db.session.expunge_all()
        return rows


def at_window_start() -> None:
    """Freeze the clock just after the start of an hour, so counting windows (15 min, 1 h) cannot roll
    over in the middle of a test."""
    import datetime as dt

    from app import clock

    now = clock.utcnow().replace(tzinfo=dt.UTC)
    clock.freeze(now.replace(minute=0, second=5, microsecond=0) + dt.timedelta(hours=1))
