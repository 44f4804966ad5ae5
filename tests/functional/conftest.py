"""Fixtures the functional test modules share: ``kind`` and ``paying`` (an order open at a sandbox cashier,
its business faked), ``held`` (WeChat refunds held at PROCESSING), ``faulty_his`` (the HIS with faults
injected) and ``operator``. ``world`` (the synced HIS timetable, an account with a mother and her child,
and a stranger) is in tests/conftest.py: the operations and browser tests use it too."""

import pytest
import requests

from app.extensions import db
from app.payments import commands as payments
from tests import factories
from tests.helpers.payments import FakeKind
from tests.money_helpers import faulty_his  # noqa: F401 - a fixture, found by name
from tests.security_helpers import operator  # noqa: F401 - a fixture, found by name


@pytest.fixture()
def kind(monkeypatch):
    """The outpatient business replaced by a ``FakeKind`` that records what the payment core asks of it."""
    fake = FakeKind()
    monkeypatch.setitem(payments._KINDS, "outpatient", fake)
    return fake


@pytest.fixture()
def paying(app, live_server, sandbox, clean_db, kind):
    """A factory: an order opened at the channel (created -> paying), like a patient at the cashier."""

    def make(channel: str = "wechat", amount_fen: int = 2350) -> str:
        with app.app_context():
            owner = factories.channel_user(channel)
            patient = factories.patient(owner)
            order = payments.create_payment_order(kind="outpatient", owner_id=owner.id, patient_id=patient.id,
                                                  channel=channel, amount_fen=amount_fen, description="门诊缴费",
                                                  actor=f"patient:{owner.id}", business_ref="B1")
            db.session.commit()
            start = payments.start_payment(order.order_no, owner.id, owner.channel_uid, f"{live_server}/h5/")
            if channel == "alipay":
                assert requests.get(start.redirect_url, timeout=10).status_code == 200  # opens the trade
            else:
                assert start.jsapi_params and start.sandbox_cashier_url
            return order.order_no

    return make


@pytest.fixture()
def held(sandbox):
    """WeChat refunds stay PROCESSING until the test makes them ABNORMAL (or lets them go)."""
    sandbox.refunds_on_hold = True
    yield sandbox
    sandbox.refunds_on_hold = False
