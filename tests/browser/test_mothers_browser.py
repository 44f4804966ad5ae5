"""For mothers and children, at 375 px: the 孕产期 journey with one-tap booking, the 儿保 journey, 候补,
诊前签到, 电子票据, 找医生, the queue page's reminder line and 再次预约; the booking-related ones inside
WeChat and inside Alipay. Every test sets the clock."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from app import clock
from app.extensions import db
from app.maternity import commands as maternity
from app.models import Department, Doctor, PaymentOrder, Schedule, ScheduleSlice, WaitlistEntry
from app.registration import schedules
from app.registration.commands import record_attendance
from tests import factories
from tests.browser.conftest import assert_fits_375, shot
from tests.helpers.booking import CHILDREN, MOTHERS, add_patient
from tests.helpers.registration import book_and_pay, todays_afternoon_slice
from tests.helpers.waitlist import fill_session

CHANNELS = ["wechat", "alipay"]


@pytest.fixture(autouse=True)
def _clock():
    clock.freeze(dt.datetime.combine(clock.today(), dt.time(9, 0)))
    yield
    clock.reset()


def _mother_and_child(app, live_server, page, channel):
    with app.app_context():
        schedules.sync_from_his()
        user = factories.channel_user(channel)
        mother = add_patient(user, MOTHERS[0])
        child = add_patient(user, CHILDREN[0], relation="child", default=False)
        db.session.commit()
        factories.login_browser(page.context, app, live_server, user)
        return user.id, mother.id, child.id


@pytest.mark.parametrize("channel", CHANNELS)
def test_pregnancy_journey_and_one_tap_booking(request, app, live_server, his, channel):
    page = request.getfixturevalue(f"{channel}_page")
    _user, mother, _child = _mother_and_child(app, live_server, page, channel)
    page.goto(f"{live_server}/h5/")
    page.click("[data-service=pregnancy]")
    page.wait_for_selector("[data-pregnancy-form]")
    page.fill("[data-lmp]", (clock.today() + dt.timedelta(days=2)).isoformat())
    page.click("[data-save]")
    page.wait_for_selector("[data-error]")
    assert "末次月经日期不能晚于今天" in page.inner_text("[data-error]")
    shot(page, f"mothers_{channel}_1_pregnancy_refused")
    page.fill("[data-lmp]", (clock.today() - dt.timedelta(weeks=24)).isoformat())
    page.click("[data-save]")
    page.wait_for_selector("[data-week='24']")
    assert "孕 24 周 0 天" in page.inner_text("[data-week]")
    assert page.locator("[data-plan] [data-state=passed]").count() == 2
    assert_fits_375(page)
    shot(page, f"mothers_{channel}_2_pregnancy_plan")
    if page.locator("[data-one-tap]").count():
        page.click("[data-one-tap]")
        page.wait_for_selector("[data-book]")
        assert page.locator(f"#p{mother}").is_checked()
        assert_fits_375(page)
        shot(page, f"mothers_{channel}_3_one_tap_confirm")
    else:
        assert page.locator("[data-no-slice]").count() == 1


@pytest.mark.parametrize("channel", CHANNELS)
def test_child_health_journey(request, app, live_server, his, channel):
    page = request.getfixturevalue(f"{channel}_page")
    _user, _mother, child = _mother_and_child(app, live_server, page, channel)
    with app.app_context():
        from app.models import Patient

        born = db.session.get(Patient, child).birth_date
    from app.maternity import rules

    clock.freeze(dt.datetime.combine(rules.add_months(born, 6) - dt.timedelta(days=3), dt.time(9, 0)))
    page.goto(f"{live_server}/h5/child-health")
    page.wait_for_selector("[data-plan]")
    assert page.locator("[data-next='6m']").count() == 1
    assert page.locator("[data-checks] tr[data-check]").count() == 3  # 新生儿访视, 满月, 3 月龄
    assert_fits_375(page)
    shot(page, f"mothers_{channel}_4_child_health")
    with app.app_context():
        assert maternity.remind_child_checks() == 1


@pytest.mark.parametrize("channel", CHANNELS)
def test_waitlist_join_position_and_leave(request, app, live_server, his, channel):
    page = request.getfixturevalue(f"{channel}_page")
    _user, _mother, _child = _mother_and_child(app, live_server, page, channel)
    with app.app_context():
        slc = db.session.scalars(select(ScheduleSlice).join(Schedule).where(
            Schedule.clinic_date > clock.today(), Schedule.status == "open",
            Schedule.department_id.in_(select(Department.id).where(Department.max_age.is_(None))))
            .order_by(Schedule.clinic_date, ScheduleSlice.id)).first()
        fill_session(slc.schedule_id)
        schedule_id, doctor_id, day = slc.schedule_id, slc.schedule.doctor_id, slc.schedule.clinic_date
    page.goto(f"{live_server}/h5/booking/doctors/{doctor_id}?date={day.isoformat()}&fresh=1")
    page.click(f"[data-waitlist='{schedule_id}']")
    page.wait_for_selector("[data-join]")
    assert_fits_375(page)
    shot(page, f"mothers_{channel}_5_waitlist_join")
    page.click("[data-join-submit]")
    page.wait_for_selector("[data-position='1']")
    assert_fits_375(page)
    shot(page, f"mothers_{channel}_6_waitlist_mine")
    page.click("[data-leave]")  # asks first (WeUI dialog)
    page.click("[data-dialog-yes]")
    page.wait_for_selector("[data-status=left]")
    with app.app_context():
        assert db.session.scalar(select(WaitlistEntry.status)) == "left"


@pytest.mark.parametrize("channel", CHANNELS)
def test_check_in_invoice_and_book_again(request, app, live_server, his, channel):
    page = request.getfixturevalue(f"{channel}_page")
    user, mother, _child = _mother_and_child(app, live_server, page, channel)
    with app.app_context():
        from app.services import settings

        settings.set_value("checkin.location_check", "1")
        db.session.commit()
        slc = todays_afternoon_slice()
        order_id = book_and_pay(user, mother, slc.id, f"T-BROWSER-{channel}")
        start = slc.start_time
    hour, minute = (int(p) for p in start.split(":"))
    clock.freeze(dt.datetime.combine(clock.today(), dt.time(hour, minute)) - dt.timedelta(minutes=20))
    with app.app_context():  # the session's idle clock moved with the clock: sign in again
        from app.models import ChannelUser

        factories.login_browser(page.context, app, live_server, db.session.get(ChannelUser, user))
    page.goto(f"{live_server}/h5/booking/orders/{order_id}")
    page.wait_for_selector("[data-checkin-form]")
    shot(page, f"mothers_{channel}_7_checkin")
    page.click("[data-checkin-outside]")
    page.wait_for_selector(".h5-flash--error")
    assert "公里" in page.inner_text(".h5-flash--error")
    page.click("[data-checkin]")
    page.wait_for_selector("[data-checked-in]")
    assert_fits_375(page)
    shot(page, f"mothers_{channel}_8_checked_in")
    page.click("[data-invoice-link]")
    page.wait_for_selector("[data-qr] svg")
    assert page.inner_text("[data-code]").isdigit()
    assert_fits_375(page)
    shot(page, f"mothers_{channel}_9_invoice")
    with app.app_context():
        payment_no = db.session.scalar(select(PaymentOrder.order_no).where(PaymentOrder.appointment_id == order_id))
    pdf = page.request.get(f"{live_server}/h5/invoices/{payment_no}/pdf")
    assert pdf.status == 200 and pdf.body().startswith(b"%PDF")
    with app.app_context():  # the visit is over: 已就诊, 再次预约 offered
        record_attendance(order_id, "visited", actor="test", reason="test")
        db.session.commit()
    page.goto(f"{live_server}/h5/booking/orders/{order_id}")
    page.click("[data-book-again]")
    page.wait_for_url("**/h5/booking/doctors/**")


def test_find_a_doctor_and_the_queue_line(wechat_page, app, live_server, his):
    page = wechat_page
    _mother_and_child(app, live_server, page, "wechat")
    with app.app_context():
        doctor = db.session.scalar(select(Doctor).where(Doctor.specialty.is_not(None)).order_by(Doctor.id))
        word = doctor.specialty.split("、")[0][:4]
        code = doctor.code
    page.goto(f"{live_server}/h5/")
    page.click("[data-service=doctors]")
    page.fill("[data-q]", word)
    page.click("[data-search]")
    page.wait_for_selector(f"[data-doctor-result='{code}']")
    assert_fits_375(page)
    shot(page, "mothers_wechat_10_find_doctor")
    page.click(f"[data-doctor-result='{code}']")
    page.wait_for_selector("[data-doctor-page]")
    assert_fits_375(page)
    shot(page, "mothers_wechat_11_doctor_page")
    page.goto(f"{live_server}/h5/queue")
    assert "可在候诊区外等候，轮到前会提醒您" in page.inner_text("[data-remind-note]")
    page.goto(f"{live_server}/h5/booking")
    tops = page.eval_on_selector_all("[data-dept]", "els => els.map(e => e.dataset.dept)")
    assert tops[:4] == ["OB01", "OB02", "OB03", "PD01"]  # 产科 first, then 儿科


@pytest.mark.parametrize("channel", CHANNELS)
def test_prenatal_class_free_and_paid(request, app, live_server, his, channel):
    page = request.getfixturevalue(f"{channel}_page")
    _mother_and_child(app, live_server, page, channel)
    with app.app_context():
        from app.models import PrenatalClass

        starts = dt.datetime.combine(clock.today() + dt.timedelta(days=3), dt.time(9, 0))
        free = PrenatalClass(title="孕期营养", location="五楼教室", starts_at=starts,
                             ends_at=starts + dt.timedelta(hours=1), capacity=2, fee_fen=0)
        paid = PrenatalClass(title="分娩准备", location="五楼教室", starts_at=starts + dt.timedelta(days=1),
                             ends_at=starts + dt.timedelta(days=1, hours=1), capacity=2, fee_fen=3000)
        db.session.add_all([free, paid])
        db.session.commit()
        free_id, paid_id = free.id, paid.id
    page.goto(f"{live_server}/h5/")
    page.click("[data-service=classes]")
    page.wait_for_selector(f"[data-class='{free_id}']")
    page.click(f"[data-class='{free_id}'] [data-class-book]")
    page.wait_for_selector("[data-booking][data-status=booked]")
    assert_fits_375(page)
    shot(page, f"mothers_{channel}_12_classes")
    page.click(f"[data-class='{paid_id}'] [data-class-book]")
    page.wait_for_selector("[data-pay]")  # the payment core's cashier hand-off
    shot(page, f"mothers_{channel}_13_class_pay")


def test_english_names_in_the_booking_pages(wechat_page, app, live_server, his):
    page = wechat_page
    _mother_and_child(app, live_server, page, "wechat")
    with app.app_context():
        doctor = db.session.scalar(select(Doctor).order_by(Doctor.id))
        doctor.name_en = "Dr. Wang Li"
        doctor.department.name_en = "Antenatal Clinic"
        db.session.commit()
        doctor_id = doctor.id
    page.goto(f"{live_server}/h5/lang/en?next=/h5/doctors/{doctor_id}")
    page.wait_for_selector("[data-doctor-page]")
    text = page.inner_text("[data-doctor-page]")
    assert "Dr. Wang Li" in text and "Antenatal Clinic" in text
    assert_fits_375(page)
    shot(page, "mothers_wechat_14_english_names")
