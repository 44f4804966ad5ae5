"""Logs: one JSON line per event, a request id that follows a request into its tasks, the order
number on every payment line, and no personal data anywhere in a whole bind/book/pay/refund flow."""

from __future__ import annotations

import json
import logging
import threading

from huey import MemoryHuey

from app.extensions import db
from app.models import ChannelUser, Patient
from app.operations import logs, queue
from tests.factories import wait_for
from tests.helpers.booking import find_slice, order_row
from tests.identity_helpers import bind_form, sandbox_sign_in, seeded


def test_every_line_is_one_json_object_with_the_request_id_echoed(app, client, json_logs):
    response = client.get("/api/health/live", headers={"X-Request-ID": "rid-proxy-42"})
    assert response.headers["X-Request-ID"] == "rid-proxy-42"
    with app.test_request_context("/h5/x", headers={"X-Request-ID": "rid-proxy-43"}):
        app.preprocess_request()
        logging.getLogger("payments").info("payment paid order=GH2026120112000012345678 trade=T1 by=query")
    (line,) = [entry for entry in json_logs.lines if entry["logger"] == "payments"]
    assert line["request_id"] == "rid-proxy-43" and line["path"] == "/h5/x"
    assert line["order_no"] == "GH2026120112000012345678" and line["level"] == "INFO"
    assert line["time"].endswith("Z")


def test_a_hostile_request_id_is_replaced(client):
    response = client.get("/api/health/live", headers={"X-Request-ID": "x\" onload=alert(1) " + "a" * 80})
    rid = response.headers["X-Request-ID"]
    assert rid and '"' not in rid and len(rid) <= 64


def test_phones_and_id_numbers_are_masked_even_if_a_message_carries_them(json_logs):
    logging.getLogger("anything").warning("card 440104199003071234 phone 13912345678 order=YY2026120100000000000001")
    (line,) = json_logs.lines
    assert "440104199003071234" not in json_logs.text and "13912345678" not in json_logs.text
    assert "440104********1234" in line["message"] and "139****5678" in line["message"]


def test_the_request_id_travels_with_a_task_through_the_queue_to_another_thread(app, json_logs):
    """A real queue (not run inline): enqueued under a request id, executed by a 'consumer' thread."""
    from app.tasks import app_context_task

    huey = MemoryHuey("ops-test", results=False)
    queue.install(huey)
    seen: dict = {}

    @huey.task()
    @app_context_task
    def confirm_something(order_no: str) -> None:
        seen["rid"] = logs.current_request_id()
        seen["task"] = logs.task_var.get()
        logging.getLogger("payments").info("payment confirmed order=%s", order_no)

    with logs.bound("rid-notify-7"):
        confirm_something("GH2026120112000012345679")
    assert logs.current_request_id() is None

    def consumer() -> None:
        task = huey.dequeue()
        huey.execute(task)

    worker = threading.Thread(target=consumer)
    worker.start()
    worker.join(10)
    assert seen == {"rid": "rid-notify-7", "task": "confirm_something"}
    line = next(entry for entry in json_logs.lines if entry["message"].startswith("payment confirmed"))
    assert line["request_id"] == "rid-notify-7" and line["task"] == "confirm_something"
    assert line["order_no"] == "GH2026120112000012345679"


def test_a_whole_flow_logs_no_personal_data_and_every_payment_line_names_its_order(
        app, client, his, live_server, sandbox, json_logs):
    """Sign in, bind a mother and her child, book through the H5 page, pay in the sandbox (the channel's
    notification and the HIS confirmation run as tasks), cancel and be refunded. Then read every line."""
    mother, child = seeded("mother", 3), seeded("child", 3)
    sandbox_sign_in(client)
    assert client.post("/h5/patients/new", data=bind_form(mother)).status_code == 302
    assert client.post("/h5/patients/new", data=bind_form(
        child, relation="child", with_card=False, guardian_name=mother.name,
        guardian_id_number=mother.id_number)).status_code == 302
    from app.registration import schedules

    with app.app_context():
        schedules.sync_from_his()
        patient = db.session.scalar(db.select(Patient).where(Patient.id_number == mother.id_number))
        owner = db.session.get(ChannelUser, patient.owner_id)
        slc = find_slice()
        slice_id, patient_id, owner_id = slc.id, patient.id, owner.id
    booked = client.post(f"/h5/booking/slices/{slice_id}/confirm", data={"patient_id": patient_id},
                         headers={"X-Request-ID": "rid-booking-1"})
    assert booked.status_code == 303 and "/h5/pay/" in booked.headers["Location"]
    payment_no = booked.headers["Location"].rstrip("/").split("/")[-1]
    from tests.helpers.booking import pay

    pay(app, live_server, sandbox, owner_id, payment_no)
    with app.app_context():
        from app.models import AppointmentOrder

        order = db.session.scalar(db.select(AppointmentOrder).where(AppointmentOrder.patient_id == patient_id))
        order_id = order.id
    assert wait_for(lambda: order_row(app, order_id).status == "booked")
    cancelled = client.post(f"/h5/booking/orders/{order_id}/cancel", data={"reason": "行程有变"})
    assert cancelled.status_code == 303
    assert wait_for(lambda: order_row(app, order_id).status == "refunded")

    text = json_logs.text
    lines = json_logs.lines
    assert len(lines) > 10 and all(isinstance(entry, dict) for entry in lines)
    for secret in (mother.name, child.name, mother.id_number, child.id_number, mother.phone, child.phone):
        if secret:
            assert secret not in text, f"personal data in the logs: {secret}"
    payment_lines = [entry for entry in lines if entry["logger"] == "payments"]
    assert payment_lines and all(entry.get("order_no") for entry in payment_lines), \
        [entry["message"] for entry in payment_lines if not entry.get("order_no")]
    booking_line = next(e for e in lines if e["message"].startswith("booking held"))
    assert booking_line["request_id"] == "rid-booking-1" and booking_line["order_no"]
    # the HIS confirmation ran as a task (the outbox row the notification wrote) under its request id
    confirmed = next(e for e in lines if e["message"].startswith("payment confirmed") and e["order_no"] == payment_no)
    applied = next(e for e in lines if "notification order=" in e["message"] and e["order_no"] == payment_no)
    assert confirmed.get("task") == "run_outbox_task" and confirmed["request_id"] == applied["request_id"]
    json.dumps(lines)  # every line is plain JSON
