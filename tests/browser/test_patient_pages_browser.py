"""The patient pages issue 13 changed, at 375 px in WeChat, in each state their data can be in: the pay
page's countdown, the result page of a payment in every state, 个人中心 and its new entries, 一键改约
after a 停诊 from the notice, the refusals that link to what stands in the way. Screenshots are for a
human to look at; the assertions are what a patient must see, with no script refused by the page."""

from __future__ import annotations

import re

from app.extensions import db
from app.models import ChannelUser
from tests import factories
from tests.browser.conftest import assert_fits_375, shot
from tests.helpers.booking import stopped_and_refunded
from tests.helpers.patient_walk import STATES


def _sign_in(page, app, live_server, owner_id):
    with app.app_context():
        factories.login_browser(page.context, app, live_server, db.session.get(ChannelUser, owner_id))


def _script_errors(page) -> list[str]:
    errors: list[str] = []
    # a refusal answered 409 is logged as a failed load: not a script error
    page.on("console", lambda m: errors.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource") else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return errors


def test_payment_pages_in_every_state(wechat_page, app, live_server, walk_data):
    page = wechat_page
    errors = _script_errors(page)
    _sign_in(page, app, live_server, walk_data["owner"])
    created = walk_data["orders"]["created"][1]
    page.goto(f"{live_server}/h5/pay/{created}")
    first = page.locator("[data-countdown]").inner_text()
    assert re.fullmatch(r"1[34]:\d\d", first), first  # the order's own 14 minutes, counting
    page.wait_for_timeout(2200)  # (wait_for_function would eval, which the page's CSP rightly refuses)
    assert page.locator("[data-countdown]").inner_text() != first
    assert page.locator("text=15 分钟").count() == 0
    assert_fits_375(page)
    shot(page, "i13_pay_countdown")
    for state in (*STATES, "outpatient"):
        order_no = walk_data["outpatient"] if state == "outpatient" else walk_data["orders"][state][1]
        page.goto(f"{live_server}/h5/pay/{order_no}/result")
        assert page.locator(".weui-msg__title").inner_text().strip()
        assert page.locator("text=电子票据号").count() == 0
        if state in ("created", "paying"):
            assert page.locator("text=继续支付").count() == 1
        assert_fits_375(page)
        shot(page, f"i13_pay_result_{state}")
    assert errors == []


def test_personal_centre_and_its_entries(wechat_page, app, live_server, walk_data):
    page = wechat_page
    errors = _script_errors(page)
    _sign_in(page, app, live_server, walk_data["owner"])
    page.goto(f"{live_server}/h5/me")
    for entry in ("bookings", "payments", "inpatient", "surveys"):
        assert page.locator(f"[data-entry={entry}]").is_visible()
    assert page.locator("[data-surveys-waiting='1']").is_visible()
    assert_fits_375(page)
    shot(page, "i13_me")
    page.click("[data-entry=surveys]")
    page.wait_for_selector("[data-invitation]")
    shot(page, "i13_surveys")
    page.goto(f"{live_server}/h5/me")
    page.click("[data-entry=bookings]")
    page.wait_for_selector("[data-order]")
    shot(page, "i13_my_bookings")
    # unbinding a patient with a paid booking ahead: asked first, then refused with the booking named
    page.goto(f"{live_server}/h5/patients")
    page.locator("form[data-confirm] button").first.click()
    page.click("[data-dialog-yes]")
    page.wait_for_selector("[data-unbind-refused], .h5-flash--success")
    shot(page, "i13_unbind")
    page.goto(f"{live_server}/h5/lang/en?next=/h5/me")  # the same entries in English
    assert page.locator("[data-entry=surveys]").inner_text().strip().startswith("Satisfaction")
    shot(page, "i13_me_en")
    page.goto(f"{live_server}/h5/pay/{walk_data['orders']['paying'][1]}/result")
    shot(page, "i13_pay_result_paying_en")
    assert errors == []


def test_rebooking_from_the_stop_notice_after_the_refund(wechat_page, app, client, world, live_server,
                                                         sandbox):
    page = wechat_page
    errors = _script_errors(page)
    order = stopped_and_refunded(app, client, world, live_server, sandbox)
    _sign_in(page, app, live_server, world["owner"])
    page.goto(f"{live_server}/h5/messages")
    page.click("text=停诊通知")
    page.wait_for_selector("[data-notice-link]")
    assert page.locator("[data-notice-link]").inner_text() == "一键改约"
    assert_fits_375(page)
    shot(page, "i13_stop_notice")
    page.click("[data-notice-link]")
    page.wait_for_url(f"**/h5/booking/orders/{order.id}/rebook")
    shot(page, "i13_rebook")
    page.goto(f"{live_server}/h5/booking/orders/{order.id}")
    assert page.locator("[data-status=refunded]").count() == 1 and page.locator("[data-rebook]").is_visible()
    assert_fits_375(page)
    shot(page, "i13_stopped_refunded_order")
    assert errors == []


def test_booking_again_over_an_unpaid_order_leads_to_it(wechat_page, app, live_server, walk_data):
    from app.models import AppointmentOrder

    page = wechat_page
    order_id = walk_data["orders"]["created"][0]
    with app.app_context():
        slice_id = db.session.get(AppointmentOrder, order_id).slice_id
    _sign_in(page, app, live_server, walk_data["owner"])
    page.goto(f"{live_server}/h5/booking/slices/{slice_id}/confirm")
    page.click("[data-book]")
    page.wait_for_selector(f"[data-blocking-order='{order_id}']")
    assert_fits_375(page)
    shot(page, "i13_confirm_blocked")
    page.click(f"[data-blocking-order='{order_id}']")
    page.wait_for_selector("[data-pay]")  # the unpaid order, with 去支付


def test_the_template_page_says_each_fields_type(desktop_page, app, live_server, walk_data):
    from tests.helpers.browser import sign_in

    page = desktop_page
    sign_in(page, live_server, "ops")
    page.goto(f"{live_server}/messagetemplateview/list/")
    assert page.locator("text=thing1（事物）").count() > 0
    shot(page, "i13_message_templates")
    page.locator("a[href*='/messagetemplateview/edit/']").first.click()
    page.wait_for_selector("textarea[name=field_map_json]")
    assert page.locator("text=32 位以内数字、字母或符号").count() > 0
    shot(page, "i13_message_template_edit")


def test_every_patient_page_runs_its_scripts_under_the_csp(wechat_page, app, live_server, walk_data):
    """The walk's pages in Chromium: no script refused by the Content-Security-Policy, no script error."""
    from tests.helpers.patient_walk import walk_urls, walk_values

    page = wechat_page
    errors = _script_errors(page)
    _sign_in(page, app, live_server, walk_data["owner"])
    seen = []
    for url in walk_urls(app, walk_values(app, walk_data)):
        if url.endswith((".json", "/pdf", "/status")):
            continue
        page.goto(f"{live_server}{url}", wait_until="load")
        seen.extend(f"{url}: {e}" for e in errors)
        errors.clear()
    assert seen == [], "\n".join(seen[:20])
