"""The back-office home page and 订单全链路 at 1440 px, as the roles that use them."""

from __future__ import annotations

import datetime as dt

import pytest

from app import clock
from app.extensions import db
from tests.backoffice_helpers import seed_staff_and_orders
from tests.browser.conftest import shot
from tests.helpers.browser import sign_in


@pytest.fixture()
def worklist_demo(app, browser_mode):
    clock.travel(dt.datetime(2026, 11, 18, 15, 30))
    seed_staff_and_orders(app, days=8, per_day=6)
    with app.app_context():
        from doubles.demo.backoffice import seed_worklist_demo

        seed_worklist_demo()
        db.session.remove()
    yield
    clock.reset()


@pytest.mark.parametrize("username", ["finance", "service", "ops"])
def test_each_role_opens_its_home_page_and_follows_a_worklist_count(wide_page, live_server, worklist_demo,
                                                                    username):
    page = wide_page
    sign_in(page, live_server, username)
    page.goto(f"{live_server}/")
    assert page.locator("[data-test=worklist] a[data-test=count]").count() >= 1
    if username != "ops":
        assert page.locator("[data-test=today-bookings]").is_visible()
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 1440
    shot(page, f"home_{username}")
    link = page.locator("[data-test=worklist] a[data-test=count]").first
    expected = int(link.inner_text().split()[0].replace(",", ""))
    link.click()
    page.wait_for_load_state()
    assert page.locator("a[href*='/show/']").count() >= expected
    shot(page, f"home_{username}_followed")


def test_service_desk_diagnoses_a_failed_payment_from_the_trace_page(wide_page, live_server, worklist_demo):
    page = wide_page
    sign_in(page, live_server, "service")
    page.goto(f"{live_server}/")
    page.fill("input[name=q]", "13800000000")
    page.click("form[action*='/trace/'] button[type=submit]")
    page.wait_for_selector("[data-test=matches]")
    shot(page, "trace_matches")
    page.locator("[data-test=matches] a", has_text="DEMOWLMZ").last.click()
    page.wait_for_selector("[data-test=timeline]")
    text = page.locator("[data-test=timeline]").inner_text()
    assert "医院拒绝：" in text and "HIS refused" not in text and "发送失败" in text
    assert page.locator("tr.danger").count() >= 2
    shot(page, "trace_story")


def test_service_desk_confirms_before_cancelling_a_booking_whose_clinic_is_over(wide_page, live_server,
                                                                               worklist_demo, app):
    from sqlalchemy import select

    from app.models import AppointmentOrder

    with app.app_context():
        order = db.session.scalar(select(AppointmentOrder).where(AppointmentOrder.status == "visited")
                                  .order_by(AppointmentOrder.id))
        order.status = "booked"
        db.session.commit()
        pk = order.id
    page = wide_page
    sign_in(page, live_server, "service")
    page.goto(f"{live_server}/appointmentorderview/cancel/{pk}")
    assert page.locator("[data-test=clinic-over]").is_visible()
    page.fill("textarea[name=reason]", "患者来电要求取消")
    page.click("#cancel-form button[type=submit]")
    assert page.locator("[data-test=confirm-error]").inner_text() == "就诊时间已过，请勾选确认后再取消"
    assert page.locator("textarea[name=reason]").input_value() == "患者来电要求取消"
    shot(page, "cancel_clinic_over")
    page.check("input[name=confirm_over]")
    page.click("#cancel-form button[type=submit]")
    page.wait_for_selector(".alert-success")


def test_finance_exports_a_filtered_list_and_reads_the_jobs_conditions(wide_page, live_server, worklist_demo):
    page = wide_page
    sign_in(page, live_server, "finance")
    page.goto(f"{live_server}/paymentorderview/list/?_flt_0_status=confirmed&_flt_0_channel=alipay")
    page.click("[data-test=export-xlsx]")
    page.wait_for_selector("#export-download:not(.hidden)")
    assert page.locator("#export-status-text").inner_text() == "已完成"
    conditions = page.locator("[data-test=conditions]").inner_text()
    assert "状态：已确认" in conditions and "渠道：支付宝" in conditions
    shot(page, "export_job_detail")


