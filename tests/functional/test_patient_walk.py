"""A walk of every patient (H5) page, as a patient with data in every state sees it (issue 13).

One account holds a mother, her child, a woman in hospital and a card with unpaid bills; registration
payments stand in every state (created, paying, closed, paid, confirmed, confirm_failed, refunded).
Every GET page of the H5 blueprint is opened with every value its URL can take from that data; a new
page whose URL the walk cannot fill fails the test, so it is walked too. A page fails the walk on a
5xx, "None" shown as a value, an object's repr, English on a zh_CN page, or a time in UTC.

The clock is moved to the next 07:13 in Beijing (23:13 UTC the day before): every timestamp written during
the walk is then between 23:13 and 23:59 in UTC, which no page may show.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from itertools import product

import pytest
from sqlalchemy import select, update

from app import clock
from app.extensions import db
from app.models import (AppointmentOrder, ChannelUser, Department, Notification, Patient, PaymentOrder, Schedule,
                        ScheduleSlice, ServiceInstruction, Survey)
from app.payments import commands as payments
from app.registration.commands import book, cancel_by_patient
from app.registration.rules import open_dates
from app.services.content import offer_survey
from tests import factories
from tests.functional.test_booking import CHILDREN, MOTHERS, SEEDED, add_patient, pay

IN_HOSPITAL_CARD = "8800000003"
BILLS_CARD = "8800000002"
STATES = ("created", "paying", "closed", "paid", "confirmed", "confirm_failed", "refunded")

#: pages the walk opens only by their redirect or not at all, and why
NOT_WALKED = {
    "h5.auth_callback": "needs a channel's one-time code (tests/functional/test_identity.py)",
    "h5.static": "files, not pages",
    "h5.switch_language": "a redirect back to the page (walked in English below)",
}
#: English a zh_CN page may show: brand and unit names, the language switch
ENGLISH_ALLOWED = {"EN", "WeUI", "PDF", "HIS", "ID", "No", "OK", "kg", "cm", "mmHg", "mmol", "umol", "Hb", "HCG",
                   "WBC", "RBC", "PLT", "HGB", "NST", "B", "CT", "DR", "TSH", "ALT", "AST", "GLU", "CRP", "HPV",
                   "mg", "ml", "mL", "L", "g", "U", "IU", "pg", "fL", "mIU", "ng", "nmol", "pmol", "min", "bpm",
                   "dL", "A", "V", "X"}


def _distinct_slices(count: int) -> list[ScheduleSlice]:
    """Open slices with places in ``count`` different sessions, in departments any adult woman may use."""
    dates = open_dates()
    rows = db.session.scalars(
        select(ScheduleSlice).join(Schedule).join(Department, Department.id == Schedule.department_id)
        .where(Schedule.status == "open", Schedule.fee_fen > 0, Schedule.clinic_date > clock.today(),
               Schedule.clinic_date <= dates[-1], ScheduleSlice.capacity - ScheduleSlice.booked >= 1,
               Department.max_age.is_(None), Department.min_age.is_(None), Department.allowed_gender.is_(None))
        .order_by(Schedule.clinic_date, ScheduleSlice.id)).all()
    picked, sessions = [], set()
    for slc in rows:
        if slc.schedule_id not in sessions:
            sessions.add(slc.schedule_id)
            picked.append(slc)
        if len(picked) == count:
            return picked
    raise AssertionError("the seeded HIS has enough open sessions")


@pytest.fixture()
def walk_data(app, clean_db, his, live_server, sandbox):
    # the next 07:13 in Beijing, never in the past: pages and the sandbox channel alike must see a
    # payment deadline still ahead, whatever the hour the suite runs at
    target = dt.datetime.combine(clock.today(), dt.time(7, 13))
    clock.travel(target if target > clock.beijing_now() else target + dt.timedelta(days=1))
    since = clock.utcnow()
    try:
        with app.app_context():
            from doubles.demo.hospital import seed_demo

            seed_demo()
            user = factories.channel_user("wechat", nickname="走查患者")
            by_card = {p.card_no: p for p in SEEDED}
            add_patient(user, by_card[IN_HOSPITAL_CARD], relation="other", default=False)
            third = add_patient(user, by_card[BILLS_CARD], relation="other", default=False)
            mother, second = (add_patient(user, m, relation=r, default=d) for m, r, d in zip(
                [m for m in MOTHERS if m.card_no not in (IN_HOSPITAL_CARD, BILLS_CARD)][:2],
                ("self", "other"), (True, False), strict=True))
            add_patient(user, next(c for c in CHILDREN if c.card_no not in (IN_HOSPITAL_CARD, BILLS_CARD)),
                        relation="child", default=False)
            db.session.commit()
            slices = _distinct_slices(7)
            owner_id, owner_uid = user.id, user.channel_uid
            made = {}
            for state, slc, patient in zip(STATES, slices, (mother, mother, second, second, mother, second, third),
                                           strict=True):
                result = book(owner_id, patient.id, slc.id)
                made[state] = (result.order.id, result.payment_order_no)
            assert offer_survey(owner_id, "visit", made["confirmed"][1])
            bills_patient = third.id
            db.session.commit()
        # each payment into its state: through the channel where the sandbox can, else as it would stand
        for state in ("confirmed", "refunded"):
            pay(app, live_server, sandbox, owner_id, made[state][1])
        with app.app_context():
            cancel_by_patient(owner_id, made["refunded"][0], "行程有变")
            cancel_by_patient(owner_id, made["closed"][0], "")
            payments.start_payment(made["paying"][1], owner_id, owner_uid, f"{live_server}/h5/")
            for state, appointment in (("paid", "paid"), ("confirm_failed", "failed")):
                order_id, order_no = made[state]
                db.session.execute(update(PaymentOrder).where(PaymentOrder.order_no == order_no).values(
                    status=state, paid_at=clock.utcnow(), channel_trade_no=f"42000{order_id:012d}",
                    his_error="医院系统未能确认" if state == "confirm_failed" else None))
                db.session.execute(update(AppointmentOrder).where(AppointmentOrder.id == order_id)
                                   .values(status=appointment, paid_at=clock.utcnow()))
            db.session.commit()
        assert factories.wait_for(lambda: _payment_states(app, made) == {s: s for s in STATES}, timeout=20), \
            _payment_states(app, made)
        # an outpatient payment of the bills patient, opened from 门诊缴费 and left unpaid
        with app.app_context():
            from app.billing import bills as billing
            from app.services.his_access import his_gateway

            bills = his_gateway().pending_bills(BILLS_CARD)
            outpatient = billing.create_bill_payment(owner_id, bills_patient, [b.bill_no for b in bills],
                                                     sum(b.amount_fen for b in bills), "wechat").order_no
        yield {"owner": owner_id, "orders": made, "since": since, "outpatient": outpatient}
    finally:
        clock.reset()


def _payment_states(app, made) -> dict[str, str]:
    with app.app_context():
        return {state: db.session.scalar(select(PaymentOrder.status).where(PaymentOrder.order_no == no))
                for state, (_, no) in made.items()}


def _values(app, data) -> dict[str, list]:
    """Every value each URL argument can take from the walk's data."""
    owner = data["owner"]
    orders = data["orders"]
    with app.app_context():
        patients = db.session.scalars(select(Patient.id).where(Patient.owner_id == owner)).all()
        slice_ids = [slc.id for slc in _distinct_slices(1)]
        schedule = db.session.get(ScheduleSlice, slice_ids[0]).schedule
        from app.services.his_access import his_gateway

        his = his_gateway()
        bills = [b.bill_no for b in his.pending_bills(BILLS_CARD)][:2]
        cards = db.session.scalars(select(Patient.card_no).where(Patient.owner_id == owner)).all()
        reports = [r.report_id for card in cards for r in his.list_reports(card)][:4]
        return {
            "order_id": [order_id for order_id, _ in orders.values()],
            "order_no": [order_no for _, order_no in orders.values()] + [data["outpatient"]],
            "notice_id": db.session.scalars(select(Notification.id).where(Notification.owner_id == owner)).all(),
            "patient_id": patients,
            "survey_id": db.session.scalars(select(Survey.id)).all(),
            "department_id": [schedule.department_id, schedule.department.parent_id or schedule.department_id],
            "doctor_id": [schedule.doctor_id],
            "slice_id": slice_ids,
            "schedule_id": [schedule.id],
            "bill_no": bills,
            "report_id": reports,
            "slug": db.session.scalars(select(ServiceInstruction.slug)).all(),
            "channel": ["wechat"],
            "_days": [schedule.clinic_date.isoformat(), clock.today().isoformat()],
        }


