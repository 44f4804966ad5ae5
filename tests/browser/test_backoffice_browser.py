"""The back-office in a real browser: each role's menus and refusals, the statistics chart, an export
with its progress bar and download, the cancel form's mandatory reason, the forced password change."""

from __future__ import annotations

from io import BytesIO

import pytest
from openpyxl import load_workbook

from tests.backoffice_helpers import seed_staff_and_orders
from tests.browser.conftest import shot
from tests.helpers.browser import sign_in

VISIBLE_MENUS = {
    "admin": ["订单管理", "财务", "系统配置", "系统管理", "运维"],
    "finance": ["订单管理", "财务"],
    "ops": ["订单管理", "系统配置", "运维"],  # 订单管理 › 订单全链路 only
    "service": ["订单管理"],
}
CATEGORIES = {"订单管理", "财务", "系统配置", "系统管理", "运维"}
FORBIDDEN = {
    "finance": ["/operatorview/list/", "/systemsettingview/list/", "/auditlogview/list/", "/patientview/list/"],
    "ops": ["/appointmentorderview/list/", "/statistics/", "/operatorview/list/"],
    "service": ["/statistics/", "/exportjobview/list/", "/systemsettingview/list/", "/refundview/list/"],
}


@pytest.fixture()
def demo(app, browser_mode):
    seed_staff_and_orders(app, days=10, per_day=10)


@pytest.mark.parametrize("username", ["admin", "finance", "ops", "service"])
def test_each_role_sees_its_menus_and_is_refused_elsewhere(desktop_page, live_server, demo, username):
    page = desktop_page
    sign_in(page, live_server, username)
    nav = page.locator(".navbar-nav").first.inner_text()
    for category in CATEGORIES:
        assert (category in nav) == (category in VISIBLE_MENUS[username]), (username, category, nav)
    shot(page, f"backoffice_menu_{username}")
    for url in FORBIDDEN.get(username, []):
        response = page.goto(f"{live_server}{url}")
        # FAB refuses with 403, or sends the user back to the index/login
        assert response.status == 403 or url not in page.url, (username, url, page.url)


def test_finance_statistics_chart_and_export_download(desktop_page, live_server, demo, app):
    page = desktop_page
    sign_in(page, live_server, "finance")
    page.click("text=财务")
    page.click("text=交易统计")
    page.wait_for_selector("#stat-chart[data-ready='1'] canvas")
    net_on_page = page.locator("[data-test=total-net]").inner_text()
    shot(page, "backoffice_statistics")
    page.click("[data-test=export-xlsx]")
    page.wait_for_selector("#export-download:not(.hidden)")
    assert page.locator("#export-progress").inner_text() == "100%"
    shot(page, "backoffice_export_done")
    with page.expect_download() as info:
        page.click("[data-test=download]")
    download = info.value
    assert download.suggested_filename.startswith("交易统计_") and download.suggested_filename.endswith(".xlsx")
    data = BytesIO(open(download.path(), "rb").read())
    rows = list(load_workbook(data, read_only=True)["按日"].iter_rows(values_only=True))
    assert rows[-1][0].startswith("合计") and f"{rows[-1][8]:,.2f}" == net_on_page  # thousand separators


def test_finance_searches_payment_orders_and_opens_the_history(desktop_page, live_server, demo):
    page = desktop_page
    sign_in(page, live_server, "finance")
    page.goto(f"{live_server}/paymentorderview/list/?_flt_0_status=refunded")
    assert "陈丽华" not in page.content()
    shot(page, "backoffice_payment_orders")
    page.locator("a[href*='/paymentorderview/show/']").first.click()
    page.wait_for_selector("[data-test=history]")
    assert page.locator("[data-test=refunds]").is_visible()
    shot(page, "backoffice_payment_detail")


def test_service_desk_must_give_a_reason_to_cancel(desktop_page, live_server, demo):
    page = desktop_page
    sign_in(page, live_server, "service")
    page.goto(f"{live_server}/appointmentorderview/list/?_flt_0_status=booked")
    page.locator("a[href*='/appointmentorderview/show/']").first.click()
    page.click("[data-test=cancel-booking]")
    page.click("#cancel-form button[type=submit]")
    assert page.locator("[data-test=reason-error]").inner_text() == "请填写取消原因"
    page.fill("textarea[name=reason]", "患者来电要求取消")
    shot(page, "backoffice_cancel_form")


def test_reset_password_forces_a_new_one_in_the_browser(desktop_page, live_server, demo, app):
    page = desktop_page
    sign_in(page, live_server, "admin")
    page.goto(f"{live_server}/operatorview/list/")
    shot(page, "backoffice_operators")
    row = page.locator("tr").filter(has=page.get_by_role("cell", name="service", exact=True)).first
    row.locator("input[type=checkbox]").check()
    page.get_by_role("button", name="操作").click()
    page.locator("a", has_text="重置密码").first.click()
    page.click("#modal-confirm-ok")  # FAB's own confirmation dialog
    page.wait_for_selector("[data-test=temp-password]")
    temporary = page.locator("[data-test=temp-password]").inner_text()
    shot(page, "backoffice_temp_password")
    sign_in(page, live_server, "service", temporary)
    page.goto(f"{live_server}/appointmentorderview/list/")
    assert "/resetmypassword/form" in page.url
    shot(page, "backoffice_forced_password_change")
    page.fill("input[name=current_password]", temporary)
    page.fill("input[name=password]", "Front-Desk-2026")
    page.fill("input[name=conf_password]", "Front-Desk-2026")
    page.click("input[type=submit], button[type=submit]")
    page.goto(f"{live_server}/appointmentorderview/list/")
    assert "/appointmentorderview/list" in page.url  # the account works again with the new password
