"""Attendance (就诊情况): once a session is over the platform asks the HIS who checked in and moves each
booked order to 已就诊 or 爽约 through the guarded move; three 爽约 bar the patient from booking."""

from __future__ import annotations

import datetime as dt
import logging
import re

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import OperationalError

from app.extensions import db
from app.his.errors import HisUnavailable
from app.models import (AppointmentOrder, ChannelUser, Notification, Schedule, ScheduleSlice,
                        StateTransition)
from app.services import settings
from app.registration import commands as registration
from app.registration import rules as registration_rules
from app.services.errors import DomainError
from tests import factories
from tests.helpers.attendance import booked, open_slice
from tests.helpers.booking import book, order_row, pay

HOUR = dt.timedelta(hours=1)


def at(day: dt.date, hhmm: str) -> dt.datetime:
    return registration_rules.slot_start(day, hhmm)


@pytest.fixture()
def his_clock(world):
    """Move the simulated hospital's clock (a check-in happens on the clinic day); restored after."""
    his = world["his"]
    real = his.now

    def move(moment: dt.datetime) -> None:
        his.now = lambda: moment

    yield move
    his.now = real


def morning_and_evening(world):
    """The mother in an 上午 session and her child at the 儿科夜诊, on the same day."""
    for evening in db.session.scalars(select(ScheduleSlice).join(Schedule).where(
            Schedule.half_day == "evening", Schedule.status == "open",
            Schedule.clinic_date > registration_rules.hospital_now().date(),
            Schedule.clinic_date <= registration_rules.open_dates()[-1],
            ScheduleSlice.booked < ScheduleSlice.capacity).order_by(Schedule.clinic_date, ScheduleSlice.start_time)):
        morning = open_slice(half="am", day=evening.schedule.clinic_date)
        if morning is not None:
            return morning, evening
    raise AssertionError("the seeded HIS has a day with a morning slot and a 夜诊 slot")


# -- the sweep -------------------------------------------------------------------------------------------

def test_sweep_waits_for_each_session_to_end_then_follows_the_his_once(app, client, world, his_clock):
    with app.app_context():
        morning, evening = morning_and_evening(world)
        day = morning.schedule.clinic_date
        came = booked(world["his"], world["owner"], world["mother"], morning)
        missed = booked(world["his"], world["owner"], world["child"], evening)
        assert evening.schedule.half_day == "evening" and evening.end_time <= "21:00"
        his_clock(at(day, morning.start_time) - dt.timedelta(minutes=5))
        world["his"].mark_attended(came.his_visit_no)  # 签到 at the 分诊台, five minutes early

        # 12:00 + 60 min grace: the morning is not over at 12:59, the evening not before 22:00
        first = registration.sweep_attendance(now=at(day, "12:59"))
        assert (first.visited, first.no_show, first.waiting) == (0, 0, 2)
        second = registration.sweep_attendance(now=at(day, "13:00"))
        assert (second.visited, second.no_show, second.waiting) == (1, 0, 1)
        assert registration.sweep_attendance(now=at(day, "21:59")).no_show == 0
        night = registration.sweep_attendance(now=at(day, "22:00"))
        assert (night.visited, night.no_show, night.waiting, night.unknown) == (0, 1, 0, [])
        again = registration.sweep_attendance(now=at(day, "22:30") + 9 * HOUR)  # the morning run: nothing new
        assert (again.visited, again.no_show, again.unknown, again.failed_dates) == (0, 0, [], [])

        db.session.expire_all()
        visited, no_show = db.session.get(AppointmentOrder, came.id), db.session.get(AppointmentOrder, missed.id)
        assert visited.status == "visited" and no_show.status == "no_show"
        checked_in = at(day, morning.start_time) - dt.timedelta(minutes=5)
        assert visited.attended_at == checked_in - 8 * HOUR  # stored in UTC like every timestamp
        assert no_show.attended_at is None and visited.active_key is None and no_show.active_key is None
        steps = db.session.scalars(select(StateTransition).where(
            StateTransition.order_type == "appointment", StateTransition.to_status.in_(("visited", "no_show")))
            .order_by(StateTransition.id)).all()
        assert [(s.order_id, s.from_status, s.to_status, s.actor) for s in steps] == [
            (came.id, "booked", "visited", "system:attendance"), (missed.id, "booked", "no_show", "system:attendance")]
        assert came.his_visit_no in steps[0].reason and "已签到" in steps[0].reason
        assert "仍未签到" in steps[1].reason
        # the places stay taken: a visit used it, a no-show wasted it
        assert db.session.get(ScheduleSlice, morning.id).booked == morning.booked
        factories.login(client, db.session.get(ChannelUser, world["owner"]))
        visit_no, came_id, missed_id = came.his_visit_no, came.id, missed.id

    # the patient's 我的预约 shows the final state
    done = client.get("/h5/booking/orders?state=done").get_data(as_text=True)
    assert done.count("data-order=") == 2 and "已就诊" in done and "未就诊" in done
    page = client.get(f"/h5/booking/orders/{came_id}").get_data(as_text=True)
    assert 'data-status="visited"' in page and visit_no in page and "已就诊" in page
    assert f'data-attended-at>{checked_in:%m-%d %H:%M}<' in page and "data-cancel" not in page
    page = client.get(f"/h5/booking/orders/{missed_id}").get_data(as_text=True)
    assert 'data-status="no_show"' in page and "未就诊" in page and "data-no-show" in page
    assert "90 天内累计爽约 3 次，将暂停网上预约 30 天。" in page and "data-barred" not in page  # one is not three
    # the patient is told once, with the count; the visit gets no such notice
    with app.app_context():
        notices = db.session.scalars(select(Notification).where(Notification.kind == "no_show")).all()
        assert [n.dedupe_key for n in notices] == [f"no_show:{no_show.order_no}"]
        assert "已记为爽约（90 天内第 1 次）" in notices[0].body and "累计 3 次将暂停网上预约 30 天" in notices[0].body
        assert notices[0].owner_id == world["owner"] and f"/h5/booking/orders/{missed_id}" in notices[0].link