def test_finance_picks_a_preset_and_reads_the_total_of_the_filtered_payments(wide_page, live_server,
                                                                             worklist_demo, app):
    page = wide_page
    sign_in(page, live_server, "finance")
    page.goto(f"{live_server}/paymentorderview/list/?_flt_0_channel=wechat")
    page.click("[data-test=preset-this_week]")
    page.wait_for_load_state()
    assert "_flt_0_created_at=2026-11-16" in page.url
    assert "下单日期从：2026-11-16" in page.locator("[data-test=active-conditions]").inner_text()
    assert page.locator("[data-test=preset-this_week].active").count() == 1
    assert page.locator("[data-test=total-amount]").is_visible()
    shot(page, "payments_this_week")
    page.goto(f"{live_server}/refundview/list/?_flt_0_status=failed")
    from sqlalchemy import func, select

    from app.models import Refund

    with app.app_context():
        failed = db.session.scalar(select(func.count()).select_from(Refund).where(Refund.status == "failed"))
    assert failed >= 1 and page.locator("[data-test=total-count]").inner_text() == str(failed)
    shot(page, "refunds_failed")


def test_ops_keeps_an_inspection_and_follows_a_suggestion(wide_page, live_server, worklist_demo):
    page = wide_page
    sign_in(page, live_server, "ops")
    page.goto(f"{live_server}/inspection/?days=30")
    page.click("[data-test=save]")
    page.wait_for_selector("[data-test=records] a")
    shot(page, "inspection_kept")
    page.goto(f"{live_server}/inspection/?days=30")
    assert page.locator("[data-test=trend]").count() >= 5
    shot(page, "inspection_live")
    with page.expect_download() as info:
        page.click("[data-test=download-docx]")
    assert info.value.suggested_filename.endswith(".docx")
    page.locator("[data-test=advice-link]", has_text="去处理").last.click()
    page.wait_for_load_state()
    assert "/notificationview/list/" in page.url


def test_finance_clicks_a_day_in_the_counts_chart_and_sees_its_orders(wide_page, live_server, worklist_demo):
    page = wide_page
    sign_in(page, live_server, "finance")
    page.goto(f"{live_server}/analytics/?start=2026-11-12&end=2026-11-18")
    page.wait_for_selector("body[data-charts-ready='1'] #chart-counts canvas")
    assert page.locator("[data-test=summary]").inner_text().count("净") == 2
    shot(page, "analytics_wide")
    # the pixel of the outpatient part of 2026-11-17's stacked bar in the counts chart, from ECharts itself
    page.locator("#chart-counts").scroll_into_view_if_needed()
    box = page.locator("#chart-counts").bounding_box()
    x, y = page.evaluate("""() => {
        var chart = echarts.getInstanceByDom(document.getElementById('chart-counts'));
        var option = chart.getOption(), day = option.xAxis[0].data.indexOf('2026-11-17');
        var names = option.series.map(function (s) { return s.name; }), i = names.indexOf('门诊缴费');
        var below = 0;
        for (var k = 0; k < i; k++) { below += Number(option.series[k].data[day]); }
        return chart.convertToPixel({seriesIndex: i}, [day, below + Number(option.series[i].data[day]) / 2]);
    }""")
    page.mouse.click(box["x"] + x, box["y"] + y)
    page.wait_for_url("**/paymentorderview/list/**")
    # the day it was paid: what the chart counts a payment by
    assert "_flt_0_paid_at=2026-11-17" in page.url and "_flt_0_kind=outpatient" in page.url
    assert page.locator("a[href*='/paymentorderview/show/']").count() >= 1
    shot(page, "analytics_day_orders")


def test_finance_retries_a_failed_refund_from_its_detail_after_saying_yes(wide_page, live_server, app, worklist_demo):
    """退费详情's 重试 asked with an inline onsubmit handler, which the CSP blocks: the question never came and one
    click re-sent the refund. It asks now; 取消 sends nothing, 确定 sends it."""
    from sqlalchemy import select

    from app.models import Refund

    with app.app_context():
        failed = db.session.scalar(select(Refund.id).where(Refund.status == "failed").order_by(Refund.id))
    page = wide_page
    sign_in(page, live_server, "finance")
    page.goto(f"{live_server}/refundview/show/{failed}")
    asked: list[str] = []

    def answer(dialog, accept: bool) -> None:
        asked.append(dialog.message)
        dialog.accept() if accept else dialog.dismiss()

    page.once("dialog", lambda d: answer(d, False))
    page.click("[data-test=retry-refund]")
    page.wait_for_timeout(300)
    assert asked == ["对这笔退款失败记录重新发起退款？"] and page.url.endswith(f"/refundview/show/{failed}")
    with app.app_context():
        before = db.session.get(Refund, failed)
        assert before.status == "failed"  # 取消: nothing sent
        before = before.attempts
        db.session.remove()
    page.once("dialog", lambda d: answer(d, True))
    page.click("[data-test=retry-refund]")
    page.wait_for_load_state()
    with app.app_context():
        assert db.session.get(Refund, failed).attempts > before or db.session.get(Refund, failed).status != "failed"
