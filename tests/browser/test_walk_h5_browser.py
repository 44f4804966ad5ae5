"""What a patient saw walking the H5 pages at 375 px in WeChat: a time broken over two lines, buttons
stacked without a gap, links left in the browser's default blue."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import update

from app.extensions import db
from app.models import AppointmentOrder
from app.registration import commands as registration
from app.registration import schedules
from tests import factories
from tests.browser.conftest import assert_fits_375, shot
from tests.helpers.attendance import booked, open_slice
from tests.helpers.booking import CHILDREN, MOTHERS, add_patient

ACCENT = "rgb(22, 163, 154)"  # --h5-accent


def _gap(page, upper: str, lower: str) -> float:
    return page.evaluate("([a, b]) => document.querySelector(b).getBoundingClientRect().top"
                         " - document.querySelector(a).getBoundingClientRect().bottom", [upper, lower])


def test_order_details_read_cleanly_at_375(app, live_server, his, wechat_page):
    with app.app_context():
        schedules.sync_from_his()
        user = factories.channel_user("wechat")
        mother = add_patient(user, MOTHERS[0])
        child = add_patient(user, CHILDREN[0], relation="child", default=False)
        db.session.commit()
        pending = registration.book(user.id, mother.id, open_slice().id).order
        visited = booked(his, user.id, child.id, open_slice(not_schedules=[pending.schedule_id]))
        db.session.execute(update(AppointmentOrder).where(AppointmentOrder.id == visited.id)
                           .values(status="visited", attended_at=dt.datetime(2026, 12, 1, 7, 50)))
        db.session.commit()
        pending_id, visited_id = pending.id, visited.id
        factories.login_browser(wechat_page.context, app, live_server, user)
    page = wechat_page

    page.goto(f"{live_server}/h5/booking/orders/{pending_id}")
    page.wait_for_selector("[data-status=pending_payment]")
    assert _gap(page, "[data-pay]", "[data-cancel]") >= 8, "去支付 and 取消预约 touch"
    shot(page, "walk_order_pending")

    page.goto(f"{live_server}/h5/booking/orders/{visited_id}")
    page.wait_for_selector("[data-status=visited]")
    lines = page.evaluate("() => document.querySelector('[data-attended-at]').getClientRects().length")
    assert lines == 1, "签到时间 is broken over two lines"
    assert_fits_375(page)
    shot(page, "walk_order_visited")

    page.goto(f"{live_server}/h5/booking/orders")
    assert page.eval_on_selector("[data-my-waitlist]", "e => getComputedStyle(e).color") == ACCENT
    page.goto(f"{live_server}/h5/doctors")
    assert page.eval_on_selector(".h5-note a", "e => getComputedStyle(e).color") == ACCENT
