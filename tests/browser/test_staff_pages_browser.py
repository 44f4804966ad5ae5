"""Pages issue 13 #12/#13 fixed, in a real browser at 1440 px: finance resolves a reconciliation
difference from its detail page; the run's detail lists its differences; a survey's questions, an
order's history and an error page read in Chinese with Beijing times."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import PaymentOrder, ReconciliationItem, Survey
from tests.backoffice_helpers import seed_staff_and_orders
from tests.browser.conftest import shot
from tests.helpers.browser import sign_in


@pytest.fixture()
def demo(app, browser_mode):
    seed_staff_and_orders(app, days=4, per_day=8)
    with app.app_context():
        open_item = db.session.scalar(select(ReconciliationItem.id).where(
            ReconciliationItem.kind == "his_missing", ReconciliationItem.resolved_at.is_(None)))
        run_id = db.session.get(ReconciliationItem, open_item).run_id
        survey = db.session.scalar(select(Survey.id).limit(1))
        refunded = db.session.scalar(select(PaymentOrder.id).where(PaymentOrder.status == "refunded").limit(1))
        db.session.remove()
    return {"item": open_item, "run": run_id, "survey": survey, "payment": refunded}


def test_finance_resolves_a_difference_from_its_detail(wide_page, live_server, demo, app):
    page = wide_page
    sign_in(page, live_server, "finance")
    page.goto(f"{live_server}/reconciliationitemview/list/")
    shot(page, "reconciliation_items_1440")
    assert "微信" in page.inner_text("body") and "wechat" not in page.inner_text("body")
    page.goto(f"{live_server}/reconciliationitemview/show/{demo['item']}")
    text = page.inner_text("body")
    assert "医院无此笔" in text and "平台记录" in text and "医院 HIS 记录" in text and "微信" in text
    assert re.search(r"\d{4}-\d{2}-\d{2}", text) and "None" not in text
    shot(page, "reconciliation_item_detail_1440")
    page.fill("input[name=comment]", "已与医院收费处核对，补入账")
    page.click("text=标记为已处理")
    page.wait_for_load_state()
    assert "已标记为已处理" in page.inner_text("body") and page.locator("input[name=comment]").count() == 0
    shot(page, "reconciliation_item_resolved_1440")
    with app.app_context():
        item = db.session.get(ReconciliationItem, demo["item"])
        assert item.resolved_by == "finance" and "补入账" in item.note
    page.goto(f"{live_server}/reconciliationrunview/show/{demo['run']}")
    page.click(".nav-tabs >> text=对账差异")
    assert "对账记录详情" in page.inner_text("body") and "医院无此笔" in page.inner_text("body")
    shot(page, "reconciliation_run_detail_1440")


def test_survey_order_and_error_pages_read_in_chinese(wide_page, live_server, demo):
    page = wide_page
    sign_in(page, live_server, "admin")
    page.goto(f"{live_server}/surveyview/show/{demo['survey']}")
    body = page.inner_text("body")
    assert "object at 0x" not in body and "Show" not in body and "查看满意度调查" in body
    shot(page, "survey_detail_1440")
    page.goto(f"{live_server}/paymentorderview/show/{demo['payment']}")
    history = page.inner_text("[data-test=history]")
    assert "退费中" in history and "refunding" not in history and "patient:" not in history
    shot(page, "payment_detail_history_1440")
    page.goto(f"{live_server}/patientview/list/")
    cells = page.inner_text("table")
    assert "female" not in cells and "self" not in cells
    page.goto(f"{live_server}/systemsettingview/list/?psize_SystemSettingView=50")
    table = page.inner_text("body")
    assert "开放当天挂号" in table and "免打扰" in table and "booking.same_day_enabled" not in table
    shot(page, "settings_1440")
    page.goto(f"{live_server}/no-such-page/")
    assert "页面不存在" in page.inner_text("body")
    shot(page, "error_404_1440")
