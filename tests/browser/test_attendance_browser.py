"""Attendance in real browsers: the service desk marks a booking 已就诊 with a reason, the nightly
sweep makes another one 爽约 from the HIS, and the patient sees both at 375 px inside WeChat."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import update

from app.extensions import db
from app.models import AppointmentOrder
from app.registration import schedules
from app.registration.rules import hospital_now, slot_start
from app.registration.commands import sweep_attendance
from tests import factories
from tests.browser.conftest import assert_fits_375, shot
from tests.helpers.attendance import booked, open_slice
from tests.helpers.booking import CHILDREN, MOTHERS, add_patient
from tests.helpers.browser import sign_in


def test_staff_marks_visited_the_sweep_marks_no_show_and_the_patient_sees_both(app, live_server, his, wechat_page,
                                                                               desktop_page):
    from doubles.demo.hospital import seed_demo

    with app.app_context():
        seed_demo()  # the demo staff accounts
        schedules.sync_from_his()
        user = factories.channel_user("wechat")
        mother = add_patient(user, MOTHERS[0])
        child = add_patient(user, CHILDREN[0], relation="child", default=False)
        db.session.commit()
        came = booked(his, user.id, mother.id, open_slice())
        missed = booked(his, user.id, child.id, open_slice(dept_codes=["PD01", "PD02", "PD03"]))
        yesterday = hospital_now().date() - dt.timedelta(days=1)
        # the mother's visit was yesterday; the HIS lost her check-in, so the service desk records it
        db.session.execute(update(AppointmentOrder).where(AppointmentOrder.id == came.id)
                           .values(clinic_date=yesterday))
        db.session.commit()
        came_id, missed_id, missed_day = came.id, missed.id, missed.clinic_date
        factories.login_browser(wechat_page.context, app, live_server, user)

    patient = wechat_page
    patient.goto(f"{live_server}/h5/booking/orders/{came_id}")
    patient.wait_for_selector("[data-status=booked]")

    staff = desktop_page
    sign_in(staff, live_server, "service")
    staff.goto(f"{live_server}/appointmentorderview/show/{came_id}")
    staff.click("[data-test=mark-visited]")
    staff.wait_for_selector("#attendance-form")
    assert staff.is_checked("[data-test=outcome-visited]")
    staff.click("[data-test=save-attendance]")  # no reason yet: refused, nothing changes
    staff.wait_for_selector("[data-test=reason-error]")
    staff.fill("textarea[name=reason]", "患者已在分诊台签到，医院系统未回传")
    shot(staff, "attendance_staff_form")
    staff.click("[data-test=save-attendance]")
    staff.wait_for_selector("text=已标记为已就诊")
    assert staff.locator("[data-test=mark-visited]").count() == 0
    shot(staff, "attendance_staff_marked")

    with app.app_context():  # the child's 夜诊 or day session ends; the HIS never saw her: 爽约
        assert sweep_attendance(now=slot_start(missed_day, "23:30")).no_show == 1

    patient.reload()
    patient.wait_for_selector("[data-status=visited]")
    assert patient.locator("[data-visited]").is_visible() and patient.locator("text=已就诊").count() >= 1
    assert patient.locator("[data-cancel]").count() == 0
    assert_fits_375(patient)
    shot(patient, "attendance_patient_visited")
    patient.goto(f"{live_server}/h5/booking/orders/{missed_id}")
    patient.wait_for_selector("[data-status=no_show]")
    assert patient.locator("[data-no-show]").is_visible()
    assert patient.locator("text=未按时就诊").count() >= 1  # the step in the order's progress
    assert_fits_375(patient)
    shot(patient, "attendance_patient_no_show")
    patient.goto(f"{live_server}/h5/booking/orders?state=done")
    assert patient.locator("[data-status=visited]").count() == 1
    assert patient.locator("[data-status=no_show]").count() == 1
    assert_fits_375(patient)
    shot(patient, "attendance_patient_done_list")
