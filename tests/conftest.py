"""Fixtures: app -> database (built by the real migrations) -> clean tables per test.

TEST_DATABASE_URL selects the database (default: a SQLite file per run); CI also runs the suite
against MariaDB. TEST_REDIS_URL, when set, lets the queue tests use Redis.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import tempfile
from pathlib import Path

_TMP = Path(tempfile.mkdtemp(prefix="hospital-tests-"))
os.environ.setdefault("INSTANCE_DIR", str(_TMP / "instance"))
os.environ["HUEY_URL"] = "memory://"
if not os.environ.get("TEST_DATABASE_URL"):
    os.environ["TEST_DATABASE_URL"] = f"sqlite:///{_TMP / 'platform.db'}"

import subprocess  # noqa: E402
import sys  # noqa: E402

import pytest  # noqa: E402

# Compiled catalogues are build output; build them so a bare `pytest` sees the translations too.
subprocess.run([str(Path(sys.executable).parent / "pybabel"), "compile", "-d",
                str(Path(__file__).resolve().parents[1] / "translations")], check=True, capture_output=True)
from sqlalchemy import MetaData, inspect, text  # noqa: E402

from app import create_app  # noqa: E402
from app.doubles_switch import install_doubles  # noqa: E402
from app.extensions import db  # noqa: E402

# The test process is a demo installation: make_his/make_channels/make_oauth/make_sender build the doubles
# even in tests that never create an app (create_app would register them on its first call anyway).
install_doubles()

SECURITY_TABLES = {"ab_user", "ab_role", "ab_permission", "ab_view_menu", "ab_permission_view",
                   "ab_permission_view_role", "ab_user_role", "ab_register_user", "ab_group",
                   "ab_group_role", "ab_user_group", "ab_api_key", "alembic_version",
                   "role_grant"}


def drop_everything(engine) -> None:
    """Empty the test database (MariaDB's `test` may hold a previous run's tables)."""
    meta = MetaData()
    meta.reflect(bind=engine)
    with engine.begin() as conn:
        if engine.dialect.name == "mysql":
            conn.execute(text("SET FOREIGN_KEY_CHECKS=0"))
        for table in reversed(meta.sorted_tables):
            conn.execute(text(f"DROP TABLE IF EXISTS {engine.dialect.identifier_preparer.quote(table.name)}"))
        if engine.dialect.supports_sequences:
            from sqlalchemy import inspect as sa_inspect

            for name in sa_inspect(conn).get_sequence_names():
                conn.execute(text(f"DROP SEQUENCE IF EXISTS {engine.dialect.identifier_preparer.quote(name)}"))
        if engine.dialect.name == "mysql":
            conn.execute(text("SET FOREIGN_KEY_CHECKS=1"))


@pytest.fixture(autouse=True)
def _real_clock_after_each_test():
    """A test that moves the clock (clock.travel/freeze) never leaves it moved for the next one."""
    from app import clock

    yield
    clock.reset()


@pytest.fixture(scope="session")
def his_template(tmp_path_factory) -> Path:
    """The seeded HIS simulator database, built once; tests get a copy."""
    from doubles.his.simulator import seed

    path = tmp_path_factory.mktemp("his") / "his_template.db"
    seed(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def app(his_template):
    his_db = _TMP / "his_simulator.db"
    shutil.copy(his_template, his_db)
    application = create_app("test", HIS_SIMULATOR_URL=f"sqlite:///{his_db}")
    with application.app_context():
        drop_everything(db.engine)
        from flask_migrate import upgrade

        upgrade()
        application.appbuilder.sm.sync_hospital_roles()
    yield application
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


def _domain_tables():
    from flask_appbuilder import Model

    return [t for t in reversed(Model.metadata.sorted_tables) if t.name not in SECURITY_TABLES]


def _empty_domain_tables(app) -> None:
    with app.app_context():
        db.session.remove()
        with db.engine.begin() as conn:
            if db.engine.dialect.name == "mysql":
                conn.execute(text("SET FOREIGN_KEY_CHECKS=0"))
            for table in _domain_tables():
                conn.execute(table.delete())
            if db.engine.dialect.name == "mysql":
                conn.execute(text("SET FOREIGN_KEY_CHECKS=1"))
    from app.services.settings import forget_kept_settings

    forget_kept_settings()  # the settings rows went with the tables: no process-kept copy of them either


@pytest.fixture()
def clean_db(app):
    """Each test starts with empty domain tables (staff accounts and roles stay).

    No app context is held during the test: like production, every request gets its own.
    """
    _empty_domain_tables(app)
    yield db
    _empty_domain_tables(app)


@pytest.fixture()
def staff_restored(app):
    """For a test that changes a demo staff account (password, active): staff accounts outlive the clean
    tables, so the account is put back as seeded after it (test_staff_cancel failed after the operator
    tests had reset the service account, in that order only)."""
    yield
    from tests.backoffice_helpers import restore_demo_staff

    restore_demo_staff(app)


@pytest.fixture()
def ctx(app, clean_db):
    """An app context held for the whole test, for service-level tests."""
    with app.app_context():
        yield db
        db.session.rollback()
        db.session.remove()


@pytest.fixture()
def his(app, his_template, tmp_path):
    """A fresh copy of the seeded HIS for this test, wired into the app."""
    path = tmp_path / "his.db"
    shutil.copy(his_template, path)
    old = app.config["HIS_SIMULATOR_URL"]
    app.config["HIS_SIMULATOR_URL"] = f"sqlite:///{path}"
    app.extensions.pop("his_gateway", None)
    from app.services.his_access import his_gateway

    with app.app_context():
        gateway = his_gateway()
    yield gateway
    app.config["HIS_SIMULATOR_URL"] = old
    app.extensions.pop("his_gateway", None)


@pytest.fixture()
def client(app, clean_db):
    return app.test_client()


def table_names(engine) -> set[str]:
    return set(inspect(engine).get_table_names())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def _live_socket(app):
    """One threaded server on a real socket (like `flask run`) for the whole run."""
    from werkzeug.serving import make_server

    port = _free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    server.shutdown()


@pytest.fixture()
def live_server(app, _live_socket):
    """The app on a real socket, its public and sandbox URLs pointing at itself for this test only, so
    channel adapters, the sandbox gateways and notifications travel over real HTTP; the next test sees
    the configured URLs again (a test without the server never builds links to it)."""
    from tests.factories import public_urls

    with public_urls(app, _live_socket):
        yield _live_socket


@pytest.fixture()
def sandbox(app, live_server):
    """The payment sandbox engine (the 'patient' can confirm payments through it)."""
    return app.extensions["payment_sandbox"]


# -- fixtures test modules in several directories share (their helpers are in tests/helpers/) ------------

@pytest.fixture()
def world(app, clean_db, his):
    """The HIS timetable synced; a WeChat account with a mother and her child; a stranger."""
    from app.registration import schedules
    from tests import factories
    from tests.helpers.booking import CHILDREN, MOTHERS, add_patient

    with app.app_context():
        schedules.sync_from_his()
        owner = factories.channel_user("wechat")
        mother = add_patient(owner, MOTHERS[0])
        child = add_patient(owner, CHILDREN[0], relation="child", default=False)
        stranger = factories.channel_user("wechat")
        other = add_patient(stranger, MOTHERS[1])
        db.session.commit()
        return {"owner": owner.id, "mother": mother.id, "child": child.id, "stranger": stranger.id,
                "other": other.id, "his": his}


@pytest.fixture()
def booked(app, world):
    """A booked appointment (no payment needed for the repair rules) and its slice's counter."""
    from app.services import states
    from tests.helpers.booking import book, find_slice

    with app.app_context():
        slc = find_slice()
        result = book(world["owner"], world["mother"], slc.id)
        states.move("appointment", result.id, "pending_payment", "paid", actor="test")
        states.move("appointment", result.id, "paid", "booked", actor="test")
        db.session.commit()
        return {"id": result.id, "order_no": result.order_no, "slice_id": result.slice_id, "pay": result.pay}


