"""Issue #8 done-when: an operator cancels a paid booking with a reason; the patient is refunded and told."""

from __future__ import annotations

from sqlalchemy import select

from app.extensions import db
from app.models import AppointmentOrder, AuditLog, Notification, PaymentOrder
from tests.factories import wait_for
from tests.helpers.booking import book, find_slice, pay


def test_service_desk_cancels_a_paid_booking_patient_refunded_and_notified(app, client, world, live_server,
                                                                            sandbox):
    from doubles.demo.hospital import seed_demo
    from tests.backoffice_helpers import login

    with app.app_context():
        seed_demo()
        result = book(world["owner"], world["mother"], find_slice().id)
    pay(app, live_server, sandbox, world["owner"], result.pay)
    with app.app_context():
        assert db.session.get(AppointmentOrder, result.id).status == "booked"
    login(client, "service")
    response = client.post(f"/appointmentorderview/cancel/{result.id}", data={"reason": "患者来电：孩子发热改期"},
                           follow_redirects=True)
    assert "订单已取消" in response.get_data(as_text=True)

    def state():
        with app.app_context():
            order = db.session.get(AppointmentOrder, result.id)
            payment = db.session.scalar(select(PaymentOrder).where(PaymentOrder.appointment_id == result.id))
            return order.status, payment.status

    assert wait_for(lambda: state() == ("refunded", "refunded"), timeout=15), state()
    with app.app_context():
        kinds = set(db.session.scalars(select(Notification.kind).where(Notification.owner_id == world["owner"])))
        assert "refund_success" in kinds
        audit = db.session.scalar(select(AuditLog).where(AuditLog.action == "booking.cancel"))
        assert audit.actor_name == "service" and "孩子发热改期" in audit.detail and audit.ip
