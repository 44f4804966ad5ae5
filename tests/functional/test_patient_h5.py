"""Issue 13, the patient's H5 as a new patient meets it: each defect found, with the test that catches it."""

from __future__ import annotations

import re
from pathlib import Path


from sqlalchemy import select

from app.extensions import db
from app.models import ChannelUser
from tests import factories
from tests.helpers.booking import book, find_slice, pay, stopped_and_refunded

TEMPLATES = Path(__file__).resolve().parents[2] / "h5" / "templates"


def _login(app, client, user_id):
    with app.app_context():
        factories.login(client, db.session.get(ChannelUser, user_id))


# -- 4. a confirmation before anything that cannot be undone --------------------------------------------

def test_no_h5_template_carries_an_inline_handler():
    """Inline handlers break on quoting (one tap cancelled and refunded) and the CSP forbids them."""
    offenders = [f"{path.relative_to(TEMPLATES)}: {m.group(0)[:60]}"
                 for path in TEMPLATES.rglob("*.html")
                 for m in re.finditer(r"\son[a-z]+\s*=", path.read_text(encoding="utf-8"))]
    assert offenders == []


def test_no_h5_template_carries_an_inline_script():
    """The H5 pages' scripts are static files (h5/static/h5/*.js): the CSP is to forbid inline ones."""
    offenders = [str(path.relative_to(TEMPLATES)) for path in TEMPLATES.rglob("*.html")
                 if re.search(r"<script(?![^>]*\bsrc=)[^>]*>", path.read_text(encoding="utf-8"))]
    assert offenders == []


def test_cancelling_a_paid_booking_asks_first(app, client, world, live_server, sandbox):
    with app.app_context():
        order = book(world["owner"], world["mother"], find_slice().id)
    pay(app, live_server, sandbox, world["owner"], order.pay)
    _login(app, client, world["owner"])
    page = client.get(f"/h5/booking/orders/{order.id}").get_data(as_text=True)
    form = re.search(rf'<form[^>]*action="/h5/booking/orders/{order.id}/cancel"[^>]*>', page)
    assert form and 'data-confirm="确定取消该预约吗？挂号费将原路退回。"' in form.group(0)
    assert "h5/confirm.js" in page


# -- 2 and 3. 停诊: 一键改约 stays reachable after the refund; every notice links inside the site ------------

def test_rebooking_after_a_stop_is_offered_once_the_fee_is_refunded(app, client, world, live_server, sandbox):
    order = stopped_and_refunded(app, client, world, live_server, sandbox)
    _login(app, client, world["owner"])
    page = client.get(f"/h5/booking/orders/{order.id}").get_data(as_text=True)
    assert f'href="/h5/booking/orders/{order.id}/rebook" data-rebook' in page
    assert client.get(f"/h5/booking/orders/{order.id}/rebook").status_code == 200


def test_every_booking_notice_links_inside_the_site_and_the_centre_shows_it(app, client, world, live_server,
                                                                           sandbox):
    from app.models import Notification

    order = stopped_and_refunded(app, client, world, live_server, sandbox)
    with app.app_context():
        notices = db.session.scalars(select(Notification).where(Notification.owner_id == world["owner"])).all()
        links = {n.kind: (n.id, n.link) for n in notices}
    assert {"booking_success", "stop_clinic", "refund_success"} <= set(links)
    _login(app, client, world["owner"])
    for kind, (notice_id, link) in links.items():
        assert link and link.startswith("/h5/"), (kind, link)
        detail = client.get(f"/h5/messages/{notice_id}").get_data(as_text=True)
        assert f'href="{link}"' in detail, kind
    assert links["stop_clinic"][1] == f"/h5/booking/orders/{order.id}/rebook"
    stop_page = client.get(f"/h5/messages/{links['stop_clinic'][0]}").get_data(as_text=True)
    assert "一键改约" in stop_page and "查看详情" not in stop_page  # the notice's own button says what it does


# -- 5. in the evening, what is over is over ----------------------------------------------------------

def _today_slice_with_places(app):
    """Today's open slice with places left that ends earliest, and the moment its end passes."""
    import datetime as dt

    from app import clock
    from app.models import Schedule, ScheduleSlice

    with app.app_context():
        today = clock.today()
        slc = db.session.scalars(select(ScheduleSlice).join(Schedule).where(
            Schedule.clinic_date == today, Schedule.status == "open",
            ScheduleSlice.capacity > ScheduleSlice.booked).order_by(ScheduleSlice.end_time, ScheduleSlice.id)).first()
        assert slc is not None, "the seeded HIS has sessions today"
        hour, minute = (int(p) for p in slc.end_time.split(":"))
        return (slc.id, slc.schedule.department_id, slc.schedule.doctor_id,
                dt.datetime.combine(today, dt.time(hour, minute)))


