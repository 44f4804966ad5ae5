"""Fixtures the functional test modules share: ``kind`` and ``paying`` (an order open at a sandbox cashier,
its business faked; or opened there while our side never recorded it), ``held`` (WeChat refunds held at
PROCESSING), ``faulty_his`` (the HIS with faults injected) and ``operator``. ``world`` (the synced HIS
timetable, an account with a mother and her child, and a stranger) is in tests/conftest.py: the operations
and browser tests use it too. Rows are built with tests/factories.py."""

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
    """A factory: an outpatient order (its business the fake ``kind``) opened at the channel's sandbox
    cashier, like a patient at the cashier (created -> paying); returns its number.

    ``recorded=False``: the cashier was opened but our side never recorded it, the order still says
    ``created`` (the page's request died between the channel's answer and our commit). ``quiet``: the
    channel's notice will not get through (it goes to a port nobody listens on)."""

    def make(channel: str = "wechat", amount_fen: int = 2350, *, recorded: bool = True, quiet: bool = False) -> str:
        with app.app_context():
            owner = factories.channel_user(channel)
            order = factories.payment_order(factories.patient(owner), kind="outpatient", status="created",
                                            amount_fen=amount_fen, business_ref="B1")
            db.session.commit()
            return_url = f"{live_server}/h5/"
            if recorded:
                if quiet:
                    app.config["PUBLIC_BASE_URL"] = "http://127.0.0.1:9"
                try:
                    start = payments.start_payment(order.order_no, owner.id, owner.channel_uid, return_url)
                finally:
                    app.config["PUBLIC_BASE_URL"] = live_server
            else:
                notify_url = "http://127.0.0.1:9/notify" if quiet else payments.notify_url(channel)
                start = payments.channels()[channel].create_payment(
                    order.order_no, amount_fen, order.description, owner.channel_uid, notify_url, return_url, None)
            if channel == "alipay":
                assert requests.get(start.redirect_url, timeout=10).status_code == 200  # opens the trade
            elif recorded:
                assert start.jsapi_params and start.sandbox_cashier_url
            return order.order_no

    return make


@pytest.fixture()
def held(sandbox):
    """WeChat refunds stay PROCESSING until the test makes them ABNORMAL (or lets them go)."""
    sandbox.refunds_on_hold = True
    yield sandbox
    sandbox.refunds_on_hold = False
