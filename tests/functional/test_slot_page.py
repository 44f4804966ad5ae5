"""The doctor's day (slot picker): what it shows per slice, and its shared one-second page cache."""

from __future__ import annotations

import datetime as dt
import os
import time

import pytest
from sqlalchemy import event, update

from app.extensions import db
from app.models import Schedule, ScheduleSlice
from app.registration.rules import hospital_now
from app.registration import schedules
from tests.helpers.booking import find_slice


class FakeRedis:
    """The two commands the cache uses, with real expiry, and a switch to fail like a dead Redis."""

    def __init__(self):
        self.data: dict[str, tuple[bytes, float]] = {}
        self.down = False

    def get(self, key):
        if self.down:
            raise ConnectionError("redis down")
        value, until = self.data.get(key, (None, 0))
        return value if until > time.monotonic() else None

    def set(self, key, value, ex):
        if self.down:
            raise ConnectionError("redis down")
        self.data[key] = (value, time.monotonic() + ex)


@pytest.fixture()
def page_cache(app):
    """Switch the cache on with a double; restores the test configuration afterwards."""
    fake = FakeRedis()
    app.config["SLOT_PAGE_CACHE_URL"] = "redis://fake"
    app.extensions["page_cache"] = fake
    yield fake
    app.config["SLOT_PAGE_CACHE_URL"] = ""
    app.extensions.pop("page_cache", None)


def _day_of(app):
    with app.app_context():
        slc = find_slice(min_left=1)
        return slc.id, slc.schedule.doctor_id, slc.schedule.clinic_date.isoformat()


def _fill(app, slice_id):
    with app.app_context():
        db.session.execute(update(ScheduleSlice).where(ScheduleSlice.id == slice_id)
                           .values(booked=ScheduleSlice.capacity))
        db.session.commit()


@pytest.fixture()
def statements(app):
    """Returns a function that starts recording the SQL sent from then on (until the test ends)."""
    with app.app_context():
        engine = db.engine
    seen: list[str] = []

    def record(*args, **kwargs):
        seen.append(args[2])

    def start() -> list[str]:
        event.listen(engine, "before_cursor_execute", record)
        return seen

    yield start
    if event.contains(engine, "before_cursor_execute", record):
        event.remove(engine, "before_cursor_execute", record)


def test_the_day_lists_each_slice_with_what_is_left_and_past_slices_are_closed(app, world):
    with app.app_context():
        slc = find_slice(min_left=1)
        schedule = slc.schedule
        day = schedules.doctor_day(schedule.doctor_id, schedule.clinic_date, hospital_now())
        session = next(d for d in day if d.schedule.id == schedule.id)
        slot = next(x for x in session.slots if x.id == slc.id)
        assert (slot.start_time, slot.end_time, slot.remaining) == (slc.start_time, slc.end_time, slc.remaining)
        assert slot.open and not slot.past
        assert [x.start_time for x in session.slots] == sorted(x.start_time for x in session.slots)
        # the same day seen from after its last slice: every slice is past, none may be opened
        late = dt.datetime.combine(schedule.clinic_date, dt.time(23, 59))
        later = schedules.doctor_day(schedule.doctor_id, schedule.clinic_date, late)
        assert all(x.past and not x.open for d in later for x in d.slots)
        assert schedules.doctor_day(schedule.doctor_id, schedule.clinic_date - dt.timedelta(days=400),
                                    late) == []


def test_a_full_slice_says_full_and_has_no_link(app, client, world):
    slice_id, doctor_id, day = _day_of(app)
    page = client.get(f"/h5/booking/doctors/{doctor_id}?date={day}").get_data(as_text=True)
    assert f'href="/h5/booking/slices/{slice_id}/confirm"' in page and "余 " in page
    _fill(app, slice_id)
    page = client.get(f"/h5/booking/doctors/{doctor_id}?date={day}").get_data(as_text=True)
    assert f"/h5/booking/slices/{slice_id}/confirm" not in page and "约满" in page


def test_the_rebook_link_is_carried_to_every_slice(app, client, world):
    slice_id, doctor_id, day = _day_of(app)
    page = client.get(f"/h5/booking/doctors/{doctor_id}?date={day}&rebook=7").get_data(as_text=True)
    assert f'href="/h5/booking/slices/{slice_id}/confirm?rebook=7"' in page


def test_english_page_labels(app, client, world):
    slice_id, doctor_id, day = _day_of(app)
    client.get("/h5/lang/en")
    page = client.get(f"/h5/booking/doctors/{doctor_id}?date={day}").get_data(as_text=True)
    assert "left" in page and "余 " not in page


def test_without_a_cache_every_visit_reads_the_database(app, client, world):
    slice_id, doctor_id, day = _day_of(app)
    client.get(f"/h5/booking/doctors/{doctor_id}?date={day}")
    _fill(app, slice_id)
    assert "约满" in client.get(f"/h5/booking/doctors/{doctor_id}?date={day}").get_data(as_text=True)


