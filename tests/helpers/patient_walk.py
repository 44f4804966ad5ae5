"""The walk of every patient (H5) page (tests/functional/test_patient_walk.py): the payment states the
walk's data stands in, the pages it does not open, and every URL it opens with every value it can take."""

from __future__ import annotations

from itertools import product

from sqlalchemy import select

from app import clock
from app.extensions import db
from app.models import (Department, Notification, Patient, PaymentOrder, Schedule, ScheduleSlice, ServiceInstruction,
                        Survey)
from app.registration import rules as registration_rules

IN_HOSPITAL_CARD = "8800000003"
BILLS_CARD = "8800000002"
STATES = ("created", "paying", "closed", "paid", "confirmed", "confirm_failed", "refunded")

#: pages the walk opens only by their redirect or not at all, and why
NOT_WALKED = {
    "h5.auth_callback": "needs a channel's one-time code (tests/functional/test_identity.py)",
    "h5.static": "files, not pages",
    "h5.switch_language": "a redirect back to the page (walked in English below)",
}


def distinct_slices(count: int) -> list[ScheduleSlice]:
    """Open slices with places in ``count`` different sessions, in departments any adult woman may use."""
    dates = registration_rules.open_dates()
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


def payment_states(app, made) -> dict[str, str]:
    with app.app_context():
        return {state: db.session.scalar(select(PaymentOrder.status).where(PaymentOrder.order_no == no))
                for state, (_, no) in made.items()}


def walk_values(app, data) -> dict[str, list]:
    """Every value each URL argument can take from the walk's data."""
    owner = data["owner"]
    orders = data["orders"]
    with app.app_context():
        patients = db.session.scalars(select(Patient.id).where(Patient.owner_id == owner)).all()
        slice_ids = [slc.id for slc in distinct_slices(1)]
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


def walk_urls(app, values) -> list[str]:
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
