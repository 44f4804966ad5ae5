"""Registration end to end: sync, book, pay in the sandbox, HIS confirmation, cancel and refund,
停诊 through the signed HIS event, the pages, ownership and bad input, and the oversell guard."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import func, select, update

from app.extensions import db
from doubles.his.simulator.models import LockRow, ScheduleRow, SliceRow
from app.models import (AppointmentOrder, AuditLog, ChannelUser, Department, Notification, PaymentOrder, Refund,
                        Patient, Schedule, ScheduleSlice)
from app.services import settings
from app.registration import schedules
from app.payments import commands as payments
from app.registration import commands as registration
from app.registration import queries as registration_queries
from app.registration import rules as registration_rules
from app.services.errors import DomainError
from app.services.formatting import mask_name
from tests import factories
from tests.factories import wait_for
from tests.helpers.booking import (CHILDREN, MOTHERS, add_patient, book, find_slice, his_slice, order_row, pay,
                                   post_event)
from tests.helpers.statements import statements_sent


def notices(app, owner_id, kind):
    with app.app_context():
        return list(db.session.scalars(select(Notification).where(Notification.owner_id == owner_id,
                                                                  Notification.kind == kind)))


# -- sync ------------------------------------------------------------------------------------------------

def test_sync_builds_the_tree_and_a_second_sync_adds_nothing(app, world):
    with app.app_context():
        again = schedules.sync_from_his()
        assert (again.departments, again.doctors, again.schedules, again.slices) == (0, 0, 0, 0)
        ob = db.session.scalar(select(Department).where(Department.code == "OB"))
        assert ob.allowed_gender == "F" and {c.code for c in ob.children} == {"OB01", "OB02", "OB03"}
        assert db.session.scalar(select(Department).where(Department.code == "PD01")).max_age == 17
        tree = schedules.department_tree(registration_rules.open_dates())
        by_code = {n.department.code: n for top in tree for n in (top, *top.children)}
        assert by_code["CH02"].remaining == 0 and not by_code["CH02"].bookable  # no sessions at all
        assert by_code["GY03"].remaining == 0  # always full
        assert by_code["OB"].remaining == sum(c.remaining for c in by_code["OB"].children) > 0


# -- the whole path, both channels --------------------------------------------------------------------

@pytest.mark.parametrize("channel", ["wechat", "alipay"])
def test_book_pay_confirm_notify_then_cancel_and_refund(app, world, live_server, sandbox, channel):
    with app.app_context():
        owner = factories.channel_user(channel)
        patient = add_patient(owner, MOTHERS[2])
        slc = find_slice()
        before = slc.booked
        result = registration.book(owner.id, patient.id, slc.id)
        order_id, payment_no = result.order.id, result.payment_order_no
        slice_id, his_slice_id = slc.id, slc.his_slice_id
        owner_id = owner.id
        assert result.order.status == "pending_payment" and result.order.his_lock_id
        assert db.session.get(ScheduleSlice, slice_id).booked == before + 1
        payment = db.session.scalar(select(PaymentOrder).where(PaymentOrder.order_no == payment_no))
        assert payment.kind == "registration" and payment.amount_fen == slc.schedule.fee_fen
        assert payment.channel == channel
    cap, left = his_slice(world["his"], his_slice_id)

    pay(app, live_server, sandbox, owner_id, payment_no)
    order = order_row(app, order_id)
    assert order.status == "booked" and order.his_visit_no and order.queue_no and order.location
    assert "身份证" in order.guidance  # what to bring
    (notice,) = notices(app, owner_id, "booking_success")
    assert order.queue_no in notice.body and f"/h5/booking/orders/{order_id}" in notice.link
    # pushed to the 服务号/服务窗 like every other notice: the patient's name masked, as theirs are
    assert MOTHERS[2].name not in notice.body and mask_name(MOTHERS[2].name) in notice.body

    with app.app_context():
        registration.cancel_by_patient(owner_id, order_id, "行程有变")
    assert wait_for(lambda: order_row(app, order_id).status == "refunded")
    assert his_slice(world["his"], his_slice_id) == (cap, left + 1)  # the HIS got the place back
    with app.app_context():
        assert db.session.get(ScheduleSlice, slice_id).booked == before
        refund = db.session.scalar(select(Refund).join(PaymentOrder).where(PaymentOrder.order_no == payment_no))
        assert refund.status == "success" and refund.amount_fen == payment.amount_fen
    assert len(notices(app, owner_id, "refund_success")) == 1


def test_pages_walk_from_departments_to_the_cashier(app, client, world, live_server):
    with app.app_context():
        slc = find_slice()
        dept_id, doctor_id = slc.schedule.department_id, slc.schedule.doctor_id
        day, slice_id = slc.schedule.clinic_date.isoformat(), slc.id
        factories.login(client, db.session.get(ChannelUser, world["owner"]))
    home = client.get("/h5/").get_data(as_text=True)
    assert 'href="/h5/booking"' in home
    tree = client.get("/h5/booking").get_data(as_text=True)
    assert f"/h5/booking/departments/{dept_id}" in tree and "暂无号源" in tree
    dept_page = client.get(f"/h5/booking/departments/{dept_id}?date={day}").get_data(as_text=True)
    assert f"/h5/booking/doctors/{doctor_id}" in dept_page and "余号" in dept_page
    doctor_page = client.get(f"/h5/booking/doctors/{doctor_id}?date={day}").get_data(as_text=True)
    assert f"/h5/booking/slices/{slice_id}/confirm" in doctor_page
    confirm = client.get(f"/h5/booking/slices/{slice_id}/confirm").get_data(as_text=True)
    assert "选择就诊人" in confirm and MOTHERS[0].name not in confirm  # names masked
    with app.app_context():
        fee = db.session.get(ScheduleSlice, slice_id).schedule.fee_fen
    response = client.post(f"/h5/booking/slices/{slice_id}/confirm",
                           data={"patient_id": world["mother"], "doctor_id": doctor_id, "clinic_date": day,
                                 "fee_fen": fee})
    assert response.status_code == 303 and response.headers["Location"].startswith("/h5/pay/GH")
    orders = client.get("/h5/booking/orders").get_data(as_text=True)
    assert "待支付" in orders and MOTHERS[0].name not in orders
    with app.app_context():
        order = db.session.scalar(select(AppointmentOrder).where(AppointmentOrder.owner_id == world["owner"]))
    # ‹ on 确认支付 goes back to the booking it pays, not to 首页
    cashier = client.get(response.headers["Location"]).get_data(as_text=True)
    assert f'class="h5-back" href="/h5/booking/orders/{order.id}"' in cashier
    detail = client.get(f"/h5/booking/orders/{order.id}").get_data(as_text=True)
    assert "去支付" in detail and "取消预约" in detail and "号源已锁定，待支付" in detail
    assert client.get("/h5/booking/orders?state=booked").get_data(as_text=True).count("data-order=") == 0
    # an unpaid order is cancelled at once and its place comes back
    assert client.post(f"/h5/booking/orders/{order.id}/cancel").status_code == 303
    with app.app_context():
        assert db.session.get(AppointmentOrder, order.id).status == "cancelled"
        assert db.session.get(PaymentOrder, db.session.scalar(
            select(PaymentOrder.id).where(PaymentOrder.appointment_id == order.id))).status == "closed"
    assert "预约已取消，号源已释放" in client.get(f"/h5/booking/orders/{order.id}").get_data(as_text=True)


def test_a_department_without_slots_says_so(app, client, world):
    with app.app_context():
        ch02 = db.session.scalar(select(Department).where(Department.code == "CH02")).id
    page = client.get(f"/h5/booking/departments/{ch02}").get_data(as_text=True)
    assert "该科室暂无可预约号源" in page and "/h5/booking/doctors/" not in page


# -- ownership and bad input -----------------------------------------------------------------------------

def test_another_accounts_order_and_patient_are_404_and_nothing_changes(app, client, world):
    with app.app_context():
        slc = find_slice()
        result = registration.book(world["owner"], world["mother"], slc.id)
        order_id, slice_id = result.order.id, slc.id
        factories.login(client, db.session.get(ChannelUser, world["stranger"]))
    for path in (f"/h5/booking/orders/{order_id}", f"/h5/booking/orders/{order_id}/rebook"):
        assert client.get(path).status_code == 404
    assert client.post(f"/h5/booking/orders/{order_id}/cancel").status_code == 404
    # booking for someone else's family contact
    response = client.post(f"/h5/booking/slices/{slice_id}/confirm", data={"patient_id": world["mother"]})
    assert response.status_code == 404
    assert order_row(app, order_id).status == "pending_payment"
    with app.app_context():
        assert db.session.scalar(select(func.count(AppointmentOrder.id))) == 1


def test_bad_input_gets_a_clear_message_and_changes_nothing(app, client, world):
    with app.app_context():
        slc = find_slice()
        slice_id, doctor_id, day, fee = slc.id, slc.schedule.doctor_id, slc.schedule.clinic_date, slc.schedule.fee_fen
        booked = slc.booked
        factories.login(client, db.session.get(ChannelUser, world["owner"]))
    cases = [
        ({"doctor_id": doctor_id + 1, "clinic_date": day.isoformat(), "fee_fen": fee}, "号源与所选医生或日期不符"),
        ({"doctor_id": doctor_id, "clinic_date": (day + dt.timedelta(days=1)).isoformat(), "fee_fen": fee},
         "号源与所选医生或日期不符"),
        ({"doctor_id": doctor_id, "clinic_date": day.isoformat(), "fee_fen": 1}, "挂号费已变化"),
        ({"doctor_id": doctor_id, "clinic_date": "yesterday", "fee_fen": fee}, "日期格式不正确"),
    ]
    for extra, message in cases:
        response = client.post(f"/h5/booking/slices/{slice_id}/confirm", data={"patient_id": world["mother"], **extra})
        assert response.status_code == 400 and message in response.get_data(as_text=True)
    assert client.post("/h5/booking/slices/999999/confirm", data={"patient_id": world["mother"]}).status_code == 404
    with app.app_context():
        assert db.session.get(ScheduleSlice, slice_id).booked == booked
        assert db.session.scalar(select(func.count(AppointmentOrder.id))) == 0


def test_an_expired_order_cannot_be_paid(app, client, world, live_server):
    with app.app_context():
        result = book(world["owner"], world["mother"], find_slice().id)
        db.session.execute(update(PaymentOrder).where(PaymentOrder.order_no == result.pay)
                           .values(expires_at=dt.datetime(2000, 1, 1)))
        db.session.commit()
        factories.login(client, db.session.get(ChannelUser, world["owner"]))
    response = client.post(f"/h5/pay/{result.pay}")
    assert response.status_code == 409 and "订单已超过支付时限" in response.get_data(as_text=True)
    # the deadline sweep closes it and gives the place back
    with app.app_context():
        before = db.session.get(ScheduleSlice, result.slice_id).booked
        assert payments.close_expired() == 1
        assert db.session.get(AppointmentOrder, result.id).status == "expired"
        assert db.session.get(ScheduleSlice, result.slice_id).booked == before - 1


def test_a_lost_race_shows_slot_full_not_an_error_page(app, client, world):
    with app.app_context():
        slc = find_slice()
        db.session.execute(update(ScheduleSlice).where(ScheduleSlice.id == slc.id)
                           .values(booked=ScheduleSlice.capacity))
        db.session.commit()
        slice_id, day = slc.id, slc.schedule.clinic_date.isoformat()
        factories.login(client, db.session.get(ChannelUser, world["owner"]))
    response = client.post(f"/h5/booking/slices/{slice_id}/confirm", data={"patient_id": world["mother"]},
                           follow_redirects=True)
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "号源已被约满" in page and f"date={day}" in response.request.url + page
    with app.app_context():
        assert db.session.scalar(select(AppointmentOrder.status)) is None  # no order was created


def test_the_his_refusing_the_lock_gives_the_place_back(app, world):
    """The platform thought a place was left; the HIS (another channel took it) says full."""
    with app.app_context():
        slc = find_slice()
        with world["his"].unit() as s:
            s.execute(update(SliceRow).where(SliceRow.slice_id == slc.his_slice_id).values(remaining=0))
        before = slc.booked
        with pytest.raises(registration_rules.SlotTaken):
            registration.book(world["owner"], world["mother"], slc.id)
        assert db.session.get(ScheduleSlice, slc.id).booked == before
        assert db.session.scalar(select(AppointmentOrder.status)) == "lock_failed"



def test_a_booking_refuses_to_join_another_unit_of_work(app, world):
    """Inside an outer unit of work the hold would not commit, and the hot slice row would stay locked
    over the HIS call: the booking refuses before it takes anything."""
    from app.services.uow import NestedOutsideCall, unit_of_work

    with app.app_context():
        slc = find_slice()
        before = slc.booked
        with pytest.raises(NestedOutsideCall), unit_of_work():
            registration.book(world["owner"], world["mother"], slc.id)
        assert db.session.get(ScheduleSlice, slc.id).booked == before
        assert db.session.scalar(select(AppointmentOrder.status)) is None

def test_a_booking_holds_the_hot_row_for_its_commit_alone_and_reads_only_what_it_uses(app, world):
    """The hold's guarded UPDATE is the last statement before its COMMIT (the HIS is asked after it); the
    booking reads the slice, the patient and the limits' counts in one statement, a second booking no setting
    (the rules are kept per process), and writes its rows as single INSERTs: 9 statements and 2 COMMITs in
    all (a statement more fails here)."""
    with app.app_context():
        settings.booking_rules()  # read once by an earlier booking of this process
        slice_id = find_slice().id
        db.session.remove()
        with statements_sent(commits=True) as seen:
            result = registration.book(world["owner"], world["mother"], slice_id)
        assert result.payment_order_no
        first_commit = seen.index("COMMIT")
        assert seen[first_commit - 1].startswith("UPDATE schedule_slice"), seen
        assert not [s for s in seen if "system_setting" in s], seen
        assert seen[0].startswith("SELECT schedule_slice.id") and "patient" in seen[0], seen
        assert not [s for s in seen[1:] if s.startswith("SELECT")], seen
        assert len([s for s in seen if s != "COMMIT"]) == 9 and seen.count("COMMIT") == 2, seen
        order = result.order
        assert (order.status, order.slice_id) == ("pending_payment", slice_id)
        steps = registration_queries.history(order)
        assert [(t.order_type, t.from_status, t.to_status, t.actor) for t in steps] == [
            ("appointment", "-", "holding", f"patient:{world['owner']}"),
            ("payment", "-", "created", f"patient:{world['owner']}"),
            ("appointment", "holding", "pending_payment", f"patient:{world['owner']}")]


# -- rules ---------------------------------------------------------------------------------------------

def test_window_same_day_advance_and_release_time():
    rules = settings.BookingRules(days_ahead=7, release_time=dt.time(8, 0))
    now = dt.datetime(2026, 3, 2, 7, 59)
    assert registration_rules.open_dates(now, rules)[0] == now.date()
    assert registration_rules.open_dates(now, rules)[-1] == dt.date(2026, 3, 8)  # the 7th day opens at 08:00
    assert registration_rules.open_dates(now.replace(hour=8, minute=0), rules)[-1] == dt.date(2026, 3, 9)
    with pytest.raises(DomainError, match="尚未开放"):
        registration_rules.registration_kind(dt.date(2026, 3, 9), "08:00", "08:30", now, rules)
    assert registration_rules.registration_kind(
        dt.date(2026, 3, 9), "08:00", "08:30", now.replace(hour=8), rules) == "advance"
    assert registration_rules.registration_kind(now.date(), "09:00", "09:30", now, rules) == "same_day"
    with pytest.raises(DomainError, match="该时段已过"):
        registration_rules.registration_kind(now.date(), "07:00", "07:30", now, rules)
    no_same_day = settings.BookingRules(same_day=False)
    with pytest.raises(DomainError, match="暂不开放当天挂号"):
        registration_rules.registration_kind(now.date(), "09:00", "09:30", now, no_same_day)
    assert registration_rules.open_dates(now, no_same_day)[0] == dt.date(2026, 3, 3)
    no_advance = settings.BookingRules(advance=False)
    with pytest.raises(DomainError, match="暂不开放预约挂号"):
        registration_rules.registration_kind(dt.date(2026, 3, 3), "09:00", "09:30", now, no_advance)
    assert registration_rules.open_dates(now, no_advance) == [now.date()]


def test_settings_come_from_system_setting_with_defaults(app, ctx):
    assert settings.booking_rules() == settings.BookingRules()
    settings.set_value("booking.days_ahead", "3")
    settings.set_value("booking.same_day", "0")
    settings.set_value("booking.max_active_per_patient", "not a number")
    rules = settings.booking_rules()
    assert (rules.days_ahead, rules.same_day, rules.max_active) == (3, False, 3)


def test_department_restrictions_by_sex_and_age(app, world):
    with app.app_context():
        ob = find_slice(dept_codes=["OB01", "OB02", "OB03"])
        with pytest.raises(DomainError, match="仅限女性"):  # a boy in 产科
            boy = next(p for p in CHILDREN if p.gender == "M")
            owner = db.session.get(ChannelUser, world["owner"])
            registration.book(owner.id, add_patient(owner, boy, relation="child", default=False).id, ob.id)
        pd = find_slice(dept_codes=["PD01", "PD02", "PD03"], restricted=True)
        with pytest.raises(DomainError, match="17 岁及以下"):  # an adult in 儿科
            registration.book(world["owner"], world["mother"], pd.id)
        assert registration.book(world["owner"], world["child"], pd.id).order.status == "pending_payment"
        assert db.session.scalar(select(func.count(AppointmentOrder.id))) == 1


def test_one_per_doctor_half_day_and_max_active(app, world):
    with app.app_context():
        first = find_slice(min_left=1)
        registration.book(world["owner"], world["mother"], first.id)
        sibling = db.session.scalar(select(ScheduleSlice).where(
            ScheduleSlice.schedule_id == first.schedule_id, ScheduleSlice.id != first.id,
            ScheduleSlice.booked < ScheduleSlice.capacity))
        with pytest.raises(DomainError, match="同一医生同一时段只能预约一个号"):
            registration.book(world["owner"], world["mother"], sibling.id)
        settings.set_value("booking.max_active_per_patient", "1")
        db.session.commit()
        other = db.session.scalar(
            select(ScheduleSlice).join(Schedule).join(Department, Department.id == Schedule.department_id)
            .where(Schedule.id != first.schedule_id, Schedule.doctor_id != first.schedule.doctor_id,
                   Schedule.status == "open", Department.max_age.is_(None),
                   Schedule.clinic_date > registration_rules.hospital_now().date(),
                   Schedule.clinic_date <= registration_rules.open_dates()[-1],
                   ScheduleSlice.booked < ScheduleSlice.capacity))
        with pytest.raises(DomainError, match="最多同时持有 1 个有效预约"):
            registration.book(world["owner"], world["mother"], other.id)


def test_the_database_refuses_a_second_live_booking_of_the_same_session(app, world):
    """Two tabs past the pre-check at once: the unique active key lets only one through."""
    with app.app_context():
        slc = find_slice()
        registration.book(world["owner"], world["mother"], slc.id)
        db.session.add(AppointmentOrder(
            order_no="YYDUP", owner_id=world["owner"], patient_id=world["mother"], channel="wechat",
            schedule_id=slc.schedule_id, slice_id=slc.id, department_id=slc.schedule.department_id,
            doctor_id=slc.schedule.doctor_id, clinic_date=slc.schedule.clinic_date, half_day="am",
            start_time="08:00", end_time="08:30", fee_fen=1, status="holding",
            active_key=f"{world['mother']}:{slc.schedule_id}"))
        from sqlalchemy.exc import IntegrityError

        with pytest.raises(IntegrityError):
            db.session.flush()
        db.session.rollback()


def test_no_show_bar(app, world):
    with app.app_context():
        settings.set_value("booking.no_show_limit", "2")
        db.session.commit()
        mother = db.session.get(Patient, world["mother"])
        for _ in range(2):  # two sessions three days ago, booked and never attended
            factories.appointment_order(mother, "no_show", slc=factories.schedule(days_ahead=-3).slices[0])
        db.session.commit()
        with pytest.raises(DomainError, match="多次预约未就诊"):
            registration.book(world["owner"], world["mother"], find_slice().id)
        assert registration.book(world["owner"], world["child"], find_slice(restricted=True, dept_codes=["PD01"]).id)


def test_cancel_cut_off(app, world, live_server, sandbox):
    with app.app_context():
        result = book(world["owner"], world["mother"], find_slice().id)
    pay(app, live_server, sandbox, world["owner"], result.pay)
    with app.app_context():
        settings.set_value("booking.cancel_before_minutes", str(60 * 24 * 30))
        db.session.commit()
        with pytest.raises(DomainError, match="已超过取消时限"):
            registration.cancel_by_patient(world["owner"], result.id)
        assert db.session.get(AppointmentOrder, result.id).status == "booked"
        # the service desk may still cancel, with a reason, audited, refunded
        with pytest.raises(DomainError, match="请填写取消原因"):
            registration.cancel_by_staff(result.id, "  ", "service")
        registration.cancel_by_staff(result.id, "患者电话要求退号", "service")
        audit = db.session.scalar(select(AuditLog).where(AuditLog.action == "booking.cancel"))
        assert audit.actor_name == "service" and "患者电话要求退号" in audit.detail
    assert wait_for(lambda: order_row(app, result.id).status == "refunded")


def test_a_free_slot_skips_payment(app, world):
    with app.app_context():
        slc = find_slice()
        db.session.execute(update(Schedule).where(Schedule.id == slc.schedule_id).values(fee_fen=0))
        db.session.commit()
        with world["his"].unit() as s:
            s.execute(update(ScheduleRow).where(ScheduleRow.schedule_id == slc.schedule.his_schedule_id)
                      .values(fee_fen=0))
        result = registration.book(world["owner"], world["mother"], slc.id)
        assert result.payment_order_no is None and result.order.status == "booked" and result.order.queue_no
        assert db.session.scalar(select(func.count(PaymentOrder.id))) == 0
        assert len(notices(app, world["owner"], "booking_success")) == 1


def test_his_refusing_the_confirmation_fails_and_refunds(app, world, live_server, sandbox):
    with app.app_context():
        result = book(world["owner"], world["mother"], find_slice().id)
    with world["his"].unit() as s:  # the HIS dropped the lock meanwhile
        s.execute(update(LockRow).where(LockRow.order_no == result.order_no).values(status="expired"))
    pay(app, live_server, sandbox, world["owner"], result.pay)
    assert wait_for(lambda: order_row(app, result.id).status == "refunded")
    assert len(notices(app, world["owner"], "booking_failed")) == 1


# -- 停诊 ---------------------------------------------------------------------------------------------------

def test_stop_clinic_event_cancels_refunds_and_offers_rebooking(app, client, world, live_server, sandbox):
    with app.app_context():
        slc = find_slice(min_left=2)
        schedule_id, doctor_id = slc.schedule.his_schedule_id, slc.schedule.doctor_id
        paid = book(world["owner"], world["mother"], slc.id)
        unpaid = book(world["stranger"], world["other"], slc.id)
        slice_id, booked_before = slc.id, slc.booked - 2
    pay(app, live_server, sandbox, world["owner"], paid.pay)
    assert order_row(app, paid.id).status == "booked"
    world["his"].stop_schedule(schedule_id, "医生外出会诊")

    event = {"event_id": "E1", "type": "schedule_stopped", "schedule_id": schedule_id, "reason": "医生外出会诊"}
    unsigned = client.post("/api/his/v1/events", json=event)
    assert unsigned.status_code == 401
    response = post_event(client, app, event)
    assert response.status_code == 200 and response.get_json()["cancelled"] == 2
    assert wait_for(lambda: order_row(app, paid.id).status == "refunded")
    assert order_row(app, unpaid.id).status == "stopped"
    with app.app_context():
        assert db.session.scalar(select(Schedule.status).where(Schedule.his_schedule_id == schedule_id)) == "stopped"
        assert db.session.get(ScheduleSlice, slice_id).booked == booked_before  # both places back
    (notice,) = notices(app, world["owner"], "stop_clinic")
    assert "医生外出会诊" in notice.body and f"/h5/booking/orders/{paid.id}/rebook" in notice.link
    assert len(notices(app, world["stranger"], "stop_clinic")) == 1

    again = post_event(client, app, event)  # the HIS retries: nothing twice
    assert again.status_code == 200 and again.get_json()["cancelled"] == 0
    assert len(notices(app, world["owner"], "stop_clinic")) == 1
    assert post_event(client, app, {**event, "type": "bogus"}).status_code == 400

    with app.app_context():
        factories.login(client, db.session.get(ChannelUser, world["owner"]))
        upcoming = registration_queries.next_open_slots(doctor_id)
    page = client.get(f"/h5/booking/orders/{paid.id}/rebook").get_data(as_text=True)
    assert "该医生近期可预约时段" in page
    for x in upcoming:
        assert f"/h5/booking/slices/{x.id}/confirm?rebook={paid.id}" in page
    assert upcoming and all(x.id != slice_id for x in upcoming)
    # the confirm page says it replaces the stopped booking (it read as any new booking)
    confirm = client.get(f"/h5/booking/slices/{upcoming[0].id}/confirm?rebook={paid.id}").get_data(as_text=True)
    stopped_day = order_row(app, paid.id).clinic_date.isoformat()
    assert "data-rebooking" in confirm and "改约" in confirm and stopped_day in confirm
    assert "data-rebooking" not in client.get(f"/h5/booking/slices/{upcoming[0].id}/confirm").get_data(as_text=True)


def test_simulator_stop_clinic_command_reaches_the_platform(app, world, live_server):
    with app.app_context():
        slc = find_slice()
        schedule_id = slc.schedule.his_schedule_id
        order = book(world["owner"], world["mother"], slc.id)
    runner = app.test_cli_runner()
    old = app.config["HIS_SIMULATOR_URL"]
    result = runner.invoke(args=["his", "stop-clinic", schedule_id, "--reason", "临时安排急诊手术"])
    assert app.config["HIS_SIMULATOR_URL"] == old
    assert result.exit_code == 0, result.output
    assert "platform notified" in result.output
    assert order_row(app, order.id).status == "stopped"


def test_stop_clinic_takes_the_order_number_staff_can_read(app, world, live_server):
    """The HIS schedule id is shown nowhere: staff stop a clinic by a booking's 订单号 or 就诊流水号."""
    with app.app_context():
        slc = find_slice()
        order = book(world["owner"], world["mother"], slc.id)
        order_no = order_row(app, order.id).order_no
    result = app.test_cli_runner().invoke(args=["his", "stop-clinic", order_no, "--reason", "医生外出会诊"])
    assert result.exit_code == 0, result.output
    assert "platform notified" in result.output
    assert order_row(app, order.id).status == "stopped"


