"""The HIS refund API (POST /api/his/v1/refunds, GET /api/his/v1/refunds/<request_no>) driven with
valid, replayed, expired, forged and tampered requests, full and partial by item, never beyond what
was paid; the money goes back through the sandbox channel and the patient is told."""

from __future__ import annotations

import json
import time

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import BillPayment, Notification, PaymentOrder, Refund, RefundItem
from app.services.signing import signed_headers
from tests import factories
from tests.factories import wait_for
from tests.helpers.bills import ONE_BILL_CARD, TWO_BILL_CARD, account, load, login, open_and_pay

PATH = "/api/his/v1/refunds"


def signed_post(app, client, payload, **sign):
    return factories.his_signed_post(app, client, PATH, payload, **sign)


def signed_get(app, client, request_no, *, secret=None):
    return factories.his_signed_get(app, client, f"{PATH}/{request_no}", secret=secret)


@pytest.fixture()
def paid(app, client, his, sandbox):
    """A confirmed outpatient payment of the two bills of TWO_BILL_CARD; returns what the HIS would know."""
    acc = account(app, TWO_BILL_CARD)
    login(app, client, acc["user"])
    bills = his.pending_bills(TWO_BILL_CARD)
    order_no = open_and_pay(app, client, sandbox, acc, bills)
    assert load(app, order_no).status == "confirmed"
    return {"order_no": order_no, "bills": bills, "user": acc["user"]}


def refunds(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Refund))


def test_full_refund_of_a_bill_goes_back_through_the_channel(app, client, paid):
    bill = paid["bills"][0]
    response, _, _ = signed_post(app, client, {"request_no": "HISRF-0001", "bill_no": bill.bill_no,
                                               "reason": "患者退药"})
    assert response.status_code == 201, response.get_json()
    data = response.get_json()["data"]
    assert data["request_no"] == "HISRF-0001" and data["order_no"] == paid["order_no"]
    assert data["amount_fen"] == bill.amount_fen and data["bill_no"] == bill.bill_no
    assert [i["quantity"] for i in data["items"]] == [i.quantity for i in bill.items]
    assert wait_for(lambda: signed_get(app, client, "HISRF-0001").get_json()["data"]["status"] == "success")
    order = load(app, paid["order_no"])
    assert order.status == "partially_refunded" and order.refunded_fen == bill.amount_fen
    with app.app_context():
        notice = db.session.scalar(select(Notification).where(Notification.kind == "refund_success",
                                                              Notification.owner_id == paid["user"]))
        assert notice is not None and "患者退药" in notice.body
    detail = client.get(f"/h5/bills/orders/{paid['order_no']}").get_data(as_text=True)
    assert "患者退药" in detail and "已退回" in detail


def test_partial_refund_by_item_and_never_beyond_what_was_paid(app, client, paid):
    bill = max(paid["bills"], key=lambda b: len(b.items))
    item = bill.items[0]
    one = {"request_no": "HISRF-0002", "bill_no": bill.bill_no, "items": [{"item_seq": 1, "quantity": 1}],
           "amount_fen": item.unit_price_fen}
    response, _, _ = signed_post(app, client, one)
    assert response.status_code == 201 and response.get_json()["data"]["amount_fen"] == item.unit_price_fen
    # more of item 1 than is left
    too_many = {"request_no": "HISRF-0003", "bill_no": bill.bill_no,
                "items": [{"item_seq": 1, "quantity": item.quantity}]}
    response, _, _ = signed_post(app, client, too_many)
    assert response.status_code == 409 and response.get_json()["code"] == "exceeds_paid"
    # an item the bill does not have
    response, _, _ = signed_post(app, client, {"request_no": "HISRF-0004", "bill_no": bill.bill_no,
                                               "items": [{"item_seq": 99, "quantity": 1}]})
    assert response.status_code == 400 and response.get_json()["code"] == "invalid_request"
    # an amount that does not match the items
    other = next(b for b in paid["bills"] if b.bill_no != bill.bill_no)
    response, _, _ = signed_post(app, client, {"request_no": "HISRF-0005", "bill_no": other.bill_no,
                                               "items": [{"item_seq": 1, "quantity": 1}], "amount_fen": 1})
    assert response.status_code == 409 and response.get_json()["code"] == "amount_mismatch"
    # the rest of the bill, then nothing is left
    response, _, _ = signed_post(app, client, {"request_no": "HISRF-0006", "bill_no": bill.bill_no})
    assert response.status_code == 201
    assert response.get_json()["data"]["amount_fen"] == bill.amount_fen - item.unit_price_fen
    response, _, _ = signed_post(app, client, {"request_no": "HISRF-0007", "bill_no": bill.bill_no})
    assert response.status_code == 409 and response.get_json()["code"] == "exceeds_paid"
    with app.app_context():
        refunded = db.session.scalar(select(func.sum(RefundItem.amount_fen)).where(RefundItem.bill_no == bill.bill_no))
        order = db.session.scalar(select(PaymentOrder).where(PaymentOrder.order_no == paid["order_no"]))
    assert refunded == bill.amount_fen and order.refunded_fen == bill.amount_fen


