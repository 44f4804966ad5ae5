"""The emergency runbook (docs/operations.md, 应急预案), checked: each test takes one part away (WeChat
Pay, Alipay, the HIS, the database, Redis) and sees the platform degrade as the runbook says: readiness
names the part, patients get a clear Chinese message, nothing recorded is lost, and it recovers."""

from __future__ import annotations

import contextlib
import time

import pytest
from sqlalchemy import create_engine, select

from app.extensions import db
from app.his import make_his
from app.models import AppointmentOrder, ChannelUser, PaymentOrder, ScheduleSlice
from app.operations.metrics import instrument_his
from app.payments import commands as payments
from app.registration import commands as registration
from tests import factories
from tests.helpers.booking import book, find_slice, order_row, pay

DEAD = "http://127.0.0.1:9"  # the discard port: connection refused, at once


def ready(client) -> tuple[int, dict]:
    response = client.get("/api/health/ready")
    return response.status_code, {k: v["ok"] for k, v in response.get_json()["checks"].items()}


@contextlib.contextmanager
def channel_away(app, name: str):
    from app.channels import make_channels

    built = payments_channels(app)
    dead = make_channels({**app.config, "SANDBOX_BASE_URL": f"{DEAD}/sandbox"})[name]
    live, built[name] = built[name], dead
    try:
        yield
    finally:
        built[name] = live


def payments_channels(app) -> dict:
    with app.app_context():
        return payments.channels()


@contextlib.contextmanager
def his_away(app):
    cfg = {"HIS_MODE": "http", "HIS_BASE_URL": f"{DEAD}/his/v1", "HIS_APP_ID": "x", "HIS_SECRET": "y", "HIS_TIMEOUT": 1}
    live = app.extensions["his_gateway"]
    app.extensions["his_gateway"] = instrument_his(make_his(cfg))
    try:
        yield
    finally:
        app.extensions["his_gateway"] = live


@contextlib.contextmanager
def database_away(app):
    """Every new connection is refused (as when MariaDB is stopped); pooled ones are dropped."""
    engines = db._app_engines[app]
    live = engines[None]
    dead = create_engine("mysql+pymysql://root@127.0.0.1:9/none", connect_args={"connect_timeout": 1},
                         pool_pre_ping=True)
    with app.app_context():
        db.session.remove()
    engines[None] = dead
    try:
        yield
    finally:
        with app.app_context():
            db.session.remove()
        engines[None] = live
        dead.dispose()


@contextlib.contextmanager
def redis_away(app):
    """The task queue on a Redis that does not answer (the tests' queue otherwise runs tasks inline)."""
    from huey.storage import RedisStorage

    from app.tasks import huey

    storage, immediate = huey.storage, huey.immediate
    huey.immediate = False
    huey.storage = RedisStorage("hospital", url="redis://127.0.0.1:9/0")
    app.config["SLOT_PAGE_CACHE_URL"] = "redis://127.0.0.1:9/0"
    app.extensions.pop("page_cache", None)
    try:
        yield
    finally:
        huey.immediate = immediate
        huey.storage = storage
        app.config["SLOT_PAGE_CACHE_URL"] = ""
        app.extensions.pop("page_cache", None)


@pytest.fixture()
def probes(app):
    app.config["HEALTH_CHECK_CHANNELS"] = True
    yield
    app.config["HEALTH_CHECK_CHANNELS"] = False


def a_booking(app, world, channel="wechat"):
    with app.app_context():
        owner = db.session.get(ChannelUser, world["owner"])
        owner.channel = channel
        db.session.commit()
        slc = find_slice()
        return book(world["owner"], world["mother"], slc.id)


@pytest.mark.parametrize("channel", ["wechat", "alipay"])
def test_a_payment_channel_away(app, client, world, live_server, sandbox, probes, channel):
    result = a_booking(app, world, channel)
    assert ready(client)[0] == 200  # everything up first
    with channel_away(app, channel):
        status, checks = ready(client)
        assert status == 503 and checks[channel] is False and checks["wechat" if channel == "alipay" else "alipay"]
        with app.app_context():
            factories.login(client, db.session.get(ChannelUser, world["owner"]))
        if channel == "wechat":  # JSAPI: the order is opened at WeChat Pay first, and that is refused
            with app.app_context(), pytest.raises(Exception) as refused:
                payments.start_payment(result.pay, world["owner"], "uid", f"{live_server}/h5/")
            assert getattr(refused.value, "status", None) == 503
            assert "支付渠道暂时不可用，请稍后再试" in refused.value.message
            page = client.post(f"/h5/pay/{result.pay}")
            assert page.status_code == 503 and "支付渠道暂时不可用" in page.get_data(as_text=True)
        else:  # Alipay's cashier is a signed link the browser opens: the patient returns unpaid
            with app.app_context():
                payments.start_payment(result.pay, world["owner"], "uid", f"{live_server}/h5/")
        # the page polling after the cashier asks the channel; that fails, the order stays as it was
        back = client.get(f"/h5/pay/{result.pay}/status")
        assert back.status_code == 200 and back.get_json()["final"] is False
        # the unpaid order keeps its place and can be paid once the channel is back
        assert order_row(app, result.id).status == "pending_payment"
    assert ready(client)[0] == 200  # back
    pay(app, live_server, sandbox, world["owner"], result.pay)
    assert order_row(app, result.id).status == "booked"