def test_the_sync_acts_on_a_stop_no_event_announced(app, world):
    with app.app_context():
        slc = find_slice()
        order = registration.book(world["owner"], world["mother"], slc.id).order
        world["his"].stop_schedule(slc.schedule.his_schedule_id, "医生公休")
        report = schedules.sync_from_his()
        assert slc.schedule.his_schedule_id in report.stopped
        assert db.session.get(AppointmentOrder, order.id).status == "stopped"


# -- hot slots: never oversold --------------------------------------------------------------------------

def test_concurrent_bookings_never_oversell(app, world):
    """Twelve patients in twelve threads race for one slice: exactly its capacity wins, the rest
    hear 号源已被约满, and both the platform's and the HIS's counters agree."""
    with app.app_context():
        slc = find_slice(min_left=2)
        capacity_left = slc.capacity - slc.booked
        racers = []
        for seeded in MOTHERS[3:15]:
            user = factories.channel_user("wechat")
            racers.append((user.id, add_patient(user, seeded).id))
        db.session.commit()
        slice_id, his_slice_id = slc.id, slc.his_slice_id
    outcomes: list[str] = []
    barrier = threading.Barrier(len(racers))

    def race(owner_id, patient_id):
        with app.app_context():
            barrier.wait()
            try:
                registration.book(owner_id, patient_id, slice_id)
                outcomes.append("ok")
            except registration_rules.SlotTaken as exc:
                assert "号源已被约满" in exc.message
                outcomes.append("full")
            except Exception as exc:  # noqa: BLE001 - any other failure is what this test counts
                outcomes.append(f"error:{exc!r}")
            finally:
                db.session.remove()

    threads = [threading.Thread(target=race, args=r) for r in racers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(outcomes) == sorted(["ok"] * capacity_left + ["full"] * (len(racers) - capacity_left))
    with app.app_context():
        row = db.session.get(ScheduleSlice, slice_id)
        assert row.booked == row.capacity
        assert registration_queries.active_orders_for([slice_id]) == capacity_left
    assert his_slice(world["his"], his_slice_id)[1] == 0


def test_the_slot_guard_alone_under_threads(app, world):
    with app.app_context():
        slc = find_slice()
        db.session.execute(update(ScheduleSlice).where(ScheduleSlice.id == slc.id).values(capacity=5, booked=0))
        db.session.commit()
        slice_id = slc.id
    wins: list[bool] = []
    barrier = threading.Barrier(20)

    def take():
        with app.app_context():
            barrier.wait()
            won = registration.take_place(slice_id)
            db.session.commit()
            wins.append(won)
            db.session.remove()

    threads = [threading.Thread(target=take) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert wins.count(True) == 5 and len(wins) == 20
    with app.app_context():
        assert db.session.get(ScheduleSlice, slice_id).booked == 5


def test_demo_seed_syncs_and_creates_demo_patients(app, ctx, his):
    from app.models import Patient
    from doubles.demo.hospital import seed_booking_demo

    first = seed_booking_demo()
    assert any("demo patients created: 4" in line for line in first)
    assert db.session.scalar(select(func.count(Schedule.id))) > 0
    assert any("demo patients created: 0" in line for line in seed_booking_demo())
    assert db.session.scalar(select(func.count(Patient.id))) == 4