def test_his_failures_unknown_orders_and_database_errors_never_stop_the_batch(app, world, monkeypatch, caplog):
    with app.app_context():
        first = open_slice()
        second = open_slice(not_schedules=[first.schedule_id], day=first.schedule.clinic_date) or \
            open_slice(not_schedules=[first.schedule_id])
        a = booked(world["his"], world["owner"], world["mother"], first)
        b = booked(world["his"], world["stranger"], world["other"], second)
        gone = booked(world["his"], world["owner"], world["child"],
                      open_slice(dept_codes=["PD01", "PD02", "PD03"], day=first.schedule.clinic_date, half="am")
                      or open_slice(dept_codes=["PD01", "PD02", "PD03"]))
        world["his"].cancel_registration(gone.his_lock_id, gone.order_no, "窗口退号")  # the HIS no longer lists it
        night = registration_rules.slot_start(max(first.schedule.clinic_date, second.schedule.clinic_date), "23:30")

        real = world["his"].registration_attendance
        monkeypatch.setattr(world["his"], "registration_attendance",
                            lambda day: (_ for _ in ()).throw(HisUnavailable("HIS did not answer within 10 s")))
        with caplog.at_level(logging.WARNING, logger="booking"):
            down = registration.sweep_attendance(now=night)
        assert down.visited == down.no_show == 0 and len(down.failed_dates) >= 1
        assert "attendance HIS unavailable" in caplog.text
        assert {o.status for o in db.session.scalars(select(AppointmentOrder))} == {"booked"}

        monkeypatch.setattr(world["his"], "registration_attendance", real)
        calls = []

        record = registration.record_attendance

        def flaky(order_id, outcome, **kw):  # the database fails for the first order only
            calls.append(order_id)
            if len(calls) == 1:
                raise OperationalError("UPDATE appointment_order", {}, Exception("lock wait timeout"))
            return record(order_id, outcome, **kw)

        monkeypatch.setattr(registration, "record_attendance", flaky)
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="booking"):
            back = registration.sweep_attendance(now=night)
        assert back.errors == 1 and back.no_show == 1 and back.unknown == [gone.order_no]
        assert f"attendance unknown order={gone.order_no}" in caplog.text
        monkeypatch.setattr(registration, "record_attendance", record)
        last = registration.sweep_attendance(now=night)  # the order the database refused moves on the next run
        assert (last.no_show, last.errors, last.unknown) == (1, 0, [gone.order_no])
        db.session.expire_all()
        assert {db.session.get(AppointmentOrder, x.id).status for x in (a, b)} == {"no_show"}
        assert db.session.get(AppointmentOrder, gone.id).status == "booked"  # left for staff