@pytest.fixture()
def staff(app, clean_db):
    """The seeded staff and a day's orders, for creating an operator; the operator ``zhangmin`` a test
    made is removed afterwards."""
    from app.models import OperatorProfile
    from tests.backoffice_helpers import seed_staff_and_orders

    seed_staff_and_orders(app, days=1, per_day=1)
    yield
    with app.app_context():  # staff rows outlive clean_db: remove the one this test made
        sm = app.appbuilder.sm
        user = sm.find_user(username="zhangmin")
        if user is not None:
            db.session.execute(OperatorProfile.__table__.delete().where(OperatorProfile.user_id == user.id))
            from app.models import PasswordHistory

            db.session.execute(PasswordHistory.__table__.delete().where(PasswordHistory.user_id == user.id))
            db.session.delete(user)
            db.session.commit()


@pytest.fixture()
def differences(app, clean_db):
    """The demo hospital on 2026-11-21 with five reconciliation differences of ``DAY``, both channels;
    their item ids."""
    import datetime as dt

    from app import clock
    from doubles.demo.hospital import seed_demo
    from tests import factories
    from tests.helpers.reconciliation import DAY

    clock.freeze(dt.datetime(2026, 11, 21, 11, 0))
    with app.app_context():
        seed_demo()
        ids = []
        for channel, rows in (("wechat", [("channel_only", "MZ1", None, 2350), ("local_only", "MZ2", 1200, None),
                                          ("amount_mismatch", "MZ3", 5000, 4990)]),
                              ("alipay", [("channel_only", "MZ4", None, 100050), ("state_mismatch", "MZ5", 800, 800)])):
            run = factories.reconciliation_run(channel, DAY, mismatch_count=len(rows), channel_count=10,
                                               channel_total_fen=123456)
            ids += [factories.reconciliation_item(run, kind, order_no, local_amount_fen=local,
                                                  channel_amount_fen=remote, note="差异").id
                    for kind, order_no, local, remote in rows]
        db.session.commit()
    yield ids
    clock.reset()