def _urls(app, values) -> list[str]:
    from flask import url_for

    urls, unknown = [], []
    with app.test_request_context("/"):
        for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
            if not rule.endpoint.startswith("h5.") or "GET" not in rule.methods or rule.endpoint in NOT_WALKED:
                continue
            args = sorted(rule.arguments)
            if any(a not in values or a.startswith("_") for a in args):
                unknown.append(rule.rule)
                continue
            for combo in product(*(values[a] for a in args)):
                urls.append(url_for(rule.endpoint, **dict(zip(args, combo, strict=True))))
        # the pages that choose a patient by a query argument, for each patient
        for endpoint, key in (("h5.bills", "patient_id"), ("h5.inpatient", "patient_id"),
                              ("h5.deposit_topup", "patient_id"), ("h5.deposit_records", "patient_id"),
                              ("h5.daily_costs", "patient_id"), ("h5.total_cost", "patient_id"),
                              ("h5.pregnancy", "patient_id"), ("h5.child_health", "patient_id"),
                              ("h5.reports", "patient"), ("h5.queue", "patient")):
            for patient_id in values["patient_id"]:
                urls.append(url_for(endpoint, **{key: patient_id}))
        for survey_id in values["survey_id"]:
            urls.extend(url_for("h5.survey", survey_id=survey_id, subject=no) for no in values["order_no"])
        for report_id in values["report_id"]:
            urls.extend(url_for("h5.report_detail", report_id=report_id, patient=p) for p in values["patient_id"])
        for day in values["_days"]:
            urls.extend(url_for("h5.booking_doctor", doctor_id=d, date=day) for d in values["doctor_id"])
            urls.extend(url_for("h5.booking_department", department_id=d, date=day) for d in values["department_id"])
        for bill_no in values["bill_no"]:
            urls.extend(url_for("h5.bill_detail", bill_no=bill_no, patient_id=p) for p in values["patient_id"])
        for state in ("all", "pending", "booked", "done"):
            urls.append(url_for("h5.booking_orders", state=state))
    assert not unknown, f"the walk cannot fill these pages' URLs; give it values: {unknown}"
    return urls


