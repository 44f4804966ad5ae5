"""The staff second factor (issue 15): enrolment with a QR code drawn here, recovery codes shown once,
the code asked at every sign-in, failures counted like wrong passwords, required by role (setting),
reset by an administrator; every step audited."""

from __future__ import annotations

import re

import pytest

from app import clock
from tests.security_helpers import audit_rows, make_operator, remove_operator, require_second_factor_for, sign_in


@pytest.fixture(autouse=True)
def _clock():
    yield
    clock.reset()


def _enrol(client) -> tuple[str, list[str]]:
    from app.security import totp

    page = client.get("/my-security/two-factor/").get_data(as_text=True)
    assert "<svg" in page  # the QR code, drawn on our side
    secret = re.search(r'data-test="totp-secret">([A-Z2-7]+)<', page).group(1)
    wrong = client.post("/my-security/two-factor/", data={"code": "000000"}).get_data(as_text=True)
    assert "验证码不正确" in wrong
    done = client.post("/my-security/two-factor/", data={"code": totp.current_code(secret)})
    codes = re.findall(r"<li>([0-9a-f]{6}-[0-9a-f]{6})</li>", done.get_data(as_text=True))
    assert len(codes) == 10
    return secret, codes


def test_enrol_then_every_sign_in_asks_for_the_code(app, client, operator):
    from app.security import totp

    sign_in(client, operator["username"], operator["password"])
    secret, codes = _enrol(client)
    # shown once: the page now only says it is on
    assert "data-test=\"recovery-codes\"" not in client.get("/my-security/two-factor/").get_data(as_text=True)
    assert audit_rows(app, "staff.2fa_enrol")
    client.get("/logout/")
    response = sign_in(client, operator["username"], operator["password"])
    assert response.status_code == 302 and "/login/second-factor/" in response.headers["Location"]
    assert client.get("/users/userinfo/").status_code == 302  # not signed in yet
    assert client.post("/login/second-factor/", data={"code": "123456"}).status_code == 302
    assert client.get("/users/userinfo/").status_code == 302
    code = totp.current_code(secret)
    client.post("/login/second-factor/", data={"code": code})
    assert client.get("/users/userinfo/").status_code == 200
    login = audit_rows(app, "staff.login")[-1]
    assert '"totp"' in login.detail
    # the same code, seen by someone looking over the shoulder, does not open a second session
    client.get("/logout/")
    sign_in(client, operator["username"], operator["password"])
    client.post("/login/second-factor/", data={"code": code})
    assert client.get("/users/userinfo/").status_code == 302
    # a recovery code works once
    client.get("/logout/")
    sign_in(client, operator["username"], operator["password"])
    client.post("/login/second-factor/", data={"code": codes[0]})
    assert client.get("/users/userinfo/").status_code == 200
    client.get("/logout/")
    sign_in(client, operator["username"], operator["password"])
    client.post("/login/second-factor/", data={"code": codes[0]})
    assert client.get("/users/userinfo/").status_code == 302


def test_wrong_codes_lock_the_account(app, client, operator):
    from app.security import totp

    sign_in(client, operator["username"], operator["password"])
    secret, _codes = _enrol(client)
    client.get("/logout/")
    sign_in(client, operator["username"], operator["password"])
    for _ in range(4):
        client.post("/login/second-factor/", data={"code": "000000"})
    locked = client.post("/login/second-factor/", data={"code": "000000"})
    assert locked.status_code == 423 and "账号已锁定" in locked.get_data(as_text=True)
    assert sign_in(client, operator["username"], operator["password"]).status_code == 423
    assert len([r for r in audit_rows(app, "staff.login_failed") if "second_factor" in (r.detail or "")]) == 5
    assert totp.current_code(secret)


def test_a_role_that_requires_it_enrols_before_anything_else(app, client, operator):
    require_second_factor_for(app, "Service desk")
    sign_in(client, operator["username"], operator["password"])
    response = client.get("/appointmentorderview/list/")
    assert response.status_code == 302 and "/my-security/two-factor/" in response.headers["Location"]
    _enrol(client)
    assert client.get("/appointmentorderview/list/").status_code == 200


def test_an_administrator_resets_a_lost_second_factor(app, client, operator):
    sign_in(client, operator["username"], operator["password"])
    _enrol(client)
    other = app.test_client()
    admin = make_operator(app, role="Admin")
    try:
        sign_in(other, admin["username"], admin["password"])
        other.post("/operatorview/action_post", data={"action": "reset_second_factor", "rowid": [str(operator["id"])]})
        assert [r.actor_name for r in audit_rows(app, "staff.2fa_reset")] == [admin["username"]]
        # the operator's session ended with it; the next sign-in needs the password only
        assert client.get("/users/userinfo/").status_code == 302
        sign_in(client, operator["username"], operator["password"])
        assert client.get("/users/userinfo/").status_code == 200
    finally:
        remove_operator(app, admin["id"])


def test_the_qr_code_and_secret_never_leave_the_platform(app, client, operator):
    sign_in(client, operator["username"], operator["password"])
    page = client.get("/my-security/two-factor/").get_data(as_text=True)
    assert "chart.googleapis" not in page and "api.qrserver" not in page and "http" not in page.split("<svg")[1][:40]