def test_orders_beyond_the_lookback_are_not_asked_about(app, world):
    with app.app_context():
        slc = open_slice()
        order = booked(world["his"], world["owner"], world["mother"], slc)
        settings.set_value("booking.attendance_lookback_days", "2")
        settings.set_value("booking.attendance_grace_minutes", "0")
        db.session.commit()
        day = slc.schedule.clinic_date
        assert registration.sweep_attendance(now=at(day + dt.timedelta(days=3), "08:00")).no_show == 0
        assert registration.sweep_attendance(now=at(day + dt.timedelta(days=2), "08:00")).no_show == 1
        assert order_row(app, order.id).status == "no_show"


# -- the no-show bar, end to end ----------------------------------------------------------------------------

def test_three_no_shows_reported_by_the_his_bar_the_fourth_booking(app, client, world, live_server, sandbox):
    """Book, pay in the sandbox, the HIS confirms; the session ends and the HIS never saw the patient:
    爽约. The third 爽约 bars the patient, and the fourth booking is refused with the existing message."""
    used: list[int] = []
    orders = []
    for _ in range(3):
        with app.app_context():
            slc = open_slice(not_schedules=used)
            used.append(slc.schedule_id)
            result = book(world["owner"], world["mother"], slc.id)
        pay(app, live_server, sandbox, world["owner"], result.pay)
        assert order_row(app, result.id).status == "booked"
        orders.append(result.id)
    with app.app_context():
        last_day = max(db.session.get(AppointmentOrder, i).clinic_date for i in orders)
        done = registration.sweep_attendance(now=at(last_day, "23:30"))
        assert done.no_show == 3 and done.visited == 0
        assert {db.session.get(AppointmentOrder, i).status for i in orders} == {"no_show"}
        fourth = open_slice(not_schedules=used)
        with pytest.raises(DomainError, match="该就诊人多次预约未就诊") as refused:
            registration.book(world["owner"], world["mother"], fourth.id)
        until = (last_day + dt.timedelta(days=30)).isoformat()
        assert until in refused.value.message and refused.value.code == "no_show_barred"
        factories.login(client, db.session.get(ChannelUser, world["owner"]))
        fourth_id = fourth.id
    page = client.post(f"/h5/booking/slices/{fourth_id}/confirm", data={"patient_id": world["mother"]})
    assert page.status_code == 400 and f"该就诊人多次预约未就诊，{until} 前暂停网上预约" in page.get_data(as_text=True)
    detail = client.get(f"/h5/booking/orders/{orders[-1]}").get_data(as_text=True)
    assert "data-barred" in detail and f"{until} 前暂停网上预约" in detail
    with app.app_context():
        assert registration_rules.no_show_barred_until(world["mother"], registration_rules.hospital_now().date(),
                                            settings.booking_rules()) == last_day + dt.timedelta(days=30)
        # the child of the same account is not barred
        assert registration.book(world["owner"], world["child"],
                            open_slice(dept_codes=["PD01", "PD02", "PD03"]).id).order.status == "pending_payment"
        assert db.session.scalar(select(func.count(AppointmentOrder.id))) == 4


# -- the periodic task and the command --------------------------------------------------------------------

def test_the_periodic_task_runs_at_night_and_in_the_morning_beijing_time(app, world):
    from app.tasks.booking import sweep_attendance_task

    runs_at = sweep_attendance_task.task_class().validate_datetime  # the consumer's clock is UTC
    utc = dt.datetime(2026, 11, 27)
    assert runs_at(utc.replace(hour=14, minute=30))  # 22:30 Beijing
    assert runs_at(utc.replace(hour=23, minute=30))  # 07:30 Beijing
    assert not any(runs_at(utc.replace(hour=h, minute=m)) for h in range(24) for m in (0, 30)
                   if (h, m) not in ((14, 30), (23, 30)))
    with app.app_context():
        order = booked(world["his"], world["owner"], world["mother"], open_slice())
        db.session.execute(update(AppointmentOrder).where(AppointmentOrder.id == order.id)
                           .values(clinic_date=registration_rules.hospital_now().date() - dt.timedelta(days=1)))
        db.session.commit()
    # the HIS lists the registration under its own clinic date, not yesterday: unknown, left booked
    counts = sweep_attendance_task.call_local()
    assert counts == {"visited": 0, "no_show": 0, "unknown": 1, "his_failed_dates": 0, "errors": 0}