def test_the_cache_answers_repeat_visits_for_a_second_without_the_database(app, client, world, page_cache,
                                                                           statements):
    slice_id, doctor_id, day = _day_of(app)
    url = f"/h5/booking/doctors/{doctor_id}?date={day}"
    first = client.get(url).get_data(as_text=True)
    assert f"/h5/booking/slices/{slice_id}/confirm" in first and len(page_cache.data) == 1
    _fill(app, slice_id)
    seen = statements()
    again = client.get(url)
    assert again.status_code == 200 and again.get_data(as_text=True) == first and seen == []
    assert again.headers["Cache-Control"] == "private, no-store"  # still never kept by a shared proxy
    # another variant of the page (rebook link, language) is its own entry
    assert "rebook=3" in client.get(url + "&rebook=3").get_data(as_text=True) and len(page_cache.data) == 2
    # once the entry expires the page is read again and shows the slice full
    for key, (value, _until) in list(page_cache.data.items()):
        page_cache.data[key] = (value, 0)
    assert "约满" in client.get(url).get_data(as_text=True) and seen


def test_a_visitor_with_a_message_waiting_gets_a_fresh_page(app, client, world, page_cache):
    """A patient who lost a race comes back with "号源已被约满": never someone else's cached page."""
    slice_id, doctor_id, day = _day_of(app)
    url = f"/h5/booking/doctors/{doctor_id}?date={day}"
    client.get(url)
    _fill(app, slice_id)
    with client.session_transaction() as sess:
        sess["_flashes"] = [("error", "号源已被约满，请选择其他时段")]
    page = client.get(url).get_data(as_text=True)
    assert "号源已被约满" in page and "约满" in page and f"/h5/booking/slices/{slice_id}/confirm" not in page


def test_errors_and_missing_doctors_are_never_cached(app, client, world, page_cache):
    assert client.get("/h5/booking/doctors/999999").status_code == 404
    assert page_cache.data == {}


def test_a_dead_cache_only_costs_speed(app, client, world, page_cache):
    slice_id, doctor_id, day = _day_of(app)
    page_cache.down = True
    response = client.get(f"/h5/booking/doctors/{doctor_id}?date={day}")
    assert response.status_code == 200 and f"/h5/booking/slices/{slice_id}/confirm" in response.get_data(as_text=True)


@pytest.mark.skipif(not os.environ.get("TEST_REDIS_URL"), reason="Redis runs on CI (TEST_REDIS_URL)")
def test_the_cache_is_shared_through_redis(app, client, world):
    import redis

    url = os.environ["TEST_REDIS_URL"]
    app.config["SLOT_PAGE_CACHE_URL"] = url
    app.extensions.pop("page_cache", None)
    try:
        slice_id, doctor_id, day = _day_of(app)
        path = f"/h5/booking/doctors/{doctor_id}?date={day}&t={time.time_ns()}"
        first = client.get(path).get_data(as_text=True)
        _fill(app, slice_id)
        other = app.test_client()  # another visitor, same language: the same entry
        assert other.get(path).get_data(as_text=True) == first
        assert any(redis.Redis.from_url(url).scan_iter("h5page:*"))
    finally:
        app.config["SLOT_PAGE_CACHE_URL"] = ""
        app.extensions.pop("page_cache", None)


def test_a_stopped_session_shows_the_stop_and_no_slices(app, client, world):
    slice_id, doctor_id, day = _day_of(app)
    with app.app_context():
        schedule_id = db.session.get(ScheduleSlice, slice_id).schedule_id
        db.session.execute(update(Schedule).where(Schedule.id == schedule_id)
                           .values(status="stopped", stop_reason="专家外出会诊"))
        db.session.commit()
    page = client.get(f"/h5/booking/doctors/{doctor_id}?date={day}").get_data(as_text=True)
    assert "专家外出会诊" in page and f"/h5/booking/slices/{slice_id}/confirm" not in page


def test_the_department_tree_and_a_departments_day_are_cached_too(app, client, world, page_cache, statements):
    """The other two pages of a release morning: the tree (places left per department) and the
    doctors of a department's day; each variant is one entry, a message waiting bypasses it."""
    slice_id, doctor_id, day = _day_of(app)
    with app.app_context():
        department_id = db.session.get(ScheduleSlice, slice_id).schedule.department_id
    pages = ["/h5/booking", f"/h5/booking/departments/{department_id}?date={day}"]
    first = [client.get(path).get_data(as_text=True) for path in pages]
    assert f"/h5/booking/departments/{department_id}" in first[0] and f"/h5/booking/doctors/{doctor_id}" in first[1]
    assert len(page_cache.data) == 2
    seen = statements()
    assert [client.get(path).get_data(as_text=True) for path in pages] == first and seen == []
    with client.session_transaction() as sess:
        sess["_flashes"] = [("error", "号源已被约满，请选择其他时段")]
    assert "号源已被约满" in client.get(pages[1]).get_data(as_text=True) and seen
