"""What the README's demo walkthrough promises about the demo's set-up, on the demo seed."""

from __future__ import annotations

import pytest


@pytest.fixture()
def production_second_factor(app):
    """The configuration ``make run`` has: Admin and Finance need the second factor unless a setting says not."""
    old = app.config["TOTP_REQUIRED_ROLES"]
    app.config["TOTP_REQUIRED_ROLES"] = "Admin,Finance"
    yield
    app.config["TOTP_REQUIRED_ROLES"] = old


def test_the_demo_seed_lets_demo_staff_sign_in_with_the_password_alone(app, clean_db, his,
                                                                      production_second_factor):
    from doubles.demo.hospital import seed_demo
    from app.services.settings import security_rules

    with app.test_request_context():
        assert security_rules().totp_required_roles == ("Admin", "Finance")
    with app.app_context():
        seed_demo()
    with app.test_request_context():  # a fresh request: the rules are read again
        assert security_rules().totp_required_roles == ()
