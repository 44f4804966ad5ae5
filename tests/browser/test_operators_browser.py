"""Hospital IT at 1440 px: the permission matrix in Chinese, and a new operator with a field error first."""

from __future__ import annotations

from tests.browser.conftest import shot
from tests.helpers.browser import sign_in
from tests.helpers.operators import GOOD


def test_admin_reads_the_matrix_and_creates_an_operator(wide_page, live_server, staff, browser_mode):
    page = wide_page
    sign_in(page, live_server, "admin")
    page.goto(f"{live_server}/rolematrix/")
    assert "服务台" in page.locator("[data-test=matrix] thead").inner_text()
    assert "can_" not in page.content()
    shot(page, "role_matrix")
    page.goto(f"{live_server}/operatorview/create/")
    for name in ("username", "name", "department"):
        page.fill(f"input[name={name}]", GOOD[name])
    page.fill("input[name=phone]", "1391234")
    page.select_option("select[name=role]", "Finance")
    page.click("#operator-form button[type=submit]")
    assert page.locator("[data-test=error-phone]").inner_text() == "请填写 11 位手机号"
    assert page.locator("input[name=name]").input_value() == "张敏"
    shot(page, "operator_new_error")
    page.fill("input[name=phone]", GOOD["phone"])
    page.click("#operator-form button[type=submit]")
    page.wait_for_selector("[data-test=temp-password]")
    shot(page, "operator_created")
