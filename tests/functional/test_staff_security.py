"""Staff authentication (issue 15): no REST login, lockout, failure-only throttles per account and per
client, the real client address behind trusted proxies, Chinese 423/429 pages."""

from __future__ import annotations

import datetime as dt

import pytest

from app import clock
from tests.security_helpers import at_window_start, audit_rows, make_operator, remove_operator, sign_in


@pytest.fixture(autouse=True)
def _clock():
    yield
    clock.reset()


def test_flask_appbuilders_json_login_is_not_offered(app, client, operator):
    for _ in range(3):
        response = client.post("/api/v1/security/login", json={"username": operator["username"],
                                                               "password": operator["password"], "provider": "db"})
        assert response.status_code == 404
    assert not [r.rule for r in app.url_map.iter_rules() if r.rule.startswith("/api/v1")]


def test_wrong_passwords_lock_the_account_until_time_or_an_admin(app, client, operator):
    for _ in range(4):
        assert sign_in(client, operator["username"], "wrong-Password-1").status_code == 302
    locked = sign_in(client, operator["username"], "wrong-Password-1")
    assert locked.status_code == 423 and "账号已锁定" in locked.get_data(as_text=True)
    # The right password does not open a locked account.
    again = sign_in(client, operator["username"], operator["password"])
    assert again.status_code == 423 and "联系系统管理员解锁" in again.get_data(as_text=True)
    assert len(audit_rows(app, "staff.login_failed")) == 5
    assert [r.target_id for r in audit_rows(app, "staff.account_locked")] == [str(operator["id"])]
    assert audit_rows(app, "staff.login_refused_locked")
    clock.advance(dt.timedelta(minutes=31))
    assert sign_in(client, operator["username"], operator["password"]).status_code == 302
    assert client.get("/users/userinfo/").status_code == 200


def test_an_administrator_unlocks(app, client, operator):
    at_window_start()
    for _ in range(5):
        sign_in(client, operator["username"], "wrong-Password-1")
    admin = make_operator(app, role="Admin")
    try:
        assert sign_in(client, admin["username"], admin["password"]).status_code == 302
        shown = client.get(f"/operatorview/show/{operator['id']}").get_data(as_text=True)
        until = clock.display(clock.utcnow() + dt.timedelta(minutes=30), "%Y-%m-%d %H:")
        assert "锁定至" in shown and until in shown
        client.post("/operatorview/action_post", data={"action": "unlock", "rowid": [str(operator["id"])]})
        client.get("/logout/")
        assert sign_in(client, operator["username"], operator["password"]).status_code == 302
        unlock = audit_rows(app, "staff.operator_unlock")
        assert [(r.actor_name, r.target_id) for r in unlock] == [(admin["username"], str(operator["id"]))]
    finally:
        remove_operator(app, admin["id"])


def test_successful_sign_ins_never_count(app, client, operator):
    for _ in range(15):
        assert sign_in(client, operator["username"], operator["password"]).status_code == 302
        client.get("/logout/")


def test_failures_per_account_are_limited_even_for_unknown_names(app, client, clean_db):
    at_window_start()
    codes = [sign_in(client, "nobody-here", "wrong-Password-1").status_code for _ in range(11)]
    assert codes[:10] == [302] * 10
    assert codes[10] == 429
    page = sign_in(client, "nobody-here", "wrong-Password-1").get_data(as_text=True)
    assert "尝试次数过多" in page and "分钟后" in page
    assert audit_rows(app, "staff.login_throttled")