def test_the_command_reports_and_fails_when_the_his_is_down(app, world, monkeypatch):
    with app.app_context():
        order = booked(world["his"], world["owner"], world["mother"], open_slice())
        order_no = order.order_no
        db.session.execute(update(AppointmentOrder).where(AppointmentOrder.id == order.id)
                           .values(clinic_date=registration_rules.hospital_now().date() - dt.timedelta(days=1)))
        db.session.commit()
    runner = app.test_cli_runner()
    result = runner.invoke(args=["booking", "attendance"])
    assert result.exit_code == 0, result.output
    assert "unknown=1" in result.output and f"not listed by the HIS (left booked, staff to check): {order_no}" \
        in result.output
    monkeypatch.setattr(world["his"], "registration_attendance",
                        lambda day: (_ for _ in ()).throw(HisUnavailable("down")))
    result = runner.invoke(args=["booking", "attendance", "--days", "3"])
    assert result.exit_code == 1 and "his_failed_dates=" in result.output


# -- the back-office: 已就诊 / 爽约 by hand ----------------------------------------------------------------

@pytest.fixture()
def past_booking(app, clean_db):
    """Demo staff, and a booked order whose clinic day is over (the HIS feed never reported it)."""
    from tests.backoffice_helpers import seed_staff_and_orders

    seed_staff_and_orders(app)
    with app.app_context():  # its own: the demo's past bookings are all swept (已就诊/爽约), today's may not be over
        patient = factories.patient(factories.channel_user())
        order = factories.appointment_order(patient, "booked", slc=factories.schedule(days_ahead=-2).slices[0])
        db.session.commit()
        return order.id


@pytest.mark.parametrize(("username", "allowed"), [("admin", True), ("service", True), ("finance", False),
                                                   ("ops", False)])
def test_who_may_mark_attendance(app, client, past_booking, username, allowed):
    from tests.backoffice_helpers import login

    login(client, username)
    page = client.get(f"/appointmentorderview/show/{past_booking}").get_data(as_text=True)
    assert ('data-test="mark-no-show"' in page) == allowed
    assert (client.get(f"/appointmentorderview/attendance/{past_booking}").status_code == 200) == allowed
    action = client.post("/appointmentorderview/action_post", data={"action": "mark_attendance",
                                                                     "rowid": [str(past_booking)]})
    assert ("/attendance/" in action.headers.get("Location", "")) == allowed
    post = client.post(f"/appointmentorderview/attendance/{past_booking}",
                       data={"outcome": "no_show", "reason": "患者未到诊，电话未接"})
    assert post.status_code in ((302,) if allowed else (302, 403))
    with app.app_context():
        assert db.session.get(AppointmentOrder, past_booking).status == ("no_show" if allowed else "booked")


def test_marking_needs_an_outcome_and_a_reason_and_is_audited_once(app, client, past_booking):
    from app.models import AuditLog
    from tests.backoffice_helpers import login

    login(client, "service")
    form = client.get(f"/appointmentorderview/attendance/{past_booking}?outcome=visited").get_data(as_text=True)
    assert re.search(r'<input checked[^>]*value="visited"', form)  # the button pressed chose it
    assert not re.search(r'<input checked[^>]*value="no_show"', form)
    for data, message in (({"outcome": "visited", "reason": " "}, "请填写原因"),
                          ({"reason": "患者已签到"}, "请选择就诊情况"),
                          ({"outcome": "visited", "reason": "x"}, "原因为 2 到 200 个字"),
                          ({"outcome": "refunded", "reason": "患者已签到"}, 'data-test="outcome-error"')):
        page = client.post(f"/appointmentorderview/attendance/{past_booking}", data=data)
        assert page.status_code == 200 and message in page.get_data(as_text=True), (data, message)
    with app.app_context():
        assert db.session.get(AppointmentOrder, past_booking).status == "booked"
    done = client.post(f"/appointmentorderview/attendance/{past_booking}", follow_redirects=True,
                       data={"outcome": "visited", "reason": "患者已在分诊台签到，系统未回传"})
    assert "已标记为已就诊" in done.get_data(as_text=True)
    again = client.post(f"/appointmentorderview/attendance/{past_booking}", follow_redirects=True,
                        data={"outcome": "no_show", "reason": "重复提交"})
    assert "只有预约成功（待就诊）的订单可以标记就诊情况" in again.get_data(as_text=True)
    with app.app_context():
        order = db.session.get(AppointmentOrder, past_booking)
        assert order.status == "visited" and order.active_key is None
        (row,) = db.session.scalars(select(AuditLog).where(AuditLog.action == "booking.attendance")).all()
        assert row.actor_name == "service" and row.ip and row.target_id == order.order_no
        assert '"after": {"status": "visited"}' in row.detail and "系统未回传" in row.detail
        step = db.session.scalar(select(StateTransition).where(StateTransition.order_type == "appointment",
                                                               StateTransition.order_id == past_booking,
                                                               StateTransition.to_status == "visited"))
        assert step.actor == "staff:service" and step.reason == "患者已在分诊台签到，系统未回传"
    show = client.get(f"/appointmentorderview/show/{past_booking}").get_data(as_text=True)
    assert "已就诊" in show and 'data-test="mark-visited"' not in show



