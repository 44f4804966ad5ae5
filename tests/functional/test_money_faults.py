"""Fault injection: the HIS down, slow (answering after the timeout), answering with the answer lost, and
the Huey consumer killed mid-task, each while payments (registration fees, outpatient bills, deposits)
and refunds are in flight. After recovery (the HIS back, the sweeps run as the clock moves on) the books
must balance: no order stuck, every paid order confirmed or refunded exactly once, nothing refunded
that the HIS keeps, and the HIS agreeing with the platform trade by trade (``assert_books_balance``)."""

from __future__ import annotations

import datetime as dt
import time
from contextlib import contextmanager

import pytest
from sqlalchemy import select

from app import clock, outbox
from app.extensions import db
from app.his.http import HttpHis
from doubles.his.server import create_his_server
from app.models import AppointmentOrder, ChannelUser, PaymentOrder, Refund
from app.inpatient import deposits
from app.payments import commands as payments
from app.registration.commands import book, release_stale_holds
from app.tasks import huey
from tests.factories import wait_for
from tests.helpers.bills import account, load, login, pay_in_sandbox, post_pay
from tests.money_helpers import CARD, ONE_UNIT, OTHER, his_post

STAY_CARD = "8800000003"   # in hospital; deposits are paid through the platform for it
STUCK = ("created", "paying", "paid", "confirm_unknown", "refunding")


class Killed(BaseException):
    """The worker process died here: nothing after this point of the task happened."""


# -- building the day: payments of every kind, and refunds, while the fault lasts ----------------------

def _open_orders(app, client, world, his) -> dict[str, str]:
    """Open one payment of each kind (the HIS still answering): a registration, a bill, a deposit."""
    from tests.helpers.booking import find_slice

    orders: dict[str, str] = {}
    with app.app_context():
        slc = find_slice()
        orders["registration"] = book(world["owner"], world["mother"], slc.id).payment_order_no
    bill = his.add_bill(CARD, [ONE_UNIT, OTHER])
    acc = account(app, CARD)
    login(app, client, acc["user"])
    orders["outpatient"] = post_pay(client, acc, [bill]).headers["Location"].rstrip("/").rsplit("/", 1)[-1]
    stay_acc = account(app, STAY_CARD)
    stay = his.inpatient_stay(STAY_CARD)
    with app.app_context():
        orders["deposit"] = deposits.create_deposit_payment(stay_acc["user"], stay_acc["patient"], stay.inpatient_no,
                                                            "600", "wechat").order_no
    return orders


def _pay(app, sandbox, order_no: str) -> None:
    with app.app_context():
        owner_id = db.session.scalar(select(PaymentOrder.owner_id).where(PaymentOrder.order_no == order_no))
        channel = db.session.get(ChannelUser, owner_id).channel
    pay_in_sandbox(app, sandbox, owner_id, order_no, channel)


def _confirmed_bill_for_refunds(app, client, his, sandbox) -> dict:
    """A bill paid and confirmed before the fault: the HIS asks to refund part of it during the fault."""
    from tests.money_helpers import paid_bill

    return paid_bill(app, client, his, sandbox)


@contextmanager
def consumer_dead():
    """No task runs (the Huey consumer is down); what was enqueued meanwhile is lost with it."""
    huey.immediate = False
    try:
        yield
    finally:
        huey.immediate = True  # a new, empty queue: the consumer restarts with nothing


def recover(app, rounds: int = 10) -> None:
    """The HIS is back: the clock moves on and the sweeps run, as the periodic tasks would."""
    try:
        for _ in range(rounds):
            clock.advance(dt.timedelta(minutes=30))
            with app.app_context():
                payments.sweep_confirmations()
                payments.sweep_refunds(older_than_s=60)
                outbox.run_due()
                release_stale_holds()
            time.sleep(0.2)
        with app.app_context():  # refunds the channel completes a moment later: asked until it has
            assert wait_for(lambda: _settled_refunds(), timeout=30), "refunds still in flight after recovery"
    finally:
        clock.reset()


def _settled_refunds() -> bool:
    """True once no refund is in flight; otherwise ask the channel about them once more."""
    db.session.rollback()
    if not db.session.scalars(select(Refund.id).where(Refund.status.in_(("requested", "processing",
                                                                          "abnormal")))).first():
        return True
    payments.sweep_refunds(older_than_s=0)
    return False