def test_failures_per_client_are_limited_across_names(app, client, operator):
    at_window_start()
    for n in range(30):
        sign_in(client, f"guess{n}", "wrong-Password-1")
    # Even the right password is not checked from this client for now...
    assert sign_in(client, operator["username"], operator["password"]).status_code == 429
    # ...while another client (another address) signs in.
    other = app.test_client()
    response = other.post("/login/", data={"username": operator["username"], "password": operator["password"]},
                          environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert response.status_code == 302
    clock.advance(dt.timedelta(minutes=16))
    assert sign_in(client, operator["username"], operator["password"]).status_code == 302


def test_the_client_address_is_the_proxys_word_not_the_clients(app, client, operator):
    """X-Forwarded-For is believed only from the configured proxies (ProxyFix): without a trusted proxy a
    forged header changes nothing; behind one, the address the proxy saw is recorded."""
    from werkzeug.middleware.proxy_fix import ProxyFix

    forged = {"X-Forwarded-For": "203.0.113.66"}
    client.post("/login/", data={"username": operator["username"], "password": "bad-Password-1"}, headers=forged)
    assert audit_rows(app, "staff.login_failed")[-1].ip == "127.0.0.1"
    original = app.wsgi_app
    app.wsgi_app = ProxyFix(original, x_for=1, x_proto=1, x_host=1)
    try:
        client.post("/login/", data={"username": operator["username"], "password": "bad-Password-1"},
                    headers={"X-Forwarded-For": "203.0.113.66, 198.51.100.7"})
    finally:
        app.wsgi_app = original
    assert audit_rows(app, "staff.login_failed")[-1].ip == "198.51.100.7"


def test_trusted_proxies_come_from_config():
    from config import Config, ProductionConfig

    assert Config.TRUSTED_PROXY_COUNT == 0
    assert ProductionConfig({"TRUSTED_PROXY_COUNT": "1"}).TRUSTED_PROXY_COUNT == 1


# --- passwords ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("password", ["1", "service", "service123", "alllowercase1", "Short-1a"])
def test_the_policy_refuses_weak_passwords(app, password):
    from app.security.passwords import problems

    with app.test_request_context():
        assert problems(password, username="service")


def test_the_policy_refuses_the_login_name_and_accepts_a_good_one(app):
    from app.security.passwords import problems

    with app.test_request_context():
        assert problems("Nurse-Wang-2026", username="wang") and not problems("Ward-7-Night-Shift", username="wang")


def _change(client, current, new, confirm=None):
    return client.post("/resetmypassword/form", data={"current_password": current, "password": new,
                                                      "conf_password": confirm or new})


def test_changing_a_password_needs_the_current_one_and_the_policy(app, client, operator):
    sign_in(client, operator["username"], operator["password"])
    refused = _change(client, "not-my-Password-9", "Clinic-Day-2027")
    assert refused.status_code == 200 and "当前密码不正确" in refused.get_data(as_text=True)
    weak = _change(client, operator["password"], "service")
    assert weak.status_code == 200 and "密码至少 10 位" in weak.get_data(as_text=True)
    assert _change(client, operator["password"], "Clinic-Day-2027").status_code == 302
    assert audit_rows(app, "staff.password_change_refused") and audit_rows(app, "staff.password_changed")
    client.get("/logout/")
    assert sign_in(client, operator["username"], "Clinic-Day-2027").status_code == 302
    # None of the last five comes back.
    reused = _change(client, "Clinic-Day-2027", operator["password"])
    assert "最近 5 次" in reused.get_data(as_text=True)


def test_an_old_password_must_be_changed(app, client, operator):
    sign_in(client, operator["username"], operator["password"])
    assert client.get("/users/userinfo/").status_code == 200
    clock.advance(dt.timedelta(days=91))
    sign_in(client, operator["username"], operator["password"])
    response = client.get("/users/userinfo/")
    assert response.status_code == 302 and "/resetmypassword/form" in response.headers["Location"]


def test_an_administrator_cannot_set_a_weak_password_in_the_user_list(app, client, operator):
    admin = make_operator(app, role="Admin")
    try:
        sign_in(client, admin["username"], admin["password"])
        page = client.post(f"/resetpassword/form?pk={operator['id']}", data={"password": "1", "conf_password": "1"})
        assert page.status_code == 200 and "密码至少 10 位" in page.get_data(as_text=True)
        added = client.post("/users/add", data={"username": "weakling", "first_name": "弱", "last_name": "密码",
                                                "email": "weak@t.local", "active": "y", "roles": ["1"],
                                                "password": "service", "conf_password": "service"})
        assert added.status_code == 200 and "密码至少 10 位" in added.get_data(as_text=True)
    finally:
        remove_operator(app, admin["id"])


# --- sessions ----------------------------------------------------------------------------------------

def _copy_cookie(app, source):
    other = app.test_client()
    cookie = source.get_cookie("session")
    other.set_cookie("session", cookie.value)
    return other


def test_a_cookie_captured_before_logout_is_dead_after_it(app, client, operator):
    sign_in(client, operator["username"], operator["password"])
    thief = _copy_cookie(app, client)
    assert thief.get("/users/userinfo/").status_code == 200
    client.get("/logout/")
    assert thief.get("/users/userinfo/").status_code == 302
    assert audit_rows(app, "staff.logout") and audit_rows(app, "staff.session_ended")


def test_a_password_change_ends_every_other_session(app, client, operator):
    sign_in(client, operator["username"], operator["password"])
    other = app.test_client()
    sign_in(other, operator["username"], operator["password"])
    assert _change(client, operator["password"], "Clinic-Day-2027").status_code == 302
    assert client.get("/users/userinfo/").status_code == 200
    assert other.get("/users/userinfo/").status_code == 302


def test_a_role_change_or_disabling_ends_the_sessions(app, client, operator):
    from app.extensions import db

    sign_in(client, operator["username"], operator["password"])
    assert client.get("/users/userinfo/").status_code == 200
    with app.app_context():
        sm = app.appbuilder.sm
        user = sm.get_user_by_id(operator["id"])
        user.roles = [sm.find_role("Operations")]
        db.session.commit()
    assert client.get("/users/userinfo/").status_code == 302
    sign_in(client, operator["username"], operator["password"])
    assert client.get("/users/userinfo/").status_code == 200
    with app.app_context():
        app.appbuilder.sm.get_user_by_id(operator["id"]).active = False
        db.session.commit()
    assert client.get("/users/userinfo/").status_code == 302


def test_idle_staff_sign_in_again_and_no_session_lasts_forever(app, client, operator):
    sign_in(client, operator["username"], operator["password"])
    clock.advance(dt.timedelta(minutes=29))
    assert client.get("/users/userinfo/").status_code == 200
    clock.advance(dt.timedelta(minutes=31))
    idle = client.get("/users/userinfo/", follow_redirects=True)
    assert "长时间未操作，请重新登录" in idle.get_data(as_text=True)
    sign_in(client, operator["username"], operator["password"])
    for _ in range(26):  # busy all day: every 29 minutes for 12.5 hours
        clock.advance(dt.timedelta(minutes=29))
        response = client.get("/users/userinfo/")
    assert response.status_code == 302


# --- Content-Security-Policy -------------------------------------------------------------------------

def _nonce(policy: str) -> str:
    import re

    script = next(part for part in policy.split(";") if part.strip().startswith("script-src"))
    assert "'unsafe-inline'" not in script and "'unsafe-eval'" not in script
    return re.search(r"'nonce-([^']+)'", script).group(1)


def test_back_office_pages_allow_only_their_own_scripts(app, client, operator):
    import re

    sign_in(client, operator["username"], operator["password"])
    response = client.get("/appointmentorderview/list/")
    nonce = _nonce(response.headers["Content-Security-Policy"])
    page = response.get_data(as_text=True)
    inline = re.findall(r"<script(?![^>]*\bsrc=)([^>]*)>", page)
    assert inline and all(f'nonce="{nonce}"' in attrs for attrs in inline)
    assert " onclick=" not in page and "javascript:" not in page
    login_page = client.get("/logout/", follow_redirects=True)
    assert _nonce(login_page.headers["Content-Security-Policy"]) != nonce  # one per response


def test_patient_pages_allow_only_their_own_scripts(app, client, clean_db):
    from app.extensions import db
    from tests import factories

    with app.app_context():
        user = factories.channel_user()
        db.session.commit()
        factories.login(client, user)
    response = client.get("/h5/me")
    _nonce(response.headers["Content-Security-Policy"])
