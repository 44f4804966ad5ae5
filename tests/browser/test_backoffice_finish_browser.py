"""Issue 16, what the review found missing, at 1440 px as the role that uses each: date presets and a
custom range on every date of a list (service desk: 就诊日期), the 合计 row (finance), roles in Chinese
(administrator), the timeline in the state machine's order (IT), 医院无此笔 with the channel's amount
(finance) and 挂号统计 of the demo month (finance)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import func, select

from app import clock
from app.extensions import db
from tests.backoffice_helpers import seed_staff_and_orders
from tests.browser.conftest import shot
from tests.helpers.browser import sign_in


@pytest.fixture()
def month(app, browser_mode):
    clock.travel(dt.datetime(2026, 11, 18, 15, 30))
    seed_staff_and_orders(app, days=10, per_day=8)
    yield
    clock.reset()


def test_the_service_desk_picks_a_clinic_day_and_a_custom_range(wide_page, live_server, month, app):
    from app.models import AppointmentOrder

    page = wide_page
    sign_in(page, live_server, "service")
    page.goto(f"{live_server}/appointmentorderview/list/")
    clinic = page.locator("[data-test=dates-clinic_date]")
    assert clinic.is_visible() and page.locator("[data-test=dates-created_at]").is_visible()
    clinic.locator("[data-test=preset-yesterday]").click()
    page.wait_for_load_state()
    assert "_flt_0_clinic_date=2026-11-17" in page.url and "_flt_1_clinic_date=2026-11-17" in page.url
    assert "就诊日期从：2026-11-17" in page.locator("[data-test=active-conditions]").inner_text()
    with app.app_context():
        on_day = db.session.scalar(select(func.count()).select_from(AppointmentOrder).where(
            AppointmentOrder.clinic_date == dt.date(2026, 11, 17)))
    assert page.locator("[data-test=total-label]").inner_text() == f"合计（全部 {on_day} 笔）"
    form = page.locator("[data-test=custom-clinic_date]")
    form.locator("[data-test=custom-start]").fill("2026-11-10")
    form.locator("[data-test=custom-end]").fill("2026-11-12")
    form.locator("button[type=submit]").click()
    page.wait_for_load_state()
    assert "_flt_0_clinic_date=2026-11-10" in page.url and "_flt_1_clinic_date=2026-11-12" in page.url
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 1440
    shot(page, "appointments_clinic_dates")
    page.goto(f"{live_server}/appointmentorderview/list/?_flt_0_clinic_date=2026-13-01")
    assert "不是有效日期" in page.locator(".alert-danger").first.inner_text()


def test_finance_reads_the_total_row_under_the_filtered_payments(wide_page, live_server, month, app):
    from app.models import PaymentOrder

    page = wide_page
    sign_in(page, live_server, "finance")
    page.goto(f"{live_server}/paymentorderview/list/?_flt_0_kind=outpatient")
    with app.app_context():
        count, fen = db.session.execute(select(func.count(), func.sum(PaymentOrder.amount_fen)).where(
            PaymentOrder.kind == "outpatient")).one()
    row = page.locator("table tfoot [data-test=total-row]")
    assert row.is_visible()
    assert row.locator("[data-test=total-label]").inner_text() == f"合计（全部 {count:,} 笔）"
    assert row.locator("[data-test=total-amount_fen]").inner_text() == f"{fen / 100:,.2f}"
    # the page takes the 1440 px screen (Bootstrap stopped at 1170 px): 门诊缴费 and the menu on one line each
    assert page.evaluate("() => document.querySelector('body > .container').offsetWidth") >= 1300
    kind = page.locator("table tbody td", has_text="门诊缴费").first
    line = page.evaluate("(el) => parseFloat(getComputedStyle(el).lineHeight) || 20", kind.element_handle())
    assert kind.evaluate("(el) => el.getBoundingClientRect().height") < 2 * line + 16, "门诊缴费 wraps"
    assert page.locator("header .navbar").evaluate("(el) => el.getBoundingClientRect().height") < 80
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 1440
    shot(page, "payments_total_row")


def test_the_administrator_reads_roles_and_permissions_in_chinese(wide_page, live_server, month):
    page = wide_page
    sign_in(page, live_server, "admin")
    for url in ("/roles/list/", "/rolematrix/", "/operatorview/list/"):
        page.goto(f"{live_server}{url}")
        # all nine of the administrator's menus, the language and the account on one row at 1440 px
        assert page.locator("header .navbar").evaluate("(el) => el.getBoundingClientRect().height") < 80, url
        text = page.locator("body").inner_text()
        assert "财务" in text and "服务台" in text, url
        for english in ("Finance", "Service desk", "Operations", "can list on", "copyrole"):
            assert english not in text, (url, english)
    shot(page, "operators_roles_chinese")


def test_it_reads_a_refunds_request_before_its_processing(wide_page, live_server, month, app):
    from app.models import Refund

    with app.app_context():
        refund_no = db.session.scalar(select(Refund.refund_no).where(Refund.status == "success").limit(1))
    page = wide_page
    sign_in(page, live_server, "ops")
    page.goto(f"{live_server}/trace/?q={refund_no}")
    timeline = page.locator("[data-test=timeline]").inner_text()
    asked = timeline.index(f"申请退款 {refund_no}")
    moved = re.search(rf"{refund_no}：已申请 → ", timeline)
    assert moved and asked < moved.start(), timeline
    shot(page, "trace_refund_order")


def test_finance_sees_what_the_channel_took_for_a_trade_the_hospital_has_not(wide_page, live_server, month, app):
    from app.models import ReconciliationItem, ReconciliationRun

    with app.app_context():
        item, day = db.session.execute(select(ReconciliationItem, ReconciliationRun.bill_date).join(
            ReconciliationRun, ReconciliationItem.run_id == ReconciliationRun.id)
            .where(ReconciliationItem.kind == "his_missing")).first()
        amount = f"{item.local_amount_fen / 100:,.2f}"
        item_id = item.id
    page = wide_page
    sign_in(page, live_server, "finance")
    page.goto(f"{live_server}/reconciliation/day/{day}")
    row = page.locator(f"[data-test=item-{item_id}]")
    assert row.locator("[data-test=channel-amount]").inner_text() == amount != "0.00"
    assert row.locator("[data-test=his-amount]").inner_text() == "0.00"
    shot(page, "reconciliation_his_missing")


def test_finance_sees_the_demo_months_registrations_in_the_chart(wide_page, live_server, month, app):
    """挂号统计 of the demo month: the bookings the HIS confirmed, per day, 预约 and 当天, never all zero."""
    from app.models import AppointmentOrder

    with app.app_context():
        confirmed = db.session.scalar(select(func.count()).select_from(AppointmentOrder).where(
            AppointmentOrder.confirmed_at.is_not(None)))
    page = wide_page
    sign_in(page, live_server, "finance")
    page.goto(f"{live_server}/analytics/?start=2026-10-20&end=2026-11-18")
    page.wait_for_selector("#chart-registrations canvas")
    shown = page.evaluate("() => { const c = echarts.getInstanceByDom(document.getElementById('chart-registrations'));"
                          " return c.getOption().series.map(s => s.data.reduce((a, b) => a + b, 0)); }")
    assert sum(shown) == confirmed > 0 and all(n > 0 for n in shown), shown
    shot(page, "analytics_registrations")


def test_a_day_of_the_registrations_chart_opens_the_bookings_confirmed_that_day(wide_page, live_server, month):
    """挂号统计 counts bookings by the day the HIS confirmed them: clicking a day's bar opens 预约订单 filtered
    by that 确认时间, and the list holds as many bookings as the day's bars."""
    page = wide_page
    sign_in(page, live_server, "admin")
    page.goto(f"{live_server}/analytics/?start=2026-11-09&end=2026-11-18")
    page.wait_for_selector("body[data-charts-ready='1'] #chart-registrations canvas")
    day, total, x, y = page.evaluate(
        "() => { const c = echarts.getInstanceByDom(document.getElementById('chart-registrations'));"
        " const o = c.getOption(); const days = o.xAxis[0].data;"
        " for (let i = days.length - 1; i >= 0; i--) { const v = o.series[0].data[i];"
        "   if (v > 0) { const p = c.convertToPixel({seriesIndex: 0}, [i, v / 2]);"
        "     return [days[i], o.series.reduce((a, s) => a + s.data[i], 0), p[0], p[1]]; } }"
        " return null; }")
    page.locator("#chart-registrations").scroll_into_view_if_needed()
    box = page.locator("#chart-registrations").bounding_box()
    page.mouse.click(box["x"] + x, box["y"] + y)
    page.wait_for_url(re.compile(r".*/appointmentorderview/list/.*"))
    assert f"_flt_0_confirmed_at={day}" in page.url and f"_flt_1_confirmed_at={day}" in page.url
    assert "created_at" not in page.url
    count = page.locator("text=记录数目").locator("xpath=..").inner_text()
    assert int(re.search(r"([\d,]+)\s*$", count).group(1).replace(",", "")) == total, (count, total)


def test_finance_reads_each_refund_on_one_line_per_cell_at_1440(wide_page, live_server, month, app):
    """退费记录 at 1440 px: 支付宝 broke over two lines (支付 / 宝) and so did each time (date / hour)."""
    page = wide_page
    sign_in(page, live_server, "finance")
    page.goto(f"{live_server}/refundview/list/")
    cells = page.locator("table tbody td", has_text=re.compile(r"^\s*(支付宝|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\s*$"))
    assert cells.count() >= 3
    lines = ("(el) => { const r = document.createRange(); r.selectNodeContents(el);"
             " return new Set([...r.getClientRects()].map(b => Math.round(b.top))).size; }")
    for n in range(cells.count()):
        assert cells.nth(n).evaluate(lines) == 1, cells.nth(n).inner_text()
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 1440
    shot(page, "refunds_1440")