def test_same_request_no_again_answers_the_first_refund(app, client, paid):
    bill = paid["bills"][0]
    payload = {"request_no": "HISRF-0010", "bill_no": bill.bill_no, "items": [{"item_seq": 1, "quantity": 1}]}
    first, _, _ = signed_post(app, client, payload)
    again, _, _ = signed_post(app, client, payload)  # the HIS retried after a timeout: new nonce, same number
    assert first.status_code == 201 and again.status_code == 200
    assert first.get_json()["data"]["refund_no"] == again.get_json()["data"]["refund_no"]
    assert refunds(app) == 1
    other = dict(payload, items=[{"item_seq": 1, "quantity": 1}], bill_no=paid["bills"][1].bill_no)
    conflict, _, _ = signed_post(app, client, other)
    assert conflict.status_code == 409 and conflict.get_json()["code"] == "request_conflict"
    assert refunds(app) == 1


def test_replayed_request_is_refused_and_changes_nothing(app, client, paid):
    payload = {"request_no": "HISRF-0020", "bill_no": paid["bills"][0].bill_no}
    first, headers, body = signed_post(app, client, payload)
    assert first.status_code == 201
    replay = client.post(PATH, data=body, headers=headers)
    assert replay.status_code == 401 and replay.get_json() == {"code": "unauthorized", "message": "replayed nonce"}
    assert refunds(app) == 1


def test_expired_forged_and_tampered_requests_are_refused(app, client, paid):
    bill = paid["bills"][0]
    payload = {"request_no": "HISRF-0030", "bill_no": bill.bill_no}
    expired, _, _ = signed_post(app, client, payload, timestamp=int(time.time()) - 301)
    assert expired.status_code == 401 and "window" in expired.get_json()["message"]
    forged, _, _ = signed_post(app, client, payload, secret="not-the-hospital")
    assert forged.status_code == 401 and forged.get_json()["message"] == "bad signature"
    body = json.dumps({"request_no": "HISRF-0031", "bill_no": bill.bill_no, "items": [{"item_seq": 1,
                                                                                        "quantity": 1}]}).encode()
    headers = signed_headers(app.config["HIS_EVENT_APP_ID"], app.config["HIS_EVENT_SECRET"], "POST", PATH, body)
    tampered = client.post(PATH, data=body.replace(b'"quantity": 1', b'"quantity": 2'), headers=headers)
    assert tampered.status_code == 401
    unsigned = client.post(PATH, json=payload)
    assert unsigned.status_code == 401
    assert signed_get(app, client, "HISRF-0030", secret="not-the-hospital").status_code == 401
    assert refunds(app) == 0 and load(app, paid["order_no"]).refunded_fen == 0


@pytest.mark.parametrize("payload, code", [
    ([1, 2], "invalid_request"),
    ({"bill_no": "B1"}, "invalid_request"),
    ({"request_no": "bad no!", "bill_no": "B1"}, "invalid_request"),
    ({"request_no": "R1", "bill_no": "B1", "amount_fen": "9.80"}, "invalid_request"),
    ({"request_no": "R1", "bill_no": "B1", "items": []}, "invalid_request"),
    ({"request_no": "R1", "bill_no": "B1", "items": [{"item_seq": 1, "quantity": 0}]}, "invalid_request"),
    ({"request_no": "R1", "bill_no": "B1", "items": [{"item_seq": 1, "quantity": 1}] * 2}, "invalid_request"),
    ({"request_no": "R1", "bill_no": "B-NEVER-PAID"}, "not_found"),
])
def test_bad_bodies_are_refused_with_a_stable_code(app, client, his, payload, code):
    response, _, _ = signed_post(app, client, payload)
    assert response.status_code in (400, 404) and response.get_json()["code"] == code
    assert refunds(app) == 0


def test_not_json_is_refused(app, client, his):
    response, _, _ = signed_post(app, client, None, raw=b"request_no=1")
    assert response.status_code == 400 and response.get_json()["code"] == "invalid_request"


def test_a_bill_only_pending_in_the_platform_cannot_be_refunded(app, client, his):
    """A bill in an unpaid order has no settlement: nothing to refund."""
    acc = account(app, ONE_BILL_CARD)
    login(app, client, acc["user"])
    (bill,) = his.pending_bills(ONE_BILL_CARD)
    client.post("/h5/bills/pay", data={"patient_id": acc["patient"], "bill_no": bill.bill_no})
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(BillPayment)) == 1
    response, _, _ = signed_post(app, client, {"request_no": "HISRF-0040", "bill_no": bill.bill_no})
    assert response.status_code == 404 and response.get_json()["code"] == "not_found"


def test_status_of_an_unknown_request_is_404(app, client, his):
    response = signed_get(app, client, "HISRF-NOPE")
    assert response.status_code == 404 and response.get_json()["code"] == "not_found"


def test_inbound_api_is_documented_in_the_openapi_file(app):
    import re
    from pathlib import Path

    import yaml

    spec = yaml.safe_load((Path(__file__).resolve().parents[2] / "docs" / "his-openapi.yaml").read_text("utf-8"))
    documented = {(path, m) for path, ops in spec["paths"].items() if path.startswith("/api/his/v1")
                  for m in ops if m in ("get", "post")}
    served = {(re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule), m.lower()) for rule in app.url_map.iter_rules()
              if rule.endpoint.startswith("his_api.") for m in rule.methods or () if m in ("GET", "POST")}
    assert documented == served
