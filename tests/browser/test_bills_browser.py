"""A patient at 375 px pays a pending bill in the sandbox cashier and sees the 导诊, then tops up a
deposit and sees the balance change (in the HIS simulator and on the page)."""

from __future__ import annotations

from app.extensions import db
from app.models import GuidanceRule
from tests import factories
from tests.browser.conftest import assert_fits_375, shot

CARD = "8800000012"  # in hospital (the test sets a low balance), and one pending bill


def test_pay_a_bill_see_guidance_then_top_up_a_deposit(app, live_server, his, wechat_page):
    with app.app_context():
        user = factories.channel_user("wechat")
        factories.patient(user, card_no=CARD)
        db.session.add(GuidanceRule(sort=1, match_category="检查", guidance="检查前请到门诊楼二楼超声科候检区登记"))
        db.session.commit()
        uid = user.id
        factories.login_browser(wechat_page.context, app, live_server, db.session.get(type(user), uid))
    page = wechat_page
    (bill,) = his.pending_bills(CARD)

    page.goto(f"{live_server}/h5/")
    page.click("[data-service=bills]")
    page.wait_for_selector(f"[data-bill='{bill.bill_no}']")
    assert_fits_375(page)
    shot(page, "bills_pending")
    page.click(f"[data-bill='{bill.bill_no}'] a.h5-link")
    page.wait_for_selector("[data-item='1']")
    assert_fits_375(page)
    shot(page, "bills_detail")
    page.go_back()
    page.click("[data-pay-visit]")
    page.wait_for_selector("[data-pay]")
    assert_fits_375(page)
    page.click("[data-pay]")
    page.wait_for_selector("#confirm")
    shot(page, "bills_sandbox_cashier")
    page.click("#confirm")
    page.wait_for_selector("[data-status=confirmed] [data-guidance]")
    guidance = page.inner_text("[data-guidance]")
    assert "排队号" in guidance or "检查前请到门诊楼二楼超声科候检区登记" in guidance
    assert_fits_375(page)
    shot(page, "bills_paid_guidance")
    assert his.pending_bills(CARD) == ()
    page.click("text=查看订单")
    page.wait_for_selector("[data-receipt]")
    assert_fits_375(page)
    shot(page, "bills_order_detail")

    before = factories.stay_with_balance(his, CARD, -22680)  # below the warning threshold: 请及时补缴
    page.goto(f"{live_server}/h5/")
    page.click("[data-service=inpatient]")
    page.wait_for_selector("[data-low-balance]")
    assert_fits_375(page)
    shot(page, "inpatient_home_low_balance")
    page.click("[data-action=topup]")
    page.click("[data-fill='2000']")
    assert page.input_value("#amount") == "2000"
    assert_fits_375(page)
    shot(page, "inpatient_topup")
    page.click("[data-topup]")
    page.click("[data-pay]")
    page.click("#confirm")
    page.wait_for_selector("[data-status=confirmed] [data-guidance]")
    assert "已存入住院账户" in page.inner_text("[data-guidance]")
    shot(page, "inpatient_topup_paid")
    after = his.inpatient_stay(CARD)
    assert before.balance_fen == -22680 and after.balance_fen == -22680 + 200000
    page.click("text=查看订单")
    page.wait_for_selector(f"[data-balance='{after.balance_fen}']")
    page.click("[data-action=daily]")
    page.wait_for_selector("[data-day-total]")
    assert_fits_375(page)
    shot(page, "inpatient_daily_list")
    page.go_back()
    page.click("[data-action=costs]")
    page.wait_for_selector("[data-category]")
    assert_fits_375(page)
    shot(page, "inpatient_total_cost")
    page.go_back()
    page.click("[data-action=records]")
    page.wait_for_selector("[data-state=credited]")
    assert_fits_375(page)
    shot(page, "inpatient_deposit_records")
