"""诊前签到 (window, location, HIS queue number), 电子票据 (page, PDF, ownership), 找医生 and the department
order, 叫号提醒 (near and called, once each), 再次预约 and English names. Every test sets the clock."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import func, select

from app import clock
from app.extensions import db
from app.models import (AppointmentOrder, ChannelUser, CheckIn, Department, Doctor, Notification, PaymentOrder,
                        Schedule, ScheduleSlice)
from app.registration import commands, queries, rules
from app.registration.commands import book, cancel_by_patient
from app.registration.rules import open_dates
from app.services import settings
from app.registration import schedules
from app.services.errors import DomainError
from tests import factories
from tests.helpers.registration import book_and_pay, todays_afternoon_slice


@pytest.fixture(autouse=True)
def _clock():
    clock.freeze(dt.datetime.combine(clock.today(), dt.time(9, 0)))
    yield
    clock.reset()


def at(day: dt.date, hhmm: str, minutes: int = 0) -> dt.datetime:
    hour, minute = (int(p) for p in hhmm.split(":"))
    return dt.datetime.combine(day, dt.time(hour, minute)) + dt.timedelta(minutes=minutes)


def test_check_in_window_location_and_queue_number(app, world, client):
    with app.app_context():
        slc = todays_afternoon_slice()
        order_id = book_and_pay(world["owner"], world["mother"], slc.id, "WX-CHECKIN-1")
        start, end, day = slc.start_time, slc.end_time, clock.today()
        clock.freeze(at(day, start, -61))
        with pytest.raises(DomainError) as early:
            commands.check_in(world["owner"], order_id)
        assert early.value.code == "outside_window" and "签到时间为就诊当天" in early.value.message
        settings.set_value("checkin.location_check", "1")
        db.session.commit()
        clock.freeze(at(day, start, -30))
        with pytest.raises(DomainError) as nowhere:
            commands.check_in(world["owner"], order_id)
        assert nowhere.value.message == "请允许获取您的位置后再签到"
        lat, lng = commands.checkin_rules().hospital
        with pytest.raises(DomainError) as far:
            commands.check_in(world["owner"], order_id, lat + 0.05, lng + 0.05)
        assert far.value.code == "too_far" and "公里" in far.value.message
        assert db.session.scalar(select(func.count()).select_from(CheckIn)) == 0
        row = commands.check_in(world["owner"], order_id, lat + 0.001, lng)
        order = db.session.get(AppointmentOrder, order_id)
        assert row.queue_no == order.queue_no and row.distance_m < 200
        assert commands.check_in(world["owner"], order_id).id == row.id  # idempotent
        assert any(a.attended for a in world["his"].registration_attendance(day) if a.order_no == order.order_no)
        clock.freeze(at(day, end))
        assert not commands.can_check_in(order)


def test_check_in_page_refuses_another_account_and_shows_the_queue(app, world, client):
    with app.app_context():
        slc = todays_afternoon_slice()
        order_id = book_and_pay(world["owner"], world["mother"], slc.id, "WX-CHECKIN-2")
        clock.freeze(at(clock.today(), slc.start_time, -10))
        factories.login(client, db.session.get(ChannelUser, world["stranger"]))
    assert client.post(f"/h5/booking/orders/{order_id}/check-in").status_code == 404
    with app.app_context():
        factories.login(client, db.session.get(ChannelUser, world["owner"]))
    page = client.get(f"/h5/booking/orders/{order_id}")
    assert "data-checkin-form" in page.text and "data-invoice-link" in page.text
    done = client.post(f"/h5/booking/orders/{order_id}/check-in")
    assert done.status_code == 303
    assert "data-checked-in" in client.get(f"/h5/booking/orders/{order_id}").text


def test_invoice_page_and_pdf(app, world, client):
    with app.app_context():
        slc = db.session.scalars(select(ScheduleSlice).join(Schedule).where(
            Schedule.clinic_date > clock.today(), Schedule.status == "open", Schedule.fee_fen > 0,
            Schedule.department_id.in_(select(Department.id).where(Department.max_age.is_(None))),
            ScheduleSlice.booked < ScheduleSlice.capacity)).first()
        order_id = book_and_pay(world["owner"], world["mother"], slc.id, "WX-INVOICE-1")
        payment_no = db.session.scalar(select(PaymentOrder.order_no).where(PaymentOrder.appointment_id == order_id))
        fee = slc.schedule.fee_fen
        factories.login(client, db.session.get(ChannelUser, world["owner"]))
    page = client.get(f"/h5/invoices/{payment_no}")
    assert page.status_code == 200 and "no-store" in page.headers["Cache-Control"]
    assert "data-code" in page.text and "<svg" in page.text and f"¥{fee / 100:.2f}" in page.text
    pdf = client.get(f"/h5/invoices/{payment_no}/pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf" and pdf.data.startswith(b"%PDF")
    assert b"STSong-Light" in pdf.data
    with app.app_context():
        factories.login(client, db.session.get(ChannelUser, world["stranger"]))
    assert client.get(f"/h5/invoices/{payment_no}").status_code == 404
    assert client.get(f"/h5/invoices/{payment_no}/pdf").status_code == 404


def test_invoice_of_an_unpaid_order_says_so(app, world, client):
    with app.app_context():
        slc = db.session.scalars(select(ScheduleSlice).join(Schedule).where(
            Schedule.clinic_date > clock.today(), Schedule.status == "open", Schedule.fee_fen > 0,
            Schedule.department_id.in_(select(Department.id).where(Department.max_age.is_(None))),
            ScheduleSlice.booked < ScheduleSlice.capacity)).first()
        result = book(world["owner"], world["mother"], slc.id)
        factories.login(client, db.session.get(ChannelUser, world["owner"]))
    page = client.get(f"/h5/invoices/{result.payment_order_no}")
    assert page.status_code == 409 and "该订单尚未支付，没有电子票据" in page.text


def test_find_a_doctor_and_the_hospitals_department_order(app, world, client):
    with app.app_context():
        doctor = db.session.scalar(select(Doctor).where(Doctor.specialty.is_not(None)).order_by(Doctor.id))
        word = doctor.specialty.split("、")[0][:4]
        found = queries.search(word)
        assert doctor.id in {d.id for d in found.doctors}
        assert queries.search("").doctors == [] and queries.search("没有这样的医生xyz").doctors == []
        tops = [n.department.code for n in schedules.department_tree(open_dates())]
        assert tops[:2] == ["OB", "PD"]
        settings.set_value("departments.order", "PD,OB")
        db.session.commit()
        assert [n.department.code for n in schedules.department_tree(open_dates())][:2] == ["PD", "OB"]
        doctor_id, specialty = doctor.id, word
    assert specialty in client.get(f"/h5/doctors?q={specialty}").text
    page = client.get(f"/h5/doctors/{doctor_id}")
    assert page.status_code == 200 and "data-doctor-page" in page.text
    assert client.get("/h5/doctors/999999").status_code == 404


def test_the_search_boxs_own_examples_find_doctors(app, world, client):
    """A patient types what the box suggests (产检, 儿童发育): the words of a specialty need not be
    side by side (产前检查, 儿童生长发育)."""
    with app.app_context():
        factories.login(client, db.session.get(ChannelUser, world["owner"]))
    page = client.get("/h5/doctors").text
    examples = re.search(r'placeholder="[^"]*如：([^"]+)"', page).group(1).split("、")
    assert len(examples) >= 2
    for word in examples:
        found = client.get(f"/h5/doctors?q={word}").text
        assert "没有找到相关的科室或医生" not in found, word
    with app.app_context():
        assert queries.search("产科").departments  # a plain substring still finds
        assert queries.search("没有这样的医生xyz").doctors == []
        assert queries.search("%_%") == queries.SearchResult([], [])


def test_english_names_when_english_is_chosen(app, world, client):
    with app.app_context():
        doctor = db.session.scalar(select(Doctor).order_by(Doctor.id))
        doctor.name_en = "Dr. Test Wang"
        doctor.department.name_en = "Obstetrics Test Clinic"
        db.session.commit()
        doctor_id, name = doctor.id, doctor.name
    assert name in client.get(f"/h5/doctors/{doctor_id}").text
    client.get("/h5/lang/en")
    page = client.get(f"/h5/doctors/{doctor_id}").text
    assert "Dr. Test Wang" in page and "Obstetrics Test Clinic" in page


def test_queue_reminder_near_and_called_once_each(app, world):
    his = world["his"]
    with app.app_context():
        slc = todays_afternoon_slice()
        order_id = book_and_pay(world["owner"], world["mother"], slc.id, "WX-QUEUE-1")
        order = db.session.get(AppointmentOrder, order_id)
        card = order.patient.card_no
        tickets = his.queue_status(card)
        mine = next(t for t in tickets if t.queue_no == order.queue_no)
        ahead_limit = commands.queue_remind_ahead()
        sent = []
        for _ in range(200):  # the nurse calls number after number
            ticket = next(t for t in his.queue_status(card) if t.queue_no == mine.queue_no)
            commands.remind_queue()
            commands.remind_queue()  # a second run adds nothing
            sent = list(db.session.scalars(select(Notification).where(Notification.kind == "queue_reminder")
                                           .order_by(Notification.id)))
            if ticket.status != "waiting":
                break
            his.advance_queue(mine.area_code)
        import json

        sent = [n for n in sent if json.loads(n.payload_json)["queue_no"] == mine.queue_no]  # her other tickets aside
        stages = [json.loads(n.payload_json)["stage"] for n in sent]
        assert stages == ["near", "called"]
        assert "前面还有" in sent[0].body and "请" in sent[1].body
        assert " 的" not in sent[0].body and "的 " not in sent[0].body  # 何*霞的门诊西药房, as Chinese is written
        assert sent[0].link == f"/h5/queue?patient={world['mother']}"
        assert rules.queue_stage("waiting", ahead_limit, ahead_limit) == "near"
        assert rules.queue_stage("waiting", ahead_limit + 1, ahead_limit) is None


def test_book_again_on_finished_cancelled_and_expired_orders(app, world, client):
    with app.app_context():
        slc = db.session.scalars(select(ScheduleSlice).join(Schedule).where(
            Schedule.clinic_date > clock.today(), Schedule.status == "open", Schedule.fee_fen > 0,
            Schedule.department_id.in_(select(Department.id).where(Department.max_age.is_(None))),
            ScheduleSlice.booked < ScheduleSlice.capacity)).first()
        result = book(world["owner"], world["mother"], slc.id)
        factories.login(client, db.session.get(ChannelUser, world["owner"]))
        order_id, doctor_id = result.order.id, slc.schedule.doctor_id
    assert "data-book-again" not in client.get(f"/h5/booking/orders/{order_id}").text
    with app.app_context():
        cancel_by_patient(world["owner"], order_id)
    page = client.get(f"/h5/booking/orders/{order_id}").text
    assert "data-book-again" in page and f"/h5/booking/doctors/{doctor_id}" in page


def test_staff_give_english_names_in_base_data_audited(app, world, client):
    from app.models import AuditLog
    from tests.backoffice_helpers import login, restore_demo_staff

    with app.app_context():
        from doubles.demo.hospital import seed_demo

        seed_demo()
        doctor_id = db.session.scalar(select(Doctor.id).order_by(Doctor.id))
    restore_demo_staff(app)
    login(client, "ops")
    assert client.get("/departmentview/list/").status_code == 200
    assert client.get("/doctorview/list/").status_code == 200
    saved = client.post(f"/doctorview/edit/{doctor_id}", data={"name_en": "Dr. Li Hua", "intro": "Obstetrician"})
    assert saved.status_code == 302
    with app.app_context():
        assert db.session.get(Doctor, doctor_id).name_en == "Dr. Li Hua"
        assert db.session.scalar(select(func.count()).select_from(AuditLog)
                                 .where(AuditLog.action == "staff.doctor_edit")) == 1
    login(client, "finance")
    assert client.get("/doctorview/list/").status_code in (302, 403)


def test_a_doctor_named_as_typed_is_found_before_the_list_is_cut(app, world):
    """找医生 listed the first 30 matches by department and code and only then put those containing the query as
    typed first: with many loose matches (产…检…) the doctor whose specialty says 产检 could be cut off."""
    from app.models import Doctor

    with app.app_context():
        last = db.session.scalar(select(func.max(Doctor.department_id)))
        loose = len(queries.search("产检", limit=500).doctors)
        assert loose >= 2  # the simulator's 产前检查 doctors: matches with the characters apart
        db.session.add(Doctor(code="ZZZ-EXACT", name="测试医生", department_id=last, specialty="产检咨询",
                              is_active=True))
        db.session.commit()
        assert [d.code for d in queries.search("产检", limit=1).doctors] == ["ZZZ-EXACT"]