def _places_left_today(app, department_id, after):
    """Places left today in the department (and its children) in slices ending after ``after``."""
    from app.models import Department, Schedule, ScheduleSlice

    with app.app_context():
        ids = [department_id, *db.session.scalars(select(Department.id).where(Department.parent_id == department_id))]
        rows = db.session.execute(select(ScheduleSlice.capacity - ScheduleSlice.booked, ScheduleSlice.end_time)
                                  .join(Schedule).where(Schedule.department_id.in_(ids), Schedule.status == "open",
                                                        Schedule.clinic_date == after.date())).all()
        return sum(left for left, end in rows if end > after.strftime("%H:%M"))


def test_slices_already_over_are_not_counted_or_offered(app, client, world):
    from app import clock
    from app.registration import schedules
    from app.registration.rules import open_dates

    slice_id, dept_id, doctor_id, ended = _today_slice_with_places(app)
    clock.freeze(ended)  # the earliest slice with places has just ended
    try:
        with app.app_context():
            today = [clock.today()]
            expected = _places_left_today(app, dept_id, ended)
            assert schedules.department_remaining(dept_id, today) == expected
            sessions = {s.schedule.id: s.remaining for s in schedules.doctor_sessions(dept_id, today[0])}
            assert sum(sessions.values()) == expected
            assert open_dates()[0] == today[0]
        _login(app, client, world["owner"])
        response = client.get(f"/h5/booking/slices/{slice_id}/confirm")
        assert response.status_code == 303  # refused at once, back to the doctor's day
        assert response.headers["Location"].startswith(f"/h5/booking/doctors/{doctor_id}")
        assert "该时段已过，请选择其他时段" in client.get(response.headers["Location"]).get_data(as_text=True)
        # late in the evening every session of the day is over: 已结束, never 约满 or 余号
        clock.freeze(ended.replace(hour=23, minute=59))
        page = client.get(f"/h5/booking/departments/{dept_id}?date={ended.date().isoformat()}").get_data(as_text=True)
        assert "data-over" in page and "余号" not in page and "约满" not in page
    finally:
        clock.reset()


# -- 7. 个人中心 leads to everything a patient has -------------------------------------------------------

def test_the_personal_centre_offers_bookings_payments_inpatient_and_surveys(app, client, world):
    from app.messages.content import offer_survey
    from doubles.demo.hospital import seed_identity_demo

    with app.app_context():
        seed_identity_demo()
        assert offer_survey(world["owner"], "visit", "GH20261201")
        db.session.commit()
    _login(app, client, world["owner"])
    page = client.get("/h5/me").get_data(as_text=True)
    for label, href in (("我的预约", "/h5/booking/orders"), ("缴费记录", "/h5/bills/orders"),
                        ("住院服务", "/h5/inpatient"), ("满意度调查", "/h5/surveys")):
        entry = re.search(rf'<a[^>]*href="{href}"[^>]*>.*?</a>', page, re.S)
        assert entry and label in entry.group(0), label
        assert client.get(href).status_code == 200, href
    surveys = client.get("/h5/surveys").get_data(as_text=True)
    assert "/h5/surveys/" in surveys and "subject=GH20261201" in surveys and "待评价" in surveys


# -- 8. refusals that say what stands in the way ------------------------------------------------------

def test_unbinding_a_patient_with_paid_future_bookings_is_refused_listing_them(app, client, world, live_server,
                                                                                sandbox):
    from app.models import Patient

    with app.app_context():
        order = book(world["owner"], world["mother"], find_slice().id)
    pay(app, live_server, sandbox, world["owner"], order.pay)
    _login(app, client, world["owner"])
    response = client.post(f"/h5/patients/{world['mother']}/remove")
    assert response.status_code == 409
    page = response.get_data(as_text=True)
    assert "该就诊人还有待就诊的预约" in page and f'href="/h5/booking/orders/{order.id}"' in page
    with app.app_context():
        assert db.session.get(Patient, world["mother"]).status == "bound"
    # a patient with nothing ahead is unbound as before
    assert client.post(f"/h5/patients/{world['child']}/remove").status_code == 302
    with app.app_context():
        assert db.session.get(Patient, world["child"]).status == "unbound"


def test_booking_again_while_an_unpaid_order_blocks_links_to_it(app, client, world):
    with app.app_context():
        slc = find_slice(min_left=2)
        first = book(world["owner"], world["mother"], slc.id)
        form = {"patient_id": world["mother"], "doctor_id": slc.schedule.doctor_id,
                "clinic_date": slc.schedule.clinic_date.isoformat(), "fee_fen": slc.schedule.fee_fen}
        slice_id = slc.id
    _login(app, client, world["owner"])
    # the patient went back from the pay page and taps 确认预约 again
    again = client.post(f"/h5/booking/slices/{slice_id}/confirm", data=form)
    assert again.status_code == 400
    page = again.get_data(as_text=True)
    assert "同一就诊人同一医生同一时段只能预约一个号" in page
    assert f'href="/h5/booking/orders/{first.id}"' in page and "待支付" in page


