"""The H5 home and the back-office login in a real browser."""

from __future__ import annotations

from tests.browser.conftest import assert_fits_375, shot


def test_h5_home_at_375px_in_chinese_and_english(wechat_page, live_server):
    page = wechat_page
    page.goto(f"{live_server}/h5/")
    for title in ["预约挂号", "门诊缴费", "排队叫号", "报告查询", "住院服务", "个人中心"]:
        assert page.get_by_text(title, exact=True).is_visible()
    assert_fits_375(page)
    # six services in a three-column grid: two rows, all inside the viewport
    boxes = [page.locator(f"[data-service={k}]").bounding_box() for k in
             ("booking", "bills", "queue", "reports", "inpatient", "me")]
    assert all(b["x"] >= 0 and b["x"] + b["width"] <= 375 for b in boxes)
    assert len({round(b["y"]) for b in boxes}) == 2
    # each service has its own drawn icon (a calendar, a card, a bed …), not a placeholder shape
    tiles = page.locator("[data-service]")
    drawings = [tiles.nth(i).locator(".h5-icon svg").inner_html() for i in range(tiles.count())]
    assert len(drawings) == tiles.count() >= 10 and len(set(drawings)) == len(drawings)
    icon = page.locator("[data-service=booking] .h5-icon svg").bounding_box()
    assert icon["width"] >= 20 and icon["height"] >= 20
    shot(page, "h5_home_zh")
    page.click("a.h5-lang")
    page.wait_for_url(f"{live_server}/h5/")
    assert page.get_by_text("Registration", exact=True).is_visible()
    assert_fits_375(page)
    shot(page, "h5_home_en")
    page.click("a.h5-lang")
    assert page.get_by_text("预约挂号", exact=True).is_visible()


def test_backoffice_login_renders_and_signs_in(desktop_page, live_server, app):
    from doubles.demo.hospital import seed_demo

    with app.app_context():
        seed_demo()
    page = desktop_page
    page.goto(f"{live_server}/login/")
    shot(page, "backoffice_login")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", "admin123")
    page.click("input[type=submit], button[type=submit]")
    page.wait_for_load_state()
    assert page.locator("a[href*='logout']").count() >= 1
    page.goto(f"{live_server}/auditlogview/list/")
    assert page.get_by_text("staff.login").first.is_visible()
    shot(page, "backoffice_audit_log")