def test_a_wrong_no_show_is_corrected_to_visited_and_no_longer_counts(app, client, past_booking):
    """The HIS said 爽约 but the patient was seen (never checked in at the kiosk): the service desk
    corrects it, audited, and it leaves the no-show count; a visit is never turned into a no-show."""
    from app.models import AuditLog
    from app.services.settings import booking_rules
    from tests.backoffice_helpers import login

    login(client, "service")
    client.post(f"/appointmentorderview/attendance/{past_booking}",
                data={"outcome": "no_show", "reason": "HIS 回传未就诊"})
    with app.app_context():
        order = db.session.get(AppointmentOrder, past_booking)
        assert order.status == "no_show"
        patient_id, day = order.patient_id, order.clinic_date
        rules = booking_rules()
        counted = db.session.scalar(select(func.count()).select_from(AppointmentOrder).where(
            AppointmentOrder.patient_id == patient_id, AppointmentOrder.status == "no_show"))
    show = client.get(f"/appointmentorderview/show/{past_booking}").get_data(as_text=True)
    assert 'data-test="correct-no-show"' in show and 'data-test="mark-no-show"' not in show
    refused = client.post(f"/appointmentorderview/attendance/{past_booking}", follow_redirects=True,
                          data={"outcome": "no_show", "reason": "再次标记"})
    assert "只有预约成功（待就诊）的订单可以标记就诊情况" in refused.get_data(as_text=True)
    client.post(f"/appointmentorderview/attendance/{past_booking}",
                data={"outcome": "visited", "reason": "患者已由医生接诊，未在分诊台签到"})
    with app.app_context():
        assert db.session.get(AppointmentOrder, past_booking).status == "visited"
        assert db.session.scalar(select(func.count()).select_from(AppointmentOrder).where(
            AppointmentOrder.patient_id == patient_id, AppointmentOrder.status == "no_show")) == counted - 1
        assert registration_rules.no_show_barred_until(patient_id, day, rules) is None
        rows = db.session.scalars(select(AuditLog).where(AuditLog.action == "booking.attendance")
                                  .order_by(AuditLog.id)).all()
        assert '"before": {"status": "no_show"}' in rows[-1].detail and "未在分诊台签到" in rows[-1].detail
        order = db.session.get(AppointmentOrder, past_booking)
        kinds = dict(db.session.execute(select(Notification.dedupe_key, Notification.title).where(
            Notification.kind == "no_show", Notification.owner_id == order.owner_id)).all())
        assert kinds == {f"no_show:{order.order_no}": "爽约提醒", f"no_show_corrected:{order.order_no}": "就诊记录更正"}
    again = client.post(f"/appointmentorderview/attendance/{past_booking}", follow_redirects=True,
                        data={"outcome": "no_show", "reason": "改回爽约"})
    assert "只有预约成功（待就诊）的订单可以标记就诊情况" in again.get_data(as_text=True)

def test_staff_cannot_mark_before_the_clinic_time(app, world):
    from types import SimpleNamespace

    staff = SimpleNamespace(id=1, username="service")
    with app.app_context():
        order = booked(world["his"], world["owner"], world["mother"], open_slice())
        start = registration_rules.slot_start(order.clinic_date, order.start_time)
        with pytest.raises(DomainError, match="就诊日期未到"):
            registration.mark_attendance_by_staff(order.id, "visited", "患者已到", staff, now=start - 24 * HOUR)
        with pytest.raises(DomainError, match="就诊时段尚未结束"):  # 爽约 only once the slice is over
            registration.mark_attendance_by_staff(order.id, "no_show", "未到", staff, now=start)
        with pytest.raises(DomainError, match="请选择就诊情况"):
            registration.mark_attendance_by_staff(order.id, "cancelled", "未到", staff, now=start)
        assert registration.mark_attendance_by_staff(order.id, "visited", "患者已到分诊台", staff,
                                                now=start).status == "visited"