def assert_books_balance(app, his) -> None:
    """Every paid order confirmed or refunded exactly once, the channel and the HIS agreeing."""
    with app.app_context():
        paid = db.session.scalars(select(PaymentOrder).where(PaymentOrder.channel_trade_no.is_not(None))).all()
        assert paid, "the scenario paid something"
        for order in paid:
            refunds = db.session.scalars(select(Refund).where(Refund.payment_id == order.id)).all()
            assert order.status not in STUCK, (order.order_no, order.kind, order.status, order.his_error)
            assert all(r.status in ("success", "failed") for r in refunds), [(r.refund_no, r.status) for r in refunds]
            back = sum(r.amount_fen for r in refunds if r.status == "success")
            assert back == order.refunded_fen <= order.amount_fen, (order.order_no, back, order.refunded_fen)
            channel = payments.channels()[order.channel]
            for refund in refunds:
                at_channel = channel.query_refund(order.order_no, refund.refund_no).state
                assert at_channel == ("succeeded" if refund.status == "success" else "not_found"), \
                    (refund.refund_no, refund.status, at_channel)
            held = his.trade_status(order.channel_trade_no)
            if order.status in ("confirmed", "partially_refunded"):
                assert held.applied, (order.order_no, order.kind, "confirmed here, not at the HIS")
            if order.his_receipt_no is None:  # never confirmed: the HIS keeps nothing, refunded in full once
                assert not held.applied, (order.order_no, order.kind, "refunded while the HIS keeps it")
                assert back == order.amount_fen and order.status == "refunded", (order.order_no, order.status)
            if order.kind == "registration":
                appointment = db.session.get(AppointmentOrder, order.appointment_id)
                assert (appointment.status == "booked") == held.applied, (appointment.status, held)


# -- the faults ------------------------------------------------------------------------------------------

def test_his_down_and_consumer_dead_while_paying_and_refunding(app, client, world, faulty_his, sandbox, live_server):
    his = world["his"]
    confirmed = _confirmed_bill_for_refunds(app, client, faulty_his, sandbox)
    orders = _open_orders(app, client, world, faulty_his)
    faulty_his.faults["*"] = "down"
    with consumer_dead():
        for order_no in orders.values():
            _pay(app, sandbox, order_no)
        refund = his_post(app, live_server, "/api/his/v1/refunds", {
            "request_no": "FAULT-DOWN-1", "bill_no": confirmed["bill"].bill_no,
            "items": [{"item_seq": 2, "quantity": 1}]})
        assert refund.status_code == 201
    for order_no in orders.values():
        assert load(app, order_no).status == "paid"  # nothing confirmed, nothing refunded on a guess
    faulty_his.faults.clear()
    recover(app)
    for kind in ("outpatient", "deposit"):
        assert load(app, orders[kind]).status == "confirmed", (kind, load(app, orders[kind]).status)
    # the HIS's slot lock lasts 15 minutes: down longer, it released the place, so the fee is refunded
    # (on its definite "not applied"); within them, the registration is confirmed
    assert load(app, orders["registration"]).status in ("confirmed", "refunded")
    assert_books_balance(app, his)


def test_his_answers_lost_while_paying(app, client, world, faulty_his, sandbox, live_server):
    his = world["his"]
    orders = _open_orders(app, client, world, faulty_his)
    faulty_his.faults.update({"confirm_registration": "lost", "settle_bill": "lost", "pay_deposit": "lost"})
    for order_no in orders.values():
        _pay(app, sandbox, order_no)
    with app.app_context():  # every retry up to the last: the HIS applies, its answers never arrive
        for _ in range(len(payments.CONFIRM_BACKOFF) + 1):
            clock.advance(dt.timedelta(minutes=11))
            payments.sweep_confirmations()
    clock.reset()
    for order_no in orders.values():
        order = load(app, order_no)
        assert order.status == "confirm_unknown" and order.flag == "his_unknown", order.status
        assert order.refunded_fen == 0
    faulty_his.faults.clear()
    recover(app)
    for order_no in orders.values():
        assert load(app, order_no).status == "confirmed"
    assert_books_balance(app, his)


