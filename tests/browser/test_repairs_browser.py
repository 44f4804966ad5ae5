"""数据维护 in the browser: one Admin files a correction (with CSRF, as in production), a second Admin
approves it, and every state of the request page is looked at."""

from __future__ import annotations

from app.extensions import db
from app.models import Patient
from tests.browser.conftest import shot
from tests.helpers.browser import sign_in
from tests.helpers.repairs import ADMINS, admins


def test_propose_then_another_admin_approves(app, live_server, world, booked, desktop_page, browser):
    admins(app)
    page = desktop_page
    sign_in(page, live_server, "admin")
    page.goto(f"{live_server}/repairrequestview/list/")
    shot(page, "repairs_list_empty")
    page.goto(f"{live_server}/repairrequestview/new/")
    page.fill("[data-test=order-no]", booked["order_no"])
    page.click("[data-test=find-order]")
    page.wait_for_selector("#repair-form")
    page.click("[data-test=propose]")  # no phone, no reason: refused with a message
    page.wait_for_selector("[data-test=repair-error]")
    page.fill("[data-test=after-contact]", "13912345670")
    page.fill("[data-test=reason]", "患者来电，登记时手机号填错一位，已核对身份证")
    shot(page, "repairs_new_form")
    page.click("[data-test=propose]")
    page.wait_for_selector("[data-test=own-request]")
    assert page.locator("[data-test=approve]").count() == 0
    shot(page, "repairs_show_own_pending")
    show_url = page.url

    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
    checker = context.new_page()
    checker.set_default_timeout(15000)
    sign_in(checker, live_server, "itlead", ADMINS[1][1])
    checker.goto(show_url)
    checker.wait_for_selector("[data-test=approve]")
    shot(checker, "repairs_show_pending_for_checker")
    checker.click("[data-test=approve]")
    checker.wait_for_selector("text=已审批通过并执行")
    assert checker.inner_text("[data-test=repair-status]") == "已执行"
    shot(checker, "repairs_show_applied")
    checker.goto(f"{live_server}/repairrequestview/list/")
    shot(checker, "repairs_list_applied")
    context.close()
    with app.app_context():
        assert db.session.get(Patient, world["mother"]).phone == "13912345670"
