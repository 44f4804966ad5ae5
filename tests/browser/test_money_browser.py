"""Money in the browser: a payment the HIS never answered for, as the patient and as finance see it.

The patient is told the payment arrived and the hospital is checking (no 继续支付, no "refunded");
finance sees every question put to the HIS and its answer, asks again, and refunds only after writing
down what the hospital confirmed."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import update

from app import clock
from app.extensions import db
from app.models import ChannelUser, PaymentOrder
from app.billing import bills as billing
from app.payments import commands as payments
from tests import factories
from tests.backoffice_helpers import PASSWORDS, seed_staff_and_orders
from tests.browser.conftest import assert_fits_375, shot
from tests.helpers.bills import account, load, pay_in_sandbox
from tests.money_helpers import CARD, ONE_UNIT, FaultyHis


@pytest.fixture()
def unknown_payment(app, his, live_server, sandbox, browser_mode):
    """An outpatient payment paid while the HIS was down through every retry: ``confirm_unknown``."""
    seed_staff_and_orders(app, days=1, per_day=1)
    faulty = FaultyHis(his)
    app.extensions["his_gateway"] = faulty
    bill = faulty.add_bill(CARD, [ONE_UNIT])
    acc = account(app, CARD)
    with app.app_context():
        order_no = billing.create_bill_payment(acc["user"], acc["patient"], [bill.bill_no], None, "wechat").order_no
    faulty.faults["*"] = "down"
    pay_in_sandbox(app, sandbox, acc["user"], order_no)
    with app.app_context():
        for _ in range(len(payments.CONFIRM_BACKOFF) + 1):
            db.session.execute(update(PaymentOrder).where(PaymentOrder.order_no == order_no)
                               .values(next_his_attempt_at=clock.utcnow() - dt.timedelta(seconds=1)))
            db.session.commit()
            payments.sweep_confirmations()
    assert load(app, order_no).status == "confirm_unknown"
    yield {"order_no": order_no, "user": acc["user"], "faulty": faulty}
    app.extensions["his_gateway"] = his


def test_the_patient_is_told_the_hospital_is_checking(app, wechat_page, live_server, unknown_payment):
    page = wechat_page
    with app.app_context():
        factories.login_browser(page.context, app, live_server,
                                db.session.get(ChannelUser, unknown_payment["user"]))
    page.goto(f"{live_server}/h5/pay/{unknown_payment['order_no']}/result")
    text = page.inner_text("body")
    assert "支付成功，医院正在核实，请勿重复支付" in text and "继续支付" not in text and "已退款" not in text
    assert_fits_375(page)
    shot(page, "money_pay_result_confirm_unknown")


def test_finance_reads_the_his_checks_asks_again_and_refunds_after_checking(desktop_page, live_server,
                                                                              unknown_payment, app):
    page = desktop_page
    page.goto(f"{live_server}/login/")
    page.fill("input[name=username]", "finance")
    page.fill("input[name=password]", PASSWORDS["finance"])
    page.click("input[type=submit], button[type=submit]")
    page.wait_for_load_state()
    order = load(app, unknown_payment["order_no"])
    page.goto(f"{live_server}/paymentorderview/show/{order.id}")
    checks = page.locator("[data-test=his-checks]")
    assert checks.is_visible() and "医院未能答复" in checks.inner_text()
    assert page.locator("[data-test=his-unknown]").is_visible()
    shot(page, "money_backoffice_confirm_unknown")
    page.click("[data-test=recheck-his]")  # the HIS is still down: nothing moves
    page.wait_for_load_state()
    assert load(app, unknown_payment["order_no"]).status == "confirm_unknown"
    unknown_payment["faulty"].faults.clear()
    page.fill("input[name=note]", "收费处王老师电话确认 HIS 无此笔收费")
    page.click("[data-test=refund-unknown]")
    page.wait_for_load_state()
    assert load(app, unknown_payment["order_no"]).status in ("confirm_failed", "refunding", "refunded")
    assert "收费处王老师电话确认" in page.locator("[data-test=his-checks]").inner_text()
    shot(page, "money_backoffice_refunded_after_check")
