"""The H5 cashier hand-off pages: ownership, start, and a result that asks the channel."""

from __future__ import annotations

import html
import re
from urllib.parse import urlsplit

import pytest
import requests

from app.extensions import db
from app.payments import commands as payments
from tests import factories
from tests.helpers.payments import FakeKind


@pytest.fixture()
def order(app, live_server, clean_db, monkeypatch):
    monkeypatch.setitem(payments._KINDS, "outpatient", FakeKind())
    with app.app_context():
        owner = factories.channel_user("wechat")
        stranger = factories.channel_user("wechat")
        patient = factories.patient(owner)
        order = factories.payment_order(patient, kind="outpatient", status="created", amount_fen=1250,
                                        description="门诊缴费（西药）")
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


def test_result_page_of_an_order_not_final_yet_offers_to_pay_on(app, client, order):
    """created: the patient came back before opening the cashier; the page waits and offers 继续支付."""
    _login(app, client, order["owner"])
    response = client.get(f"/h5/pay/{order['order_no']}/result")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "尚未完成支付" in page and f"/h5/pay/{order['order_no']}\"" in page and "继续支付" in page
    # the waiting page polls from a static file (no inline script: the CSP will forbid them)
    assert "<script>" not in page and "pay_result.js" in page
    assert f"/h5/pay/{order['order_no']}/status" in page


def test_cancel_in_the_cashier_lands_on_a_result_page_that_leads_back_to_paying(app, client, order):
    _login(app, client, order["owner"])
    start = client.post(f"/h5/pay/{order['order_no']}")
    cashier = requests.get(start.headers["Location"], timeout=10)
    assert cashier.status_code == 200
    # the cashier's 取消 form posts its hidden fields back with the return address
    fields = {k: html.unescape(v) for k, v in
              re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', cashier.text)}
    cancel = requests.post(start.headers["Location"].split("/cashier")[0] + "/cashier/cancel", data=fields,
                           timeout=10, allow_redirects=False)
    assert cancel.status_code == 303
    back = cancel.headers["Location"]
    assert back.endswith(f"/h5/pay/{order['order_no']}/result")
    result = client.get(urlsplit(back).path)
    assert result.status_code == 200
    page = result.get_data(as_text=True)
    assert "继续支付" in page
    assert client.get(f"/h5/pay/{order['order_no']}").status_code == 200


def _expire_in(app, order_no, delta):
    from sqlalchemy import update

    from app import clock
    from app.models import PaymentOrder

    with app.app_context():
        db.session.execute(update(PaymentOrder).where(PaymentOrder.order_no == order_no)
                           .values(expires_at=clock.utcnow() + delta))
        db.session.commit()


def test_pay_page_counts_down_from_the_orders_own_expiry(app, client, order):
    import datetime as dt

    from app import clock

    clock.freeze(dt.datetime(2026, 3, 2, 20, 41, 30))
    try:
        _expire_in(app, order["order_no"], dt.timedelta(minutes=13, seconds=5))
        _login(app, client, order["owner"])
        page = client.get(f"/h5/pay/{order['order_no']}").get_data(as_text=True)
        assert "15 分钟" not in page
        assert 'data-remaining="785"' in page and "13:05" in page  # what is left, as the server counts it
        assert "20:54" in page  # the deadline in Beijing time
        assert "h5/pay.js" in page and "<script>" not in page
        # past the deadline: the page says so and offers no 立即支付
        clock.advance(dt.timedelta(minutes=14))
        late = client.get(f"/h5/pay/{order['order_no']}").get_data(as_text=True)
        assert "订单已超过支付时限" in late and "data-pay" not in late
    finally:
        clock.reset()


def test_home_says_how_long_a_booking_may_stay_unpaid(app, client, clean_db):
    from app.registration.rules import payment_minutes

    with app.app_context():
        minutes = payment_minutes()
    assert minutes == 14  # the 15-minute HIS lock less a minute's margin
    page = client.get("/h5/").get_data(as_text=True)
    assert f"预约后请在 {minutes} 分钟内完成支付" in page


@pytest.mark.parametrize(("kind", "number_label", "guidance_title"), [
    ("registration", "就诊流水号", "就诊提示"),
    ("outpatient", "医院收费单号", "导诊提示"),
    ("deposit", "预交金单号", "住院账户"),
])
def test_result_page_names_the_hospitals_number_and_lines_by_kind(app, client, live_server, sandbox, clean_db,
                                                                  monkeypatch, kind, number_label, guidance_title):
    """The HIS's number of a payment is no 电子票据号 (that is the e-invoice), and a deposit's balance is no
    导诊提示."""
    monkeypatch.setitem(payments._KINDS, kind, FakeKind())
    with app.app_context():
        owner = factories.channel_user("wechat")
        patient = factories.patient(owner)
        made = factories.payment_order(patient, kind=kind, status="created", amount_fen=500, description="测试")
        db.session.commit()
        order_no, owner_id = made.order_no, owner.id
    _login(app, client, owner_id)
    client.post(f"/h5/pay/{order_no}")
    sandbox.confirm_payment("wechat", order_no)
    page = client.get(f"/h5/pay/{order_no}/result").get_data(as_text=True)
    assert "支付成功" in page
    assert "电子票据号" not in page and f"{number_label} R-" in page
    assert f'<div class="h5-guidance__title">{guidance_title}</div>' in page


def test_the_wechat_bridge_page_carries_its_signed_parameters_for_the_static_script(app):
    from flask import render_template

    params = {"appId": "wx8888", "timeStamp": "1764600000", "nonceStr": "n'1", "package": "prepay_id=wx1<2>",
              "signType": "RSA", "paySign": 'a"b&c'}
    with app.test_request_context("/h5/pay/GH1"):
        page = render_template("h5/pay_jsapi.html", order_no="GH1", params=params, result_url="/h5/pay/GH1/result")
    assert "<script>" not in page and "h5/pay_jsapi.js" in page
    carried = re.search(r'data-jsapi-params="([^"]*)"', page).group(1)
    import json

    assert json.loads(html.unescape(carried)) == params
    assert 'data-result-url="/h5/pay/GH1/result"' in page
