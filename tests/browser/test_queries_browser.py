"""Issue 7 in a real browser at 375 px: the queue refreshes itself when the HIS calls the next number;
a lab report shows its abnormal values highlighted; the report-ready notice leads to the report."""

from __future__ import annotations

from tests.browser.conftest import assert_fits_375, shot
from tests.identity_helpers import queue_and_report_patient


def _sign_in_and_bind(page, live_server, p) -> None:
    page.goto(f"{live_server}/h5/me")
    page.wait_for_url("**/h5/auth/sandbox/**")
    page.click("label[for=uid-new]")
    page.fill("#nickname", "排队妈妈")
    page.click("#sandbox-allow")
    page.wait_for_url(f"{live_server}/h5/me")
    page.goto(f"{live_server}/h5/patients/new")
    page.fill("#f-name", p.name)
    page.fill("#f-id_number", p.id_number)
    page.fill("#f-phone", p.phone)
    page.fill("#f-card_no", p.card_no)
    page.click("#submit-patient")
    page.wait_for_url(f"{live_server}/h5/patients")


def test_live_queue_and_abnormal_lab_report(wechat_page, live_server, app, his):
    p = queue_and_report_patient(app)
    page = wechat_page
    _sign_in_and_bind(page, live_server, p)
    ticket = next(t for t in his.queue_status(p.card_no) if t.status == "waiting" and t.ahead_count > 0)
    page.goto(f"{live_server}/h5/")
    page.click("[data-service=queue]")
    page.wait_for_url(f"{live_server}/h5/queue")
    card = page.locator(f"[data-queue-no='{ticket.queue_no}'][data-area='{ticket.area_code}']")
    assert card.locator("[data-field=ahead_count]").inner_text() == str(ticket.ahead_count)
    assert_fits_375(page)
    shot(page, "queries_queue")
    his.advance_queue(ticket.area_code)
    page.evaluate("window.h5RefreshQueue()")  # the 10-second timer, without waiting for it
    page.wait_for_function(
        "([sel, n]) => document.querySelector(sel + ' [data-field=ahead_count]').textContent === n",
        arg=[f"[data-queue-no='{ticket.queue_no}'][data-area='{ticket.area_code}']", str(ticket.ahead_count - 1)])
    assert page.url == f"{live_server}/h5/queue"  # refreshed in place, no reload
    shot(page, "queries_queue_after_call")

    page.goto(f"{live_server}/h5/")
    page.click("[data-service=reports]")
    page.wait_for_url(f"{live_server}/h5/reports")
    assert_fits_375(page)
    shot(page, "queries_reports")
    lab = next(r for r in his.list_reports(p.card_no) if r.kind == "lab" and r.status == "ready"
               and any(i.flag for i in his.get_report(r.report_id, p.card_no).items))
    page.click(f"[data-report='{lab.report_id}']")
    page.wait_for_url(f"**/h5/reports/{lab.report_id}**")
    abnormal = page.locator(".h5-lab__row--abnormal")
    assert abnormal.count() >= 1
    color = abnormal.first.locator(".h5-lab__result").evaluate("el => getComputedStyle(el).color")
    assert color == "rgb(200, 30, 30)"
    assert page.locator("#abnormal-summary").is_visible()
    assert_fits_375(page)
    shot(page, "queries_lab_report")
