"""A patient at 375 px books a slot, pays in the sandbox cashier, sees the confirmation, cancels and
sees the refund, inside WeChat and inside Alipay."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import AppointmentOrder
from app.registration import schedules
from tests import factories
from tests.browser.conftest import assert_fits_375, shot
from tests.factories import wait_for
from tests.helpers.booking import MOTHERS, add_patient, find_slice


@pytest.mark.parametrize("channel", ["wechat", "alipay"])
def test_patient_books_pays_and_cancels_at_375px(request, app, live_server, his, channel):
    page = request.getfixturevalue(f"{channel}_page")
    with app.app_context():
        schedules.sync_from_his()
        user = factories.channel_user(channel)
        add_patient(user, MOTHERS[0])
        slc = find_slice()
        dept_code, day = slc.schedule.department.code, slc.schedule.clinic_date.isoformat()
        parent = slc.schedule.department.parent.name if slc.schedule.department.parent else None
        doctor_code, slice_id = slc.schedule.doctor.code, slc.id
        db.session.commit()
        factories.login_browser(page.context, app, live_server, user)
        user_id = user.id

    page.goto(f"{live_server}/h5/")
    page.click("[data-service=booking]")
    page.wait_for_selector(f"[data-dept={dept_code}]")
    assert page.locator("text=暂无号源").count() > 0  # departments without slots say so
    assert_fits_375(page)
    shot(page, f"booking_{channel}_1_departments")
    assert parent is None or page.get_by_text(parent).count() > 0
    page.click(f"a[data-dept={dept_code}]")
    page.click(f"[data-date='{day}']")
    page.wait_for_selector(f"[data-doctor={doctor_code}]")
    assert_fits_375(page)
    shot(page, f"booking_{channel}_2_doctors")
    page.click(f"[data-doctor={doctor_code}]")
    page.wait_for_selector(f"[data-slice='{slice_id}']")
    assert_fits_375(page)
    shot(page, f"booking_{channel}_3_slices")
    page.click(f"[data-slice='{slice_id}']")
    page.wait_for_selector("[data-book]")
    assert_fits_375(page)
    shot(page, f"booking_{channel}_4_confirm")
    page.click("[data-book]")

    page.wait_for_selector("[data-pay]")  # the cashier hand-off page of the payment core
    shot(page, f"booking_{channel}_5_pay")
    page.click("[data-pay]")
    page.wait_for_selector("#confirm")  # the sandbox cashier of the channel
    shot(page, f"booking_{channel}_6_cashier")
    page.click("#confirm")
    page.wait_for_selector("text=支付成功", timeout=20000)
    page.click("text=查看订单")
    page.wait_for_selector("[data-queue]")
    assert page.locator("[data-status=booked]").count() == 1
    assert page.locator("[data-guidance]").is_visible()
    assert_fits_375(page)
    shot(page, f"booking_{channel}_7_booked")

    page.click("[data-cancel]")  # asks first: a WeUI dialog; 取消 leaves the booking alone
    page.wait_for_selector("[data-dialog-yes]")
    assert page.locator(".weui-dialog__bd").inner_text() == "确定取消该预约吗？挂号费将原路退回。"
    shot(page, f"booking_{channel}_7b_cancel_dialog")
    page.click("[data-dialog-no]")
    assert page.locator("[data-dialog-yes]").count() == 0 and page.locator("[data-status=booked]").count() == 1
    page.click("[data-cancel]")
    page.click("[data-dialog-yes]")
    page.wait_for_selector("text=已取消预约，挂号费将原路退回")
    with app.app_context():
        order_id = db.session.scalar(select(AppointmentOrder.id).where(AppointmentOrder.owner_id == user_id))

    def refunded() -> bool:
        with app.app_context():
            return db.session.get(AppointmentOrder, order_id).status == "refunded"

    assert wait_for(refunded, timeout=20)
    page.reload()
    page.wait_for_selector("[data-status=refunded]")
    assert page.locator("text=退款成功，原路退回").count() == 1
    assert page.locator("text=已退 ¥").count() == 1
    assert_fits_375(page)
    shot(page, f"booking_{channel}_8_refunded")
    page.goto(f"{live_server}/h5/booking/orders")
    assert page.locator("[data-status=refunded]").count() == 1
    shot(page, f"booking_{channel}_9_orders")
