"""Shared set-up for back-office tests: demo staff, a few demo orders, signing in."""

from __future__ import annotations

from app.extensions import db

PASSWORDS = {"admin": "admin123", "finance": "finance123", "ops": "ops123", "service": "service123"}


def seed_staff_and_orders(app, days: int = 3, per_day: int = 6) -> None:
    from app.services.backoffice_demo import seed_backoffice_demo
    from app.services.demo import seed_demo

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

    from app.services.demo import DEMO_ACCOUNTS

    with app.app_context():
        sm = app.appbuilder.sm
        for username, password, _role, _name in DEMO_ACCOUNTS:
            user = sm.find_user(username=username)
            if user is not None:
                user.password = generate_password_hash(password)
                user.active = True
        db.session.commit()
        db.session.remove()