def test_a_payment_channel_away_closes_nothing_it_cannot_confirm(app, client, world, live_server, sandbox):
    """An order whose cashier was opened is closed at its deadline only after the channel confirms it
    unpaid: with the channel away it stays open, and the patient's later payment is still recorded."""
    result = a_booking(app, world)
    with app.app_context():
        payments.start_payment(result.pay, world["owner"], "uid", f"{live_server}/h5/")
    with channel_away(app, "wechat"), app.app_context():
        payments.close_expired(now=payments.utcnow() + payments.dt.timedelta(minutes=16))
        assert db.session.scalar(select(PaymentOrder.status).where(PaymentOrder.order_no == result.pay)) == "paying"
    assert sandbox.confirm_payment("wechat", result.pay).delivered
    with app.app_context():
        assert db.session.scalar(select(PaymentOrder.status).where(PaymentOrder.order_no == result.pay)) in (
            "confirmed", "paid")


def test_the_his_away(app, client, world, live_server, sandbox, probes):
    paid_first = a_booking(app, world)
    with app.app_context():
        first_schedule = db.session.get(AppointmentOrder, paid_first.id).schedule_id
        slc = next(s for s in [find_slice(min_days=d) for d in (1, 2, 3, 4)] if s.schedule_id != first_schedule)
        slice_id, before = slc.id, slc.booked
        owner = db.session.get(ChannelUser, world["owner"])
        factories.login(client, owner)
    with his_away(app):
        status, checks = ready(client)
        assert status == 503 and checks["his"] is False and checks["database"]
        page = client.post(f"/h5/booking/slices/{slice_id}/confirm", data={"patient_id": world["mother"]})
        assert page.status_code == 503 and "医院系统暂时无法连接，请稍后再试" in page.get_data(as_text=True)
        with app.app_context():
            assert db.session.get(ScheduleSlice, slice_id).booked == before  # the place was given back
        # a payment made while the HIS is away is kept as paid and retried, not refunded on a guess
        pay(app, live_server, sandbox, world["owner"], paid_first.pay)
        with app.app_context():
            payment = db.session.scalar(select(PaymentOrder).where(PaymentOrder.order_no == paid_first.pay))
            assert payment.status == "paid" and payment.his_attempts == 1 and payment.next_his_attempt_at
        assert order_row(app, paid_first.id).status in ("pending_payment", "paid")  # not failed, not refunded
    assert ready(client)[0] == 200
    with app.app_context():
        db.session.execute(db.update(PaymentOrder).where(PaymentOrder.order_no == paid_first.pay)
                           .values(next_his_attempt_at=payments.utcnow()))
        db.session.commit()
        payments.sweep_confirmations()  # what the minute sweep does once the HIS answers
    assert order_row(app, paid_first.id).status == "booked"


def test_the_database_away(app, client, world, live_server, sandbox):
    result = a_booking(app, world)
    with app.app_context():
        owner = db.session.get(ChannelUser, world["owner"])
        factories.login(client, owner)
        payments.start_payment(result.pay, world["owner"], owner.channel_uid, f"{live_server}/h5/")
        orders_before = db.session.scalar(select(db.func.count()).select_from(AppointmentOrder))
    with database_away(app):
        assert client.get("/api/health/live").status_code == 200  # the process is alive: do not restart it
        status, checks = ready(client)
        assert status == 503 and checks == {"database": False}
        page = client.get("/h5/booking/orders")
        text = page.get_data(as_text=True)
        assert page.status_code == 503 and "系统正在维护，请稍后再试" in text and "不会丢失" in text
        # the patient pays at WeChat Pay meanwhile: the notification is refused (503), never acknowledged
        delivery = sandbox.confirm_payment("wechat", result.pay)
        assert delivery is not None and not delivery.delivered
    assert ready(client)[0] == 200
    assert client.get("/h5/booking/orders").status_code == 200
    # the channel delivers it again: recorded, confirmed at the HIS, booked
    assert any(r.delivered for r in sandbox.deliver_due(now=time.time() + 3600))
    assert order_row(app, result.id).status == "booked"
    with app.app_context():
        assert db.session.scalar(select(db.func.count()).select_from(AppointmentOrder)) == orders_before


def test_redis_away(app, client, world, live_server, sandbox):
    result = a_booking(app, world)
    with redis_away(app):
        status, checks = ready(client)
        assert status == 503 and checks["queue"] is False and checks["database"]
        # the booking pages render without their cache
        with app.app_context():
            doctor_id = db.session.get(AppointmentOrder, result.id).doctor_id
        assert client.get(f"/h5/booking/doctors/{doctor_id}").status_code in (200, 404)
        # a payment arriving now is recorded and acknowledged; its confirmation waits for the queue
        pay(app, live_server, sandbox, world["owner"], result.pay)
        with app.app_context():
            payment = db.session.scalar(select(PaymentOrder).where(PaymentOrder.order_no == result.pay))
            assert payment.status == "paid" and payment.next_his_attempt_at is not None
    assert ready(client)[0] == 200
    with app.app_context():
        payments.sweep_confirmations()  # the consumer's minute sweep, once Redis is back
    assert order_row(app, result.id).status == "booked"
    assert registration  # the booking service is what the pages above went through