def test_a_notice_stored_with_an_absolute_link_still_offers_its_page(app, client, world):
    """Notices written before every link went through patient_url hold PUBLIC_BASE_URL addresses."""
    from app.links import patient_url, site_path
    from app.models import Notification

    with app.app_context():
        base = app.config["PUBLIC_BASE_URL"].rstrip("/")
        assert site_path(f"{base}/h5/booking/orders/7") == "/h5/booking/orders/7"
        assert site_path("https://elsewhere.example/h5/") is None and site_path("//evil.example/") is None
        assert patient_url("h5.booking_order", order_id=7) == "/h5/booking/orders/7"
        notice = Notification(owner_id=world["owner"], channel="wechat", kind="booking_success", title="预约成功",
                              body="旧通知", link=f"{base}/h5/booking", dedupe_key="legacy-1", payload_json="{}")
        db.session.add(notice)
        db.session.commit()
        notice_id = notice.id
    _login(app, client, world["owner"])
    assert 'href="/h5/booking" data-notice-link' in client.get(f"/h5/messages/{notice_id}").get_data(as_text=True)


def test_a_duplicate_caught_by_the_database_links_to_the_order_too(app, client, world, monkeypatch):
    """Two tabs at once: the rules saw nothing yet, the unique key refuses; the page still leads on."""
    from app.registration import commands as registration

    with app.app_context():
        slc = find_slice(min_left=2)
        first = book(world["owner"], world["mother"], slc.id)
        form = {"patient_id": world["mother"], "doctor_id": slc.schedule.doctor_id,
                "clinic_date": slc.schedule.clinic_date.isoformat(), "fee_fen": slc.schedule.fee_fen}
        slice_id = slc.id
    monkeypatch.setattr(registration, "check_patient_limits", lambda *args: None)
    _login(app, client, world["owner"])
    again = client.post(f"/h5/booking/slices/{slice_id}/confirm", data=form)
    assert again.status_code == 400
    assert f'href="/h5/booking/orders/{first.id}"' in again.get_data(as_text=True)


# -- the sign-in of every H5 request (issue 19 item 5) ---------------------------------------------------

def test_the_booking_post_checks_the_session_with_one_column_and_loads_no_channel_user(app, client, world):
    """The sign-in reads the account's session counter alone (Core); the booking reads no ORM ChannelUser:
    1 statement for the sign-in and the booking's 9 (a statement more fails here)."""
    from tests.helpers.statements import statements_sent

    with app.app_context():
        slc = find_slice()
        slice_id = slc.id
    _login(app, client, world["owner"])
    with app.app_context(), statements_sent() as seen:
        response = client.post(f"/h5/booking/slices/{slice_id}/confirm", data={"patient_id": world["mother"]})
    assert response.status_code == 303 and "/h5/pay/" in response.headers["Location"]
    assert seen[0].startswith("SELECT channel_user.session_epoch FROM channel_user WHERE"), seen
    assert not [s for s in seen if "channel_user.nickname" in s], seen  # the whole row is never loaded
    assert len(seen) == 10, seen


def test_a_revoked_session_is_refused_by_the_light_sign_in(app, client, world):
    """Signing out elsewhere (the counter raised) ends this cookie too, and the account row is the judge."""
    from sqlalchemy import update

    _login(app, client, world["owner"])
    assert client.get("/h5/booking/orders").status_code == 200
    with app.app_context():
        db.session.execute(update(ChannelUser).where(ChannelUser.id == world["owner"])
                           .values(session_epoch=ChannelUser.session_epoch + 1))
        db.session.commit()
    assert client.get("/h5/booking/orders").status_code == 302


def test_the_cookie_is_sent_again_only_when_last_seen_is_30_s_old(app, client, world):
    """A patient clicking through pages is not sent a new cookie on each one; the idle clock restarts at
    most 30 s late (so ends at most 30 s early), and 30 minutes idle still ends the session."""
    import datetime as dt

    from app import clock

    clock.freeze(dt.datetime(2026, 11, 21, 10, 0))
    _login(app, client, world["owner"])
    client.get("/h5/booking/orders")  # a session's first page: Flask-Login and the locale write their keys once
    clock.advance(dt.timedelta(seconds=10))
    assert "Set-Cookie" not in client.get("/h5/booking/orders").headers
    clock.advance(dt.timedelta(seconds=10))
    assert "Set-Cookie" not in client.get("/h5/booking/orders").headers
    clock.advance(dt.timedelta(seconds=20))
    assert "Set-Cookie" in client.get("/h5/booking/orders").headers
    clock.advance(dt.timedelta(minutes=29, seconds=50))  # 30 min 10 s after the first request, 29 min 50 s idle
    assert client.get("/h5/booking/orders").status_code == 200
    clock.advance(dt.timedelta(minutes=30, seconds=1))
    assert client.get("/h5/booking/orders").status_code == 302