# -- the demo ------------------------------------------------------------------------------------------------

def test_the_demo_shows_one_visit_and_one_no_show(app, ctx, his):
    """The simulator's seed gave the demo cards two past registrations (one checked in); the demo seed
    books them for the WeChat demo account and the sweep settles them as every night."""
    from doubles.demo.hospital import seed_booking_demo

    assert any("demo past visits booked: 2; attendance visited=1 no_show=1" in line for line in seed_booking_demo())
    orders = {o.status: o for o in db.session.scalars(
        select(AppointmentOrder).where(AppointmentOrder.order_no.startswith("GHDEMO")))}
    assert set(orders) == {"visited", "no_show"}
    assert orders["visited"].attended_at is not None and orders["visited"].patient.relation == "self"
    assert orders["no_show"].half_day == "evening" and orders["no_show"].patient.relation == "child"
    assert all(o.clinic_date < registration_rules.hospital_now().date() and
               db.session.get(ChannelUser, o.owner_id).channel_uid == "demo-patient-wechat" for o in orders.values())
    assert any("demo past visits booked: 0; attendance visited=0 no_show=0" in line for line in seed_booking_demo())
    assert db.session.scalar(select(func.count(AppointmentOrder.id))) == 2


def test_the_inspection_report_flags_bookings_nobody_settled(app, world):
    from app.operations.inspection import build_report

    check = "就诊日已过 7 天仍未确认就诊情况的预约"
    with app.app_context():
        order = booked(world["his"], world["owner"], world["mother"], open_slice())
        assert {f.check: f for f in build_report(90).findings}[check].ok
        db.session.execute(update(AppointmentOrder).where(AppointmentOrder.id == order.id)
                           .values(clinic_date=registration_rules.hospital_now().date() - dt.timedelta(days=8)))
        db.session.commit()
        finding = {f.check: f for f in build_report(90).problems}[check]
        assert finding.detail == "1 笔" and "运维手册 docs/operations.md" in finding.advice


# -- 就诊提醒: the evening before ------------------------------------------------------------------------

def test_the_evening_before_each_booked_visit_gets_one_reminder(app, world):
    from app.tasks.booking import remind_tomorrows_visits_task

    runs_at = remind_tomorrows_visits_task.task_class().validate_datetime  # the consumer's clock is UTC
    utc = dt.datetime(2026, 11, 27)
    assert [(h, m) for h in range(24) for m in range(0, 60, 10) if runs_at(utc.replace(hour=h, minute=m))] == [(10, 0)]
    with app.app_context():
        first = open_slice()
        day = first.schedule.clinic_date
        tomorrow_visit = booked(world["his"], world["owner"], world["mother"], first)
        later = open_slice(day=day + dt.timedelta(days=1), not_schedules=(first.schedule_id,))
        assert later is not None, "the seeded HIS has a session the day after"
        later_visit = booked(world["his"], world["owner"], world["child"], later)
        evening_before = at(day - dt.timedelta(days=1), "18:00")
        assert registration.remind_tomorrows_visits(now=evening_before) == 1
        assert registration.remind_tomorrows_visits(now=evening_before) == 0  # once per order
        (notice,) = db.session.scalars(select(Notification).where(Notification.kind == "visit_reminder")).all()
        assert notice.dedupe_key == f"visit_reminder:{tomorrow_visit.order_no}" and notice.owner_id == world["owner"]
        cutoff = at(day, first.start_time) - dt.timedelta(minutes=settings.booking_rules().cancel_before_minutes)
        assert f"{first.start_time}-{first.end_time}" in notice.body
        assert f"{cutoff:%m-%d %H:%M} 前取消预约" in notice.body
        assert f"/h5/booking/orders/{tomorrow_visit.id}" in notice.link
        # the day after's booking is reminded on its own evening, unless it was cancelled by then
        registration.cancel_by_staff(later_visit.id, "患者来电取消", "service")
        assert registration.remind_tomorrows_visits(now=at(day, "18:00")) == 0
