"""H5 home, the language switch and the back-office login."""

from __future__ import annotations

import pytest

SERVICES = ["预约挂号", "门诊缴费", "排队叫号", "报告查询", "住院服务", "个人中心"]


def test_h5_home_lists_every_patient_service_in_chinese(client):
    page = client.get("/h5/").get_data(as_text=True)
    for title in SERVICES:
        assert title in page
    assert 'name="viewport"' in page and "weui.min.css" in page


def test_english_switch_translates_and_returns_to_the_page(client):
    response = client.get("/h5/lang/en?next=/h5/")
    assert response.status_code == 302 and response.headers["Location"].endswith("/h5/")
    page = client.get("/h5/").get_data(as_text=True)
    assert "Registration" in page and "Outpatient payment" in page and "预约挂号" not in page
    client.get("/h5/lang/zh_CN")
    assert "预约挂号" in client.get("/h5/").get_data(as_text=True)


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x"])
def test_language_switch_is_not_an_open_redirect(client, target):
    response = client.get("/h5/lang/en", query_string={"next": target})
    assert response.headers["Location"].endswith("/h5/")


def test_vendored_assets_are_served_locally(client):
    assert client.get("/h5/static/weui/weui.min.css").status_code == 200
    page = client.get("/h5/").get_data(as_text=True)
    assert "cdn" not in page.lower()


@pytest.fixture()
def demo_staff(app, clean_db):
    from doubles.demo.hospital import DEMO_ACCOUNTS, seed_demo

    with app.app_context():
        seed_demo()
    return DEMO_ACCOUNTS


def test_backoffice_login_for_every_demo_role(app, client, demo_staff):
    assert "/login" in client.get("/auditlogview/list/").headers.get("Location", "")
    for username, password, _role, _ in demo_staff:
        page = client.post("/login/", data={"username": username, "password": password},
                           follow_redirects=True).get_data(as_text=True)
        assert "Logout" in page or "注销" in page or "退出" in page, (username, page[:300])
        client.get("/logout/")


def test_wrong_password_is_refused(client, demo_staff):
    page = client.post("/login/", data={"username": "admin", "password": "nope"},
                       follow_redirects=True).get_data(as_text=True)
    assert "auditlogview" not in page.lower()


def test_audit_log_is_for_operations_not_service_desk(app, client, demo_staff):
    client.post("/login/", data={"username": "ops", "password": "ops123"})
    assert client.get("/auditlogview/list/").status_code == 200
    client.get("/logout/")
    client.post("/login/", data={"username": "service", "password": "service123"})
    assert client.get("/auditlogview/list/").status_code in (302, 403)


def test_login_is_audited(app, client, demo_staff):
    from app.models import AuditLog

    client.post("/login/", data={"username": "finance", "password": "finance123"})
    with app.app_context():
        rows = AuditLog.query.filter_by(action="staff.login").all() if hasattr(AuditLog, "query") else None
        from app.extensions import db

        rows = db.session.query(AuditLog).filter_by(action="staff.login", actor_name="finance").all()
    assert len(rows) == 1


def test_health_endpoints(client, his):
    assert client.get("/api/health/live").get_json() == {"status": "ok"}
    ready = client.get("/api/health/ready")
    assert ready.status_code == 200, ready.get_json()
    assert ready.get_json()["checks"]["migrations"]["ok"]


def test_security_headers_on_patient_pages(client):
    response = client.get("/h5/")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["Cache-Control"] == "private, no-store"


RATE_LIMIT_PROBE = """
import os, sys
os.environ["HUEY_URL"] = "memory://"
from app import create_app
from flask_migrate import upgrade
app = create_app("test", RATELIMIT_ENABLED=True, SQLALCHEMY_DATABASE_URI=sys.argv[1])
with app.app_context():
    upgrade()
client = app.test_client()
print([client.post("/login/", data={"username": "admin", "password": "wrong"}).status_code for _ in range(12)])
"""


def test_staff_login_is_rate_limited(tmp_path):
    """A fresh process with the limiter on (as in every non-test config): the 11th try gets 429."""
    import ast
    import os
    import subprocess
    import sys

    env = dict(os.environ, INSTANCE_DIR=str(tmp_path))
    # Under CI's faketime run the probe keeps the real clock: libfaketime left the limiter's timer thread
    # waiting forever at the probe's exit (and the limit does not depend on the date).
    for name in ("LD_PRELOAD", "FAKETIME", "FAKETIME_SHARED"):
        env.pop(name, None)
    result = subprocess.run([sys.executable, "-c", RATE_LIMIT_PROBE, f"sqlite:///{tmp_path / 'rl.db'}"],
                            capture_output=True, text=True, env=env, timeout=120)
    codes = ast.literal_eval(result.stdout.strip().splitlines()[-1])
    assert 429 not in codes[:10] and codes[10:] == [429, 429], (codes, result.stderr[-2000:])


def test_production_keeps_rate_limits_in_redis():
    from config import ProductionConfig

    config = ProductionConfig({"REDIS_URL": "redis://cache:6379/0"})
    # Sign-in failures are counted in the database (app/security/throttle.py); Flask-Limiter's other
    # limits share Redis.
    assert config.RATELIMIT_STORAGE_URI == "redis://cache:6379/0"


def test_unknown_patient_address_gets_the_friendly_page(client):
    response = client.get("/h5/no-such-page")
    assert response.status_code == 404 and "页面不存在或已失效" in response.get_data(as_text=True)
    assert "页面不存在或已失效" not in client.get("/no-such-page").get_data(as_text=True)
