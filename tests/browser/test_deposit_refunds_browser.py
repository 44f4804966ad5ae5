"""A patient at 375 px tops up the deposit in the sandbox cashier; the ward discharges them (the
simulator's 出院结算 asks the running platform to return the surplus); the 押金记录 page then shows
what came back on the deposit, and the stay is settled at a zero balance."""

from __future__ import annotations

from app.extensions import db
from app.services.formatting import yuan
from tests import factories
from tests.browser.conftest import assert_fits_375, shot
from tests.factories import wait_for

CARD = "8800000012"  # in hospital; the test sets its arrears


def test_deposit_records_show_the_surplus_returned_at_discharge(app, live_server, his, wechat_page):
    with app.app_context():
        user = factories.channel_user("wechat")
        factories.patient(user, card_no=CARD)
        db.session.commit()
        factories.login_browser(wechat_page.context, app, live_server, db.session.get(type(user), user.id))
    page = wechat_page
    stay = factories.stay_with_balance(his, CARD, -22680)  # the window deposit no longer covers the charges
    top_up = 22680 + 123456  # covers the arrears and leaves ¥1,234.56 over at discharge

    page.goto(f"{live_server}/h5/")
    page.click("[data-service=inpatient]")
    page.click("[data-action=topup]")
    page.fill("#amount", yuan(top_up))
    page.click("[data-topup]")
    page.click("[data-pay]")
    page.click("#confirm")
    page.wait_for_selector("[data-status=confirmed] [data-guidance]")

    result = app.test_cli_runner().invoke(args=["his", "discharge", stay.inpatient_no])
    assert result.exit_code == 0 and "platform asked" in result.output, result.output
    assert wait_for(lambda: "data-refunded" in _records(page, live_server), timeout=20)

    assert page.inner_text("[data-deposit-refunds]").startswith("押金已原路退回 ¥1234.56")
    line = page.locator("[data-refunded='123456']")
    assert line.inner_text() == "已退回 ¥1234.56"
    assert page.locator("[data-state=credited]").count() >= 2  # the window deposits and the top-up
    assert "已出院" in page.inner_text("[data-stay]")
    assert_fits_375(page)
    shot(page, "deposit_records_refunded_at_discharge")

    page.goto(f"{live_server}/h5/inpatient")
    page.wait_for_selector("[data-balance='0']")
    assert page.locator("[data-action=topup]").count() == 0
    shot(page, "inpatient_discharged_settled")


def _records(page, live_server) -> str:
    page.goto(f"{live_server}/h5/inpatient")
    page.click("[data-action=records]")
    page.wait_for_selector("[data-deposit]")
    return page.content()
