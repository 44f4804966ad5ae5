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