def test_consumer_killed_mid_task_while_paying_and_refunding(app, client, world, faulty_his, sandbox, live_server,
                                                             monkeypatch):
    his = world["his"]
    confirmed = _confirmed_bill_for_refunds(app, client, faulty_his, sandbox)
    orders = _open_orders(app, client, world, faulty_his)
    with consumer_dead():
        for order_no in orders.values():
            _pay(app, sandbox, order_no)
        refund = his_post(app, live_server, "/api/his/v1/refunds", {
            "request_no": "FAULT-KILL-1", "bill_no": confirmed["bill"].bill_no})
        assert refund.status_code == 201
    # the worker takes each task and dies in the middle of it: after the HIS applied, after the channel
    # accepted the refund, before anything was recorded
    for name in ("confirm_registration", "settle_bill", "pay_deposit"):
        real = getattr(faulty_his.inner, name)

        def dies_after(*args, _real=real, **kwargs):
            _real(*args, **kwargs)
            raise Killed()

        monkeypatch.setattr(faulty_his.inner, name, dies_after)
    adapter = None
    with app.app_context():
        adapter = payments.channels()["wechat"]
    real_refund = adapter.refund

    def refund_dies_after(*args, **kwargs):
        real_refund(*args, **kwargs)
        raise Killed()

    monkeypatch.setattr(adapter, "refund", refund_dies_after)
    for order_no in orders.values():
        with app.app_context(), pytest.raises(Killed):
            payments.confirm_payment(order_no)
    with app.app_context(), pytest.raises(Killed):
        payments.process_refund(refund.json()["data"]["refund_no"])
    monkeypatch.undo()
    for order_no in orders.values():
        assert load(app, order_no).status == "paid"  # the kill lost the recording, not the money
    recover(app)
    assert_books_balance(app, his)
    assert load(app, confirmed["order_no"]).status == "refunded"


# -- the HIS slower than HIS_TIMEOUT, over real HTTP ----------------------------------------------------------

class Slow:
    """WSGI middleware: the HIS does the work, then answers ``delay`` seconds later for chosen paths."""

    def __init__(self, app, delay: float, paths: tuple[str, ...]) -> None:
        self.app, self.delay, self.paths = app, delay, paths

    def __call__(self, environ, start_response):
        result = self.app(environ, start_response)
        body = b"".join(result)
        if environ["REQUEST_METHOD"] == "POST" and environ["PATH_INFO"].endswith(self.paths):
            time.sleep(self.delay)
        return [body]


def test_a_his_slower_than_the_timeout_never_causes_a_refund_of_an_applied_trade(app, client, world, his, sandbox,
                                                                                 serve_wsgi):
    orders = _open_orders(app, client, world, his)
    slow = Slow(create_his_server("", "platform", "s3cret-for-the-slow-his", his=his), 1.5,
                ("/confirm", "/settle", "/deposits"))
    server = serve_wsgi(slow)
    app.extensions["his_gateway"] = HttpHis(server + "/his/v1", "platform", "s3cret-for-the-slow-his", timeout=0.5)
    try:
        for order_no in orders.values():
            _pay(app, sandbox, order_no)
        with app.app_context():
            for _ in range(len(payments.CONFIRM_BACKOFF) + 1):
                clock.advance(dt.timedelta(minutes=11))
                payments.sweep_confirmations()
        clock.reset()
        for kind, order_no in orders.items():  # applied at the HIS, every answer late: kept and flagged
            order = load(app, order_no)
            assert order.status == "confirm_unknown" and order.refunded_fen == 0, (kind, order.status)
            assert his.trade_status(order.channel_trade_no).applied
        slow.delay = 0  # the HIS is fast again
        recover(app)
    finally:
        app.extensions["his_gateway"] = his
    for order_no in orders.values():
        assert load(app, order_no).status == "confirmed"
    assert_books_balance(app, his)


@pytest.fixture()
def serve_wsgi():
    """Serve a WSGI app on a free local port for the test; returns its base URL."""
    import threading

    from werkzeug.serving import make_server

    servers = []

    def start(wsgi_app) -> str:
        server = make_server("127.0.0.1", 0, wsgi_app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}"

    yield start
    for server in servers:
        server.shutdown()
