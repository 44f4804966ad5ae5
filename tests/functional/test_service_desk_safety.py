"""Service desk safety (issue 16 #8): cancelling a booking whose clinic is over asks for a deliberate
confirmation and says why; a refund the channel finally refuses is told to the patient."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from app import clock
from app.extensions import db
from app.models import AppointmentOrder, Notification, PaymentOrder
from app.registration.rules import clinic_is_over
from tests.backoffice_helpers import login, seed_staff_and_orders
from tests.money_helpers import his_post, paid_bill


def test_clinic_is_over_at_the_end_of_its_session():
    day = dt.date(2026, 11, 18)
    assert not clinic_is_over(day, "12:00", dt.datetime(2026, 11, 18, 11, 59))
    assert clinic_is_over(day, "12:00", dt.datetime(2026, 11, 18, 12, 0))
    assert clinic_is_over(day, "21:00", dt.datetime(2026, 11, 19, 0, 1))
    assert not clinic_is_over(day, "", dt.datetime(2026, 11, 18, 23, 0))


@pytest.fixture()
def booked(app, clean_db):
    seed_staff_and_orders(app, days=3, per_day=6)
    with app.app_context():
        order = db.session.scalar(select(AppointmentOrder).where(AppointmentOrder.status.in_(("visited", "no_show",
                                                                                                 "booked")))
                                  .order_by(AppointmentOrder.clinic_date))
        order.status = "booked"  # a booking of a past day that nobody marked
        db.session.commit()
        yield order.id, order.clinic_date
    clock.reset()


def test_cancelling_a_booking_whose_clinic_is_over_needs_a_confirmation(app, client, booked):
    pk, clinic_date = booked
    clock.freeze(dt.datetime.combine(clinic_date + dt.timedelta(days=1), dt.time(9, 0)))
    login(client, "service")
    form = client.get(f"/appointmentorderview/cancel/{pk}").get_data(as_text=True)
    assert 'data-test="clinic-over"' in form and "已过" in form
    refused = client.post(f"/appointmentorderview/cancel/{pk}", data={"reason": "患者来电要求取消"})
    page = refused.get_data(as_text=True)
    assert refused.status_code == 200 and "就诊时间已过，请勾选确认后再取消" in page
    assert "患者来电要求取消" in page  # what was typed is kept
    with app.app_context():
        assert db.session.get(AppointmentOrder, pk).status == "booked"
    done = client.post(f"/appointmentorderview/cancel/{pk}", data={"reason": "患者来电要求取消", "confirm_over": "y"})
    assert done.status_code == 302
    with app.app_context():
        assert db.session.get(AppointmentOrder, pk).status in ("cancelled", "refunded")


def test_a_booking_before_its_clinic_is_cancelled_without_the_extra_step(app, client, booked):
    pk, clinic_date = booked
    clock.freeze(dt.datetime.combine(clinic_date - dt.timedelta(days=1), dt.time(9, 0)))
    login(client, "service")
    assert 'data-test="clinic-over"' not in client.get(f"/appointmentorderview/cancel/{pk}").get_data(as_text=True)
    assert client.post(f"/appointmentorderview/cancel/{pk}", data={"reason": "患者来电要求取消"}).status_code == 302


def test_a_refund_the_channel_closes_is_told_to_the_patient(app, client, his, held, live_server):
    sandbox = held
    paid = paid_bill(app, client, his, sandbox)
    unit = {"bill_no": paid["bill"].bill_no, "items": [{"item_seq": 1, "quantity": 1}], "request_no": "SD-1"}
    refund = his_post(app, live_server, "/api/his/v1/refunds", unit).json()["data"]
    sandbox.refund_abnormal(refund["refund_no"])
    sandbox.refund_abnormal_resolved(refund["refund_no"], status="CLOSED")
    with app.app_context():
        owner = db.session.scalar(select(PaymentOrder.owner_id).where(PaymentOrder.order_no == paid["order_no"]))
        notice = db.session.scalar(select(Notification).where(
            Notification.dedupe_key == f"refund_failed:{refund['refund_no']}"))
        assert notice is not None and notice.owner_id == owner and notice.kind == "refund_failed"
        assert "未能原路退回" in notice.body and "无需再次申请" in notice.body
