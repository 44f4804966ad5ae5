"""Issue 4 in a real browser at 375 px: sign in through each channel's sandbox, bind a card, add a child,
read the service instructions, answer a survey and see the notices in the message centre."""

from __future__ import annotations

from sqlalchemy import select

from tests.browser.conftest import assert_fits_375, shot
from tests.identity_helpers import seeded


def _sign_in(page, live_server, nickname: str) -> None:
    page.goto(f"{live_server}/h5/me")
    page.wait_for_url("**/h5/auth/sandbox/**")
    assert_fits_375(page)
    page.click("label[for=uid-new]")
    page.fill("#nickname", nickname)
    page.click("#sandbox-allow")
    page.wait_for_url(f"{live_server}/h5/me")


def test_wechat_patient_journey(wechat_page, live_server, app, his):
    from app.extensions import db
    from doubles.demo.hospital import seed_demo

    with app.app_context():
        seed_demo()
    page = wechat_page
    page.goto(f"{live_server}/h5/me")
    page.wait_for_url("**/h5/auth/sandbox/wechat**")
    shot(page, "identity_sandbox_authorize")
    page.click("label[for=uid-new]")
    page.fill("#nickname", "王妈妈")
    page.click("#sandbox-allow")
    page.wait_for_url(f"{live_server}/h5/me")
    assert page.get_by_text("王妈妈").is_visible()
    assert_fits_375(page)
    shot(page, "identity_me_empty")

    mother, child = seeded("mother"), seeded("child")
    page.goto(f"{live_server}/h5/patients/new")
    assert page.locator("#f-relation").input_value() == "self"
    assert not page.locator("#f-guardian_name").is_visible()  # a guardian is a child's: not asked of 本人
    page.fill("#f-name", mother.name)
    page.fill("#f-id_number", "440000199001011230")  # bad checksum: message beside the field
    page.fill("#f-phone", "123")
    page.click("#submit-patient")
    assert page.locator("#e-id_number").is_visible() and page.locator("#e-phone").is_visible()
    assert_fits_375(page)
    shot(page, "identity_bind_errors")
    page.fill("#f-id_number", mother.id_number)
    page.fill("#f-phone", mother.phone)
    page.fill("#f-card_no", mother.card_no)
    page.click("#submit-patient")
    page.wait_for_url(f"{live_server}/h5/patients")
    page.click("#add-patient")
    page.wait_for_url("**/h5/patients/new")
    assert page.locator("#f-relation").input_value() == "child"  # 本人 is bound: a family member is asked next
    assert page.locator("#f-guardian_name").is_visible()
    page.select_option("#f-relation", "spouse")
    assert not page.locator("#f-guardian_name").is_visible()
    page.select_option("#f-relation", "child")
    assert page.locator("#f-guardian_name").is_visible()
    page.fill("#f-name", child.name)
    page.fill("#f-id_number", child.id_number)
    page.fill("#f-phone", mother.phone)
    page.fill("#f-guardian_name", mother.name)
    page.fill("#f-guardian_id_number", mother.id_number)
    shot(page, "identity_bind_child_form")
    page.click("#submit-patient")
    page.wait_for_url(f"{live_server}/h5/patients")
    assert page.locator("[data-patient]").count() == 2
    assert mother.id_number not in page.content()
    for n, relation in enumerate(("self", "child")):  # 编辑就诊人: the guardian's fields for the child only
        page.locator("[data-patient] a[href$='/edit']").nth(n).click()
        page.wait_for_url("**/edit")
        assert page.locator("#f-relation").input_value() == relation
        assert page.locator("#f-guardian_name").is_visible() == (relation == "child")
        page.go_back()
        page.wait_for_url(f"{live_server}/h5/patients")
    assert_fits_375(page)
    shot(page, "identity_patients")

    page.goto(f"{live_server}/h5/instructions")
    page.get_by_text("预约挂号须知").click()
    assert page.get_by_text("15 分钟内支付").first.is_visible()
    assert_fits_375(page)
    shot(page, "identity_instruction")

    # a completed visit offers the survey; a report notice arrives too
    from app.models import ChannelUser, Survey
    from app.messages.content import offer_survey
    from app.messages.notifications import notify

    with app.app_context():
        owner = db.session.scalar(select(ChannelUser.id).where(ChannelUser.nickname == "王妈妈"))
        survey_id = db.session.scalar(select(Survey.id))
        offer_survey(owner, "visit", "GH-DEMO-1")
        notify(owner, "bill_paid", "缴费成功", "您已成功缴纳门诊费用 35.00 元，请按导诊提示前往药房取药。",
               dedupe_key="browser-pay-1", link="/h5/")
        db.session.commit()
    page.goto(f"{live_server}/h5/me")
    assert page.locator("[data-unread='2']").is_visible()
    page.click("#menu-messages")
    assert page.locator(".h5-notice--unread").count() == 2
    assert_fits_375(page)
    shot(page, "identity_messages")
    page.get_by_text("满意度调查").first.click()
    page.get_by_text("去评价").click()  # the invitation's own button
    page.wait_for_url(f"**/h5/surveys/{survey_id}?subject=GH-DEMO-1")
    questions = page.locator("[data-question]")
    questions.nth(0).locator(".h5-rating__item").nth(4).click()
    questions.nth(1).get_by_text("可以接受", exact=True).click()
    questions.nth(2).locator("textarea").fill("护士很耐心")
    assert_fits_375(page)
    shot(page, "identity_survey")
    page.click("#submit-survey")
    assert page.locator("#survey-done").is_visible()
    page.goto(f"{live_server}/h5/messages")
    assert page.locator(".h5-notice--unread").count() == 1


def test_alipay_sign_in_and_binding(alipay_page, live_server, his):
    page = alipay_page
    _sign_in(page, live_server, "李爸爸")
    page.goto(f"{live_server}/h5/patients/new")
    adult = seeded("adult")
    page.fill("#f-name", adult.name)
    page.fill("#f-id_number", adult.id_number)
    page.fill("#f-phone", adult.phone)
    page.click("#submit-patient")
    page.wait_for_url(f"{live_server}/h5/patients")
    page.goto(f"{live_server}/h5/me")
    assert page.get_by_text("已通过支付宝服务窗授权").is_visible()
    assert_fits_375(page)
    shot(page, "identity_me_alipay")


def test_plain_browser_is_told_to_open_in_an_app(desktop_page, live_server):
    page = desktop_page
    page.set_viewport_size({"width": 375, "height": 700})
    page.goto(f"{live_server}/h5/me")
    assert page.get_by_text("请在微信或支付宝中打开").is_visible()
    assert_fits_375(page)
    shot(page, "identity_open_in_app")
