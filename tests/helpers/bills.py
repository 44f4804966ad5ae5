"""Outpatient bills (门诊缴费): an account holding a card with pending bills, signing in as it, posting the
pay form, paying in the sandbox cashier and reading the payment order back. Cards come from the simulator seed."""

from __future__ import annotations

from sqlalchemy import select

from app.extensions import db
from app.models import ChannelUser, PaymentOrder
from app.payments import commands as payments
from tests import factories

TWO_BILL_CARD = "8800000002"   # two pending bills of one visit (成人口腔)
ONE_BILL_CARD = "8800000019"   # one pending bill (产科门诊)


def account(app, card_no: str, channel: str = "wechat") -> dict:
    """A channel user with one bound patient holding ``card_no``; returns ids."""
    with app.app_context():
        user = factories.channel_user(channel)
        patient = factories.patient(user, card_no=card_no)
        db.session.commit()
        return {"user": user.id, "patient": patient.id, "card": card_no}


def login(app, client, user_id: int) -> None:
    with app.app_context():
        factories.login(client, db.session.get(ChannelUser, user_id))


def post_pay(client, acc: dict, bills, amounts: dict | None = None):
    data = {"patient_id": acc["patient"], "bill_no": [b.bill_no for b in bills]}
    for b in bills:
        data[f"amount_{b.bill_no}"] = str((amounts or {}).get(b.bill_no, b.amount_fen))
    return client.post("/h5/bills/pay", data=data)


def load(app, order_no: str) -> PaymentOrder:
    with app.app_context():
        order = db.session.scalar(select(PaymentOrder).where(PaymentOrder.order_no == order_no))
        db.session.expunge(order)
        return order


def open_and_pay(app, client, sandbox, acc, bills, channel="wechat") -> str:
    response = post_pay(client, acc, bills)
    assert response.status_code == 303, response.get_data(as_text=True)
    order_no = response.headers["Location"].rstrip("/").rsplit("/", 1)[-1]
    pay_in_sandbox(app, sandbox, acc["user"], order_no, channel)
    return order_no


def pay_in_sandbox(app, sandbox, user_id: int, order_no: str, channel: str = "wechat") -> None:
    """Open the cashier for a payment order and have the sandbox channel confirm it (its notification
    is delivered to the platform)."""
    with app.app_context():
        user = db.session.get(ChannelUser, user_id)
        start = payments.start_payment(order_no, user.id, user.channel_uid, "http://127.0.0.1/h5/")
    if channel == "alipay":
        import requests

        assert requests.get(start.redirect_url, timeout=10).status_code == 200  # opens the trade
    assert sandbox.confirm_payment(channel, order_no).delivered
