"""Staff security pages in a real browser (issue 15): sign-in, the lock page, 2FA enrolment with the QR
code, the code at sign-in, the recovery codes; the CSP lets every page's own scripts run and nothing
else (no CSP violation in the console)."""

from __future__ import annotations

import re

from tests.browser.conftest import shot
from tests.security_helpers import make_operator, remove_operator, require_second_factor_for


def _violations(page) -> list[str]:
    found: list[str] = []
    page.on("console", lambda msg: found.append(msg.text) if "Content Security Policy" in msg.text else None)
    return found


def test_sign_in_lock_and_second_factor_pages(desktop_page, live_server, app):
    from app.security import totp

    require_second_factor_for(app, "Service desk")
    operator = make_operator(app)
    page = desktop_page
    csp = _violations(page)
    try:
        page.goto(f"{live_server}/login/")
        shot(page, "security_login")
        page.fill("input[name=username]", operator["username"])
        page.fill("input[name=password]", operator["password"])
        page.click("input[type=submit], button[type=submit]")
        page.wait_for_url(re.compile(r".*/my-security/two-factor/.*"))
        assert page.locator("[data-test=totp-qr] svg").is_visible()
        shot(page, "security_2fa_enrol")
        secret = page.locator("[data-test=totp-secret]").inner_text()
        page.fill("input[name=code]", totp.current_code(secret))
        page.click("button[type=submit]")
        page.wait_for_selector("[data-test=recovery-codes]")
        assert page.locator("[data-test=recovery-codes] li").count() == 10
        shot(page, "security_2fa_recovery_codes")
        page.goto(f"{live_server}/appointmentorderview/list/")
        assert page.locator("a[href*='logout']").count() >= 1
        page.goto(f"{live_server}/logout/")
        page.goto(f"{live_server}/login/")
        page.fill("input[name=username]", operator["username"])
        page.fill("input[name=password]", operator["password"])
        page.click("input[type=submit], button[type=submit]")
        page.wait_for_url(re.compile(r".*/login/second-factor/.*"))
        shot(page, "security_2fa_code")
        for _ in range(5):
            page.fill("input[name=code]", "000000")
            with page.expect_navigation():
                page.click("button[type=submit]")
        assert page.get_by_role("heading", name="账号已锁定").is_visible()
        shot(page, "security_locked")
        assert not csp, csp
    finally:
        remove_operator(app, operator["id"])


def test_back_office_scripts_run_under_the_csp(desktop_page, live_server, app):
    require_second_factor_for(app, "none")
    operator = make_operator(app, role="Admin")
    page = desktop_page
    csp = _violations(page)
    try:
        page.goto(f"{live_server}/login/")
        page.fill("input[name=username]", operator["username"])
        page.fill("input[name=password]", operator["password"])
        page.click("input[type=submit], button[type=submit]")
        page.wait_for_load_state()
        page.goto(f"{live_server}/operatorview/list/")
        # Flask-AppBuilder's action menu is wired by a nonce'd inline script: it opens
        page.locator("button.dropdown-toggle, a.dropdown-toggle").first.click()
        shot(page, "security_operator_list")
        page.goto(f"{live_server}/statistics/")
        page.wait_for_load_state()
        shot(page, "security_statistics_csp")
        assert not csp, csp
    finally:
        remove_operator(app, operator["id"])


def test_every_operator_finds_their_password_and_second_factor(desktop_page, live_server, app):
    require_second_factor_for(app, "none")
    operator = make_operator(app)
    page = desktop_page
    try:
        page.goto(f"{live_server}/login/")
        page.fill("input[name=username]", operator["username"])
        page.fill("input[name=password]", operator["password"])
        page.click("input[type=submit], button[type=submit]")
        page.wait_for_load_state()
        page.locator("a.dropdown-toggle", has_text="测试").click()
        shot(page, "security_account_menu")
        page.click("[data-test=menu-2fa]")
        page.wait_for_url(re.compile(r".*/my-security/two-factor/.*"))
        assert page.locator("[data-test=totp-qr] svg").is_visible()
    finally:
        remove_operator(app, operator["id"])


def test_reconciliation_day_scripts_run_under_the_csp(wide_page, live_server, differences, browser_mode):
    from tests.helpers.browser import sign_in as staff_sign_in

    page = wide_page
    csp = _violations(page)
    asked: list[str] = []
    page.on("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    staff_sign_in(page, live_server, "admin")
    page.goto(f"{live_server}/reconciliation/?start=2026-11-01&end=2026-11-21")
    page.locator("[data-test=day-2026-11-20-wechat] a").click()
    page.wait_for_selector("[data-test=items]")
    page.wait_for_load_state("load")  # the page's scripts at its end have run (under load the click came first)
    if page.locator("#check-all").count():
        page.check("#check-all")
        assert page.locator("#resolve-form input[name=item]:checked").count() >= 2
    page.click("[data-test=rerun]")  # asks first: dismissed, nothing is re-run
    assert asked and "重新下载" in asked[0]
    assert not csp, csp
