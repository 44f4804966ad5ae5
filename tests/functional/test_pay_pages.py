"""The H5 cashier hand-off pages: ownership, start, and a result that asks the channel."""

from __future__ import annotations

import pytest
import requests

from app.extensions import db
from app.services import payments
from tests import factories
from tests.functional.test_payments import FakeKind


@pytest.fixture()
def order(app, live_server, clean_db, monkeypatch):
    monkeypatch.setitem(payments._KINDS, "outpatient", FakeKind())
    with app.app_context():
        owner = factories.channel_user("wechat")
        stranger = factories.channel_user("wechat")
        patient = factories.patient(owner)
        order = payments.create_payment_order(kind="outpatient", owner_id=owner.id, patient_id=patient.id,
                                              channel="wechat", amount_fen=1250, description="门诊缴费（西药）",
                                              actor="test")
        db.session.commit()
        return {"order_no": order.order_no, "owner": owner.id, "stranger": stranger.id}


def _login(app, client, user_id):
    with app.app_context():
        from app.models import ChannelUser

        factories.login(client, db.session.get(ChannelUser, user_id))


def test_another_account_gets_404_on_every_pay_page(app, client, order):
    _login(app, client, order["stranger"])
    for path in ("", "/result", "/status"):
        assert client.get(f"/h5/pay/{order['order_no']}{path}").status_code == 404
    assert client.post(f"/h5/pay/{order['order_no']}").status_code == 404


def test_pay_page_shows_amount_and_sends_to_the_sandbox_cashier(app, client, order, sandbox):
    _login(app, client, order["owner"])
    page = client.get(f"/h5/pay/{order['order_no']}").get_data(as_text=True)
    assert "12.50" in page and "门诊缴费（西药）" in page
    response = client.post(f"/h5/pay/{order['order_no']}")
    assert response.status_code == 303 and "/sandbox/wechatpay/" in response.headers["Location"]
    # the patient pays in the cashier; the result page then shows the HIS-confirmed state and guidance
    cashier = requests.get(response.headers["Location"], timeout=10)
    assert cashier.status_code == 200
    sandbox.confirm_payment("wechat", order["order_no"])
    result = client.get(f"/h5/pay/{order['order_no']}/result").get_data(as_text=True)
    assert "支付成功" in result and "请到二楼西药房取药" in result
    assert client.get(f"/h5/pay/{order['order_no']}/status").get_json() == {"status": "confirmed", "final": True}