def _visible_text(page: str) -> str:
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S | re.I)
    page = re.sub(r"<[^>]+>", " ", page)
    return html.unescape(page)


def _utc_clock_times(start_utc: dt.datetime, end_utc: dt.datetime) -> set[str]:
    """Every HH:MM the UTC clock showed during the walk (one minute of margin)."""
    shown, moment = set(), start_utc.replace(second=0, microsecond=0) - dt.timedelta(minutes=1)
    while moment <= end_utc + dt.timedelta(minutes=1):
        shown.add(moment.strftime("%H:%M"))
        moment += dt.timedelta(minutes=1)
    return shown


def _problems(url: str, response, utc_times: set[str], english_page: bool = False) -> list[str]:
    found = []
    if response.status_code >= 500:
        return [f"{url}: {response.status_code}"]
    if response.status_code != 200 or "text/html" not in response.content_type:
        return []
    page = response.get_data(as_text=True)
    text = _visible_text(page)
    if re.search(r"\bNone\b", text):
        found.append(f"{url}: shows None: …{text[max(0, text.find('None') - 60):text.find('None') + 20]!r}")
    if re.search(r"object at 0x[0-9a-f]+", page) or re.search(r"<\w+(\.\w+)+ object", text):
        found.append(f"{url}: shows an object's repr")
    for hhmm in utc_times:
        if re.search(rf"(?<![\d:]){hhmm}(?![\d])", text):
            found.append(f"{url}: shows the UTC time {hhmm}")
    if not english_page:
        words = {w for w in re.findall(r"(?<![A-Za-z0-9])[A-Za-z]{2,}(?![A-Za-z0-9])", text)
                 if w not in ENGLISH_ALLOWED}
        if words:
            found.append(f"{url}: English on a zh_CN page: {sorted(words)[:12]}")
    return found


def test_every_patient_page_in_every_state(app, client, walk_data):
    with app.app_context():
        factories.login(client, db.session.get(ChannelUser, walk_data["owner"]))
    urls = _urls(app, _values(app, walk_data))
    for state, (_, order_no) in walk_data["orders"].items():  # each payment state is among the walked pages
        assert f"/h5/pay/{order_no}/result" in urls, state
    responses = []
    for url in urls:
        responses.append((url, client.get(url)))
    utc_times = _utc_clock_times(walk_data["since"], clock.utcnow())
    problems = [p for url, response in responses for p in _problems(url, response, utc_times)]
    assert problems == [], "\n".join(problems)
    # the payment pages say something for every state (no blank result page)
    for state, (_, order_no) in walk_data["orders"].items():
        result = client.get(f"/h5/pay/{order_no}/result")
        assert result.status_code == 200 and "weui-msg__title" in result.get_data(as_text=True), state


def test_the_english_pages_walk_too(app, client, walk_data):
    """The same walk in English: no 5xx, no None, no repr, no UTC time (Chinese names may show)."""
    with app.app_context():
        factories.login(client, db.session.get(ChannelUser, walk_data["owner"]))
    client.get("/h5/lang/en")
    urls = _urls(app, _values(app, walk_data))
    responses = [(url, client.get(url)) for url in urls]
    utc_times = _utc_clock_times(walk_data["since"], clock.utcnow())
    problems = [p for url, response in responses for p in _problems(url, response, utc_times, english_page=True)]
    assert problems == [], "\n".join(problems)


def test_the_walk_sees_what_users_see():
    """The walk's eyes: each thing it must catch is caught (a walk that cannot fail is no walk)."""
    from werkzeug.wrappers import Response

    def page(body: str, status: int = 200) -> Response:
        return Response(f"<html><body><main>{body}</main><script>var x = 'English None';</script></body></html>",
                        status=status, content_type="text/html; charset=utf-8")

    utc = {"23:13"}
    assert _problems("/ok", page("预约成功 ¥12.50 07:13 YY20261202071300 EN"), utc) == []
    assert _problems("/500", page("出错了", 500), utc) == ["/500: 500"]
    assert "shows None" in _problems("/none", page("就诊卡 None"), utc)[0]
    assert "repr" in _problems("/repr", page("&lt;app.models.operations.SurveyQuestion object at 0x7f3a&gt;"), utc)[0]
    assert "English" in _problems("/en", page("Show Survey 满意度调查"), utc)[0]
    assert "UTC time 23:13" in _problems("/utc", page("下单时间 2026-12-01 23:13"), utc)[0]
    assert _problems("/en-page", page("Show Survey"), utc, english_page=True) == []
