"""Booking (挂号): the seeded HIS patients, an open slice to book, booking and paying through the sandbox
channel, reading an order back, and the HIS's signed events (停诊)."""

from __future__ import annotations

import datetime as dt
import json

import requests
from sqlalchemy import select

from app.extensions import db
from app.models import AppointmentOrder, ChannelUser, Department, Schedule, ScheduleSlice
from app.registration import commands as registration
from app.registration import rules as registration_rules
from app.payments import commands as payments
from app.services.signing import signed_headers
from doubles.his.simulator import generate_patients
from doubles.his.simulator.models import SliceRow
from tests import factories
from tests.factories import wait_for

SEEDED = generate_patients()
MOTHERS = [p for p in SEEDED if p.group == "mother"]
CHILDREN = [p for p in SEEDED if p.group == "child"]


def add_patient(owner, seeded, relation="self", default=True):
    return factories.patient(owner, name=seeded.name, id_number=seeded.id_number, card_no=seeded.card_no,
                             gender="female" if seeded.gender == "F" else "male", birth_date=seeded.birth_date,
                             relation=relation, is_default=default)


def find_slice(*, dept_codes=None, min_days=1, restricted=False, min_left=1) -> ScheduleSlice:
    """An open slice with places left, at least ``min_days`` ahead, in a department an adult woman may use."""
    now = registration_rules.hospital_now()
    dates = registration_rules.open_dates(now)
    q = (select(ScheduleSlice).join(Schedule).join(Department, Department.id == Schedule.department_id)
         .where(Schedule.status == "open", Schedule.fee_fen > 0,
                Schedule.clinic_date >= now.date() + dt.timedelta(days=min_days), Schedule.clinic_date <= dates[-1],
                ScheduleSlice.capacity - ScheduleSlice.booked >= min_left)
         .order_by(Schedule.clinic_date, ScheduleSlice.id))
    if dept_codes:
        q = q.where(Department.code.in_(dept_codes))
    elif not restricted:
        q = q.where(Department.max_age.is_(None), Department.min_age.is_(None))
    found = db.session.scalars(q).first()
    assert found is not None, "the seeded HIS has open slices in the window"
    return found


def book(owner_id, patient_id, slice_id):
    """Book and return plain values (usable after the app context ends)."""
    from types import SimpleNamespace

    r = registration.book(owner_id, patient_id, slice_id)
    return SimpleNamespace(id=r.order.id, order_no=r.order.order_no, pay=r.payment_order_no,
                           slice_id=r.order.slice_id, status=r.order.status)


def his_slice(his, his_slice_id):
    with his.unit() as s:
        row = s.get(SliceRow, his_slice_id)
        return row.capacity, row.remaining


def pay(app, live_server, sandbox, owner_id, payment_no):
    with app.app_context():
        user = db.session.get(ChannelUser, owner_id)
        start = payments.start_payment(payment_no, owner_id, user.channel_uid, f"{live_server}/h5/")
        if user.channel == "alipay":
            assert requests.get(start.redirect_url, timeout=10).status_code == 200
    assert sandbox.confirm_payment(user.channel, payment_no).delivered


def order_row(app, order_id) -> AppointmentOrder:
    with app.app_context():
        row = db.session.get(AppointmentOrder, order_id)
        db.session.expunge(row)
        return row


def post_event(client, app, event, nonce=None):
    body = json.dumps(event, ensure_ascii=False).encode()
    headers = signed_headers(app.config["HIS_EVENT_APP_ID"], app.config["HIS_EVENT_SECRET"], "POST",
                             "/api/his/v1/events", body, nonce=nonce)
    return client.post("/api/his/v1/events", data=body, headers=headers)


def stopped_and_refunded(app, client, world, live_server, sandbox):
    """A paid booking of ``world``'s mother whose session the HIS stopped (停诊); returns it once refunded."""
    with app.app_context():
        slc = find_slice(min_left=1)
        schedule_id = slc.schedule.his_schedule_id
        order = book(world["owner"], world["mother"], slc.id)
    pay(app, live_server, sandbox, world["owner"], order.pay)
    world["his"].stop_schedule(schedule_id, "医生外出会诊")
    event = {"event_id": "E-STOP", "type": "schedule_stopped", "schedule_id": schedule_id, "reason": "医生外出会诊"}
    assert post_event(client, app, event).status_code == 200
    assert wait_for(lambda: order_row(app, order.id).status == "refunded")
    return order
