"""The 孕产期 and 儿童保健 journeys: the rules, recording a pregnancy (and every bad date refused with
nothing changed), the plan with one-tap booking, reminders once and never in quiet hours, past 儿保
checks from the HIS, and the demo's mother at 24 weeks and baby due for the 6-month check on any day.
Every test sets the clock."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from app import clock
from app.extensions import db
from app.maternity import commands, queries, rules
from app.models import Notification, Pregnancy
from app.services import settings
from app.registration.commands import book
from app.services.errors import DomainError, Forbidden
from tests import factories

TEN_AM = dt.time(10, 0)


@pytest.fixture(autouse=True)
def _clock():
    """Today's date (the simulator's timetable is seeded for it) at a fixed hour outside quiet hours."""
    clock.freeze(dt.datetime.combine(clock.today(), TEN_AM))
    yield
    clock.reset()


# -- rules ---------------------------------------------------------------------------------------

def test_gestational_age_and_due_date():
    lmp = dt.date(2026, 3, 1)
    assert rules.due_from_lmp(lmp) == dt.date(2026, 12, 6)
    assert rules.lmp_from_due(dt.date(2026, 12, 6)) == lmp
    assert rules.gestational_age(lmp, dt.date(2026, 8, 19)) == (24, 3)
    assert rules.lmp_problem(dt.date(2026, 3, 2), dt.date(2026, 3, 1)) == "future"
    assert rules.lmp_problem(dt.date(2026, 3, 1) - dt.timedelta(weeks=44, days=1), dt.date(2026, 3, 1)) == "too_old"
    assert rules.lmp_problem(dt.date(2026, 3, 1) - dt.timedelta(weeks=44), dt.date(2026, 3, 1)) is None
    assert rules.due_problem(dt.date(2026, 2, 28), dt.date(2026, 3, 1)) == "past"


def test_the_national_plan_first_visit_by_13_plus_6_then_weekly_from_37():
    plan = rules.parse_prenatal_plan(rules.DEFAULT_PRENATAL_PLAN)
    schedule = rules.prenatal_schedule(dt.date(2026, 1, 1), plan)
    first = schedule[0]
    assert first.visit.name.startswith("首次产检")
    assert rules.gestational_age(dt.date(2026, 1, 1), first.closes) == (13, 6)
    weekly = [v for v in plan if v.start >= 37]
    assert [(v.start, v.end) for v in weekly] == [(37, 37), (38, 38), (39, 39), (40, 40), (41, 41)]
    with pytest.raises(rules.PlanError):
        rules.parse_prenatal_plan("20-50|bad|x")
    with pytest.raises(rules.PlanError):
        rules.parse_child_plan("six months|6 月龄|x")


def test_child_plan_by_age_with_month_ends():
    plan = rules.parse_child_plan(rules.DEFAULT_CHILD_PLAN)
    assert [v.key for v in plan][:11] == ["7d", "42d", "3m", "6m", "8m", "12m", "18m", "24m", "30m", "36m", "4y"]
    schedule = rules.child_schedule(dt.date(2026, 8, 31), plan)
    six = next(v for v in schedule if v.visit.key == "6m")
    assert six.due == dt.date(2027, 2, 28)  # no 31 February
    assert all(a.closes < b.opens for a, b in zip(schedule, schedule[1:], strict=False))
    assert rules.age_text(dt.date(2026, 8, 31), dt.date(2027, 3, 2)) == (0, 6, 2)


# -- recording a pregnancy -----------------------------------------------------------------------------

@pytest.mark.parametrize(("lmp", "due", "message"), [
    ("+1", None, "末次月经日期不能晚于今天"),
    ("-309", None, "末次月经日期距今已超过 44 周，请核对"),
    (None, "-1", "预产期不能早于今天"),
    (None, None, "请填写末次月经日期或预产期（二选一）"),
    ("-10", "+200", "请填写末次月经日期或预产期（二选一）"),
    ("2026-02-30", None, "日期格式不正确，请按 年-月-日 填写"),
])
def test_bad_dates_are_refused_and_nothing_changes(app, world, lmp, due, message):
    def day(offset):
        if offset is None or not offset.lstrip("+-").isdigit():
            return offset
        return (clock.today() + dt.timedelta(days=int(offset))).isoformat()

    with app.app_context():
        with pytest.raises(DomainError) as refused:
            commands.record_pregnancy(world["owner"], world["mother"], lmp=day(lmp), due=day(due))
        assert refused.value.message == message
        assert db.session.scalar(select(func.count()).select_from(Pregnancy)) == 0


def test_only_her_own_female_card(app, world):
    with app.app_context():
        with pytest.raises(Forbidden):
            commands.record_pregnancy(world["stranger"], world["mother"], lmp=clock.today().isoformat())
        child = db.session.get(__import__("app.models", fromlist=["Patient"]).Patient, world["child"])
        if child.gender == "male":
            with pytest.raises(DomainError):
                commands.record_pregnancy(world["owner"], world["child"], lmp=clock.today().isoformat())
        assert db.session.scalar(select(func.count()).select_from(Pregnancy)) == 0


def test_due_date_gives_the_lmp_and_the_week(app, world):
    with app.app_context():
        due = clock.today() + dt.timedelta(days=280 - 20 * 7 - 3)
        row = commands.record_pregnancy(world["owner"], world["mother"], due=due.isoformat())
        assert row.given == "edd" and row.lmp_date == due - dt.timedelta(days=280)
        journey = queries.pregnancy_journey(row.patient, clock.beijing_now())
        assert journey.weeks == (20, 3)


# -- the journey and one-tap booking --------------------------------------------------------------------

def _pregnant_at(app, world, weeks: int, days: int = 0):
    lmp = clock.today() - dt.timedelta(weeks=weeks, days=days)
    with app.app_context():
        commands.record_pregnancy(world["owner"], world["mother"], lmp=lmp.isoformat())
    return lmp


def test_journey_shows_the_due_visit_with_a_suitable_obstetric_slice_and_booking_it_arranges_it(app, world):
    _pregnant_at(app, world, 24)
    with app.app_context():
        patient = db.session.get(__import__("app.models", fromlist=["Patient"]).Patient, world["mother"])
        journey = queries.pregnancy_journey(patient, clock.beijing_now())
        assert journey.weeks == (24, 0)
        assert journey.next.scheduled.visit.key == "w20-24" and journey.next.state == "due"
        assert [v.state for v in journey.visits[:2]] == ["passed", "passed"]
        slc = journey.slice
        if slc is None:
            pytest.skip("the seeded 产科门诊 is full for the next six days")
        assert slc.schedule.department.code == "OB01"
        assert journey.next.scheduled.opens <= slc.schedule.clinic_date <= journey.next.scheduled.closes
        book(world["owner"], world["mother"], slc.id)
        again = queries.pregnancy_journey(patient, clock.beijing_now())
        arranged = next(v for v in again.visits if v.scheduled.visit.key == "w20-24")
        assert arranged.state == "arranged" and arranged.order is not None
        assert again.next.scheduled.visit.key == "w25-28"


# -- reminders -------------------------------------------------------------------------------------

def _notices(app, kind):
    with app.app_context():
        return list(db.session.scalars(select(Notification).where(Notification.kind == kind)))


def test_prenatal_reminder_once_a_few_days_before_and_never_in_quiet_hours(app, world):
    with app.app_context():  # the hospital's own plan (a setting): two visits
        settings.set_value("pregnancy.plan", "20-24|第 3 次产检|大排畸\n25-28|第 4 次产检|OGTT")
        db.session.commit()
    lmp = _pregnant_at(app, world, 19, 3)  # the 20-24 week visit opens in 4 days
    with app.app_context():
        settings.set_value("pregnancy.remind_days_before", "3")
        db.session.commit()
        assert commands.remind_prenatal_checks() == 0  # not yet: 3 days before
        clock.advance(dt.timedelta(days=1))
        assert commands.remind_prenatal_checks() == 1
        assert commands.remind_prenatal_checks() == 0  # once
    notice = _notices(app, "prenatal_reminder")[0]
    assert "第 3 次产检" in notice.body and notice.link == f"/h5/pregnancy?patient_id={world['mother']}"
    with app.app_context():  # the next visit, in quiet hours: nothing until they end
        clock.freeze(dt.datetime.combine(lmp + dt.timedelta(weeks=25), dt.time(23, 30)))
        assert commands.remind_prenatal_checks() == 0
        clock.freeze(dt.datetime.combine(lmp + dt.timedelta(weeks=25), dt.time(8, 30)))
        assert commands.remind_prenatal_checks() == 1


def test_child_reminder_and_past_checks_from_the_his(app, world):
    with app.app_context():
        from app.models import Patient

        child = db.session.get(Patient, world["child"])
        born = child.birth_date
        plan = queries.care_settings().child_plan
        upcoming = next(v for v in rules.child_schedule(born, plan) if v.visit.key == "6m")
        clock.freeze(dt.datetime.combine(upcoming.due - dt.timedelta(days=8), TEN_AM))  # the child at ~5 months
        assert queries.is_child(child, clock.today())
        assert commands.remind_child_checks() == 0
        clock.advance(dt.timedelta(days=1))
        assert commands.remind_child_checks() == 1
        assert commands.remind_child_checks() == 0
        checks = queries.past_child_checks(child)
        assert checks and all(c.check_date < clock.today() for c in checks)
    assert upcoming.visit.name in _notices(app, "child_health_reminder")[0].body


# -- the demo ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("offset_days", [0, 41])
def test_demo_mother_at_24_weeks_and_baby_due_for_6_months_on_any_day(app, ctx, his, offset_days):
    from doubles.demo.mothers import BABY_NAME
    from app.models import ChannelUser, Patient
    from doubles.demo.hospital import seed_demo

    seed_demo()
    if offset_days:  # a later seed moves the dates so that both still hold
        clock.freeze(dt.datetime.combine(clock.today() + dt.timedelta(days=offset_days), TEN_AM))
        seed_demo()
    user = db.session.scalar(select(ChannelUser).where(ChannelUser.channel_uid == "demo-patient-wechat"))
    mother = db.session.scalar(select(Patient).where(Patient.owner_id == user.id, Patient.relation == "self"))
    journey = queries.pregnancy_journey(mother, clock.beijing_now())
    assert journey.weeks == (24, 0)  # her next 产检 is due: open now, or its reminder is due
    assert rules.reminder_due(journey.next.scheduled, clock.today(), queries.care_settings().prenatal_remind_days)
    baby = db.session.scalar(select(Patient).where(Patient.owner_id == user.id, Patient.name == BABY_NAME,
                                                   Patient.status == "bound"))
    child = queries.child_journey(baby, clock.beijing_now())
    assert child.next.scheduled.visit.key == "6m" and child.next.state == "due"
    assert commands.remind_prenatal_checks() >= 1 and commands.remind_child_checks() >= 1
    assert settings  # settings module imported for the quiet-hours default


# -- the pages ---------------------------------------------------------------------------------------

def test_pages_record_show_and_refuse(app, world, client):
    from app.models import ChannelUser

    with app.app_context():
        factories.login(client, db.session.get(ChannelUser, world["owner"]))
    page = client.get("/h5/pregnancy")
    assert page.status_code == 200 and "data-pregnancy-form" in page.text
    future = (clock.today() + dt.timedelta(days=3)).isoformat()
    refused = client.post("/h5/pregnancy", data={"patient_id": world["mother"], "lmp_date": future})
    assert refused.status_code == 400 and "末次月经日期不能晚于今天" in refused.text
    lmp = (clock.today() - dt.timedelta(weeks=24)).isoformat()
    saved = client.post("/h5/pregnancy", data={"patient_id": world["mother"], "lmp_date": lmp})
    assert saved.status_code == 303
    page = client.get(f"/h5/pregnancy?patient_id={world['mother']}")
    assert "孕 24 周 0 天" in page.text and "data-plan" in page.text
    other = client.get(f"/h5/pregnancy?patient_id={world['other']}")
    assert other.status_code == 404
    child = client.get("/h5/child-health")
    assert child.status_code == 200
