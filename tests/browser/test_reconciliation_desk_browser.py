"""对账工作台 at 1440 px as finance: the days, a day's differences, resolving two with one reason."""

from __future__ import annotations

from tests.browser.conftest import shot
from tests.helpers.browser import sign_in


def test_finance_resolves_two_differences_of_a_day(wide_page, live_server, differences, browser_mode):
    page = wide_page
    sign_in(page, live_server, "finance")
    page.goto(f"{live_server}/reconciliation/?start=2026-11-01&end=2026-11-21")
    assert page.locator("[data-test=day-2026-11-20-wechat] [data-test=open]").inner_text() == "3"
    shot(page, "reconciliation_desk")
    page.locator("[data-test=day-2026-11-20-wechat] a").click()
    page.wait_for_selector("[data-test=items]")
    boxes = page.locator("#resolve-form input[name=item]")
    boxes.nth(0).check()
    boxes.nth(1).check()
    page.click("[data-test=resolve]")
    assert "请填写处理说明" in page.locator(".alert").first.inner_text()
    page.locator("#resolve-form input[name=item]").nth(0).check()
    page.locator("#resolve-form input[name=item]").nth(1).check()
    page.fill("#comment", "已与渠道核实")
    page.click("[data-test=resolve]")
    page.wait_for_selector(".alert-success")
    assert page.locator("[data-test=items] .label-success").count() == 2
    shot(page, "reconciliation_day")
