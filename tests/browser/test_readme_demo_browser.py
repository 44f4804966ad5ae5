"""The README's 演示：三条路径, step by step on the demo seed, asserting what the README says the user sees:
a patient books and pays in the WeChat sandbox (预约成功); the clinic is stopped with the command the README
gives, the fee comes back and the 停诊 notice's 一键改约 opens the rebooking; finance resolves a
reconciliation difference from its detail page. Screenshots go to /tmp/readme_demo_*.png."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from app import clock
from app.extensions import db
from app.models import AppointmentOrder, ChannelUser, ReconciliationItem
from tests import factories
from tests.backoffice_helpers import seed_staff_and_orders
from tests.helpers.booking import find_slice
from tests.helpers.browser import sign_in


def _shot(page, name: str) -> None:
    page.screenshot(path=f"/tmp/readme_demo_{name}.png", full_page=True)


@pytest.fixture()
def morning():
    """09:10 Beijing, the next one ahead: the booking window and the payment deadline are what any day has."""
    target = dt.datetime.combine(clock.today(), dt.time(9, 10))
    clock.travel(target if target > clock.beijing_now() else target + dt.timedelta(days=1))
    yield
    clock.reset()


def test_readme_paths_1_and_2_pay_then_stop_and_rebook_from_the_notice(wechat_page, app, his, live_server,
                                                                      morning):
    page = wechat_page
    with app.app_context():
        from doubles.demo.hospital import seed_demo

        seed_demo()
        user = db.session.scalar(select(ChannelUser).where(ChannelUser.channel_uid == "demo-patient-wechat"))
        slc = find_slice()
        dept, day, doctor, slice_id = (slc.schedule.department.code, slc.schedule.clinic_date.isoformat(),
                                       slc.schedule.doctor.code, slc.id)
        owner_id = user.id
    # path 1: sign in on the sandbox authorisation page as 演示患者（微信）, then 预约挂号 → department → day →
    # doctor → time → 确认预约并支付 → 立即支付 → the sandbox cashier's 确认支付 → 支付成功 → 查看订单: 预约成功
    page.goto(f"{live_server}/h5/me")  # 个人中心 asks who the patient is; 首页 does not
    page.wait_for_selector("#sandbox-allow")
    page.click("label:has-text('演示患者（微信）')")
    _shot(page, "1_authorise")
    page.click("#sandbox-allow")
    page.wait_for_selector("[data-entry=bookings]")
    page.goto(f"{live_server}/h5/")
    page.click("[data-service=booking]")
    page.click(f"a[data-dept={dept}]")
    page.click(f"[data-date='{day}']")
    page.click(f"[data-doctor={doctor}]")
    page.click(f"[data-slice='{slice_id}']")
    page.click("[data-book]")
    page.click("[data-pay]")
    page.wait_for_selector("#confirm")
    _shot(page, "1_cashier")
    page.click("#confirm")
    page.wait_for_selector("text=支付成功", timeout=20000)
    _shot(page, "1_paid")
    page.click("text=查看订单")
    page.wait_for_selector("[data-status=booked]")
    assert page.locator(".bk-order__top strong").inner_text() == "预约成功"
    visit_no = page.locator("[data-visit]").inner_text().strip()
    assert visit_no
    _shot(page, "1_booked")
    page.goto(f"{live_server}/h5/messages")
    assert page.locator("text=预约成功").count() >= 1

    # path 2: staff stop the clinic by the 就诊流水号 read on the order; the fee is refunded automatically
    result = app.test_cli_runner().invoke(args=["his", "stop-clinic", visit_no, "--reason", "医生外出会诊"])
    assert result.exit_code == 0 and "platform notified" in result.output, result.output
    with app.app_context():
        order_id = db.session.scalar(select(AppointmentOrder.id).where(AppointmentOrder.owner_id == owner_id,
                                                                      AppointmentOrder.his_visit_no == visit_no))

    def refunded() -> bool:
        with app.app_context():
            return db.session.get(AppointmentOrder, order_id).status == "refunded"

    assert factories.wait_for(refunded, timeout=20)
    page.goto(f"{live_server}/h5/")
    page.goto(f"{live_server}/h5/messages")  # 消息中心
    page.click("text=停诊通知")
    page.wait_for_selector("[data-notice-link]")
    assert "医生外出会诊" in page.content()
    assert page.locator("[data-notice-link]").inner_text() == "一键改约"
    _shot(page, "2_stop_notice")
    page.click("[data-notice-link]")
    page.wait_for_url(f"**/h5/booking/orders/{order_id}/rebook")
    _shot(page, "2_rebook")
    page.goto(f"{live_server}/h5/booking/orders/{order_id}")
    assert page.locator("[data-status=refunded]").count() == 1 and page.locator("[data-rebook]").is_visible()
    _shot(page, "2_order_refunded")


def test_readme_path_3_finance_resolves_a_difference_from_its_detail_page(desktop_page, app, live_server,
                                                                         morning):
    page = desktop_page
    seed_staff_and_orders(app, days=4, per_day=8)
    with app.app_context():
        assert db.session.scalar(select(ReconciliationItem.id).where(ReconciliationItem.resolved_at.is_(None)))
    sign_in(page, live_server, "finance")
    page.click("text=财务")
    page.click("a:has-text('对账差异')")
    page.wait_for_selector("text=医院无此笔")
    _shot(page, "3_differences")
    row = page.locator("tr", has_text="医院无此笔").filter(has_text="—").first
    row.locator("a[href*='/show/']").first.click()
    page.wait_for_selector("text=对账差异详情")
    _shot(page, "3_detail")
    page.fill("input[name=comment]", "已与微信支付核实，次日到账")
    page.click("button:has-text('标记为已处理')")
    page.wait_for_selector("text=已标记为已处理")
    assert page.locator("button:has-text('标记为已处理')").count() == 0
    assert page.locator("tr", has_text="处理人").locator("td").last.inner_text().strip() == "finance"
    assert "已与微信支付核实" in page.locator("tr", has_text="说明").first.inner_text()
    _shot(page, "3_resolved")