@pytest.fixture()
def walk_data(app, clean_db, his, live_server, sandbox):
    """One account with a payment in every state of ``STATES`` and an unpaid outpatient payment, for the
    walk of every patient page (tests/functional/test_patient_walk.py)."""
    import datetime as dt

    from sqlalchemy import select

    from app import clock
    from app.models import PaymentOrder
    from app.registration import commands as registration
    from app.payments import commands as payments
    from app.messages.content import offer_survey
    from tests import factories
    from tests.helpers.booking import CHILDREN, MOTHERS, SEEDED, add_patient, pay
    from tests.helpers.patient_walk import BILLS_CARD, IN_HOSPITAL_CARD, STATES, distinct_slices, payment_states

    # the next 07:13 in Beijing, never in the past: pages and the sandbox channel alike must see a
    # payment deadline still ahead, whatever the hour the suite runs at
    target = dt.datetime.combine(clock.today(), dt.time(7, 13))
    clock.travel(target if target > clock.beijing_now() else target + dt.timedelta(days=1))
    since = clock.utcnow()
    try:
        with app.app_context():
            from doubles.demo.hospital import seed_demo

            seed_demo()
            user = factories.channel_user("wechat", nickname="走查患者")
            by_card = {p.card_no: p for p in SEEDED}
            add_patient(user, by_card[IN_HOSPITAL_CARD], relation="other", default=False)
            third = add_patient(user, by_card[BILLS_CARD], relation="other", default=False)
            mother, second = (add_patient(user, m, relation=r, default=d) for m, r, d in zip(
                [m for m in MOTHERS if m.card_no not in (IN_HOSPITAL_CARD, BILLS_CARD)][:2],
                ("self", "other"), (True, False), strict=True))
            add_patient(user, next(c for c in CHILDREN if c.card_no not in (IN_HOSPITAL_CARD, BILLS_CARD)),
                        relation="child", default=False)
            db.session.commit()
            slices = distinct_slices(7)
            owner_id, owner_uid = user.id, user.channel_uid
            made = {}
            for state, slc, patient in zip(STATES, slices, (mother, mother, second, second, mother, second, third),
                                           strict=True):
                if state == "paid":  # the HIS has not answered yet: built as it stands
                    order = factories.appointment_order(patient, "paid", slc=slc)
                    payment = db.session.scalar(select(PaymentOrder).where(PaymentOrder.appointment_id == order.id))
                elif state == "confirm_failed":  # the HIS refused the registration, the refund not yet asked
                    order = factories.appointment_order(patient, "failed", slc=slc, with_payment=False)
                    payment = factories.payment_order(patient, kind="registration", status="confirm_failed",
                                                      amount_fen=order.fee_fen, appointment_id=order.id,
                                                      business_ref=order.order_no)
                else:
                    result = registration.book(owner_id, patient.id, slc.id)
                    made[state] = (result.order.id, result.payment_order_no)
                    continue
                made[state] = (order.id, payment.order_no)
            assert offer_survey(owner_id, "visit", made["confirmed"][1])
            bills_patient = third.id
            db.session.commit()
        # the others into their states through the channel, as the patient gets there
        for state in ("confirmed", "refunded"):
            pay(app, live_server, sandbox, owner_id, made[state][1])
        with app.app_context():
            registration.cancel_by_patient(owner_id, made["refunded"][0], "行程有变")
            registration.cancel_by_patient(owner_id, made["closed"][0], "")
            payments.start_payment(made["paying"][1], owner_id, owner_uid, f"{live_server}/h5/")
            db.session.commit()
        assert factories.wait_for(lambda: payment_states(app, made) == {s: s for s in STATES}, timeout=20), \
            payment_states(app, made)
        # an outpatient payment of the bills patient, opened from 门诊缴费 and left unpaid
        with app.app_context():
            from app.billing import bills as billing
            from app.services.his_access import his_gateway

            bills = his_gateway().pending_bills(BILLS_CARD)
            outpatient = billing.create_bill_payment(owner_id, bills_patient, [b.bill_no for b in bills],
                                                     sum(b.amount_fen for b in bills), "wechat").order_no
        yield {"owner": owner_id, "orders": made, "since": since, "outpatient": outpatient}
    finally:
        clock.reset()
