"""Fixtures of the HIS adapter tests: one seeded template per session, a copy per test, and the
gateway under test as either the simulator itself or HttpHis talking to it over a real socket."""

from __future__ import annotations

import datetime as dt
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from werkzeug.serving import BaseWSGIServer, make_server

from app.his.http import HttpHis
from app.his.interface import HisGateway
from doubles.his.server import create_his_server
from doubles.his.simulator import (
    SeedPatient,
    SimulatorHis,
    generate_patients,
    hospital_now,
    seed,
)

APP_ID = "test-platform"
SECRET = "test-secret-0123456789"


class LocalServer:
    """A WSGI app served on a free 127.0.0.1 port in a background thread."""

    def __init__(self, wsgi_app: object) -> None:
        self.server: BaseWSGIServer = make_server("127.0.0.1", 0, wsgi_app, threaded=True)  # type: ignore[arg-type]
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    def stop(self) -> None:
        """Stop serving and free the port (idempotent)."""
        if not self.thread.is_alive():
            return
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture(scope="session")
def seed_today() -> dt.date:
    return hospital_now().date()


@pytest.fixture(scope="session")
def hospital_template(tmp_path_factory: pytest.TempPathFactory, seed_today: dt.date) -> Path:
    """The seeded simulator database, built once per session."""
    path = tmp_path_factory.mktemp("his-template") / "his_template.db"
    seed(f"sqlite:///{path}", seed_today)
    return path


@pytest.fixture()
def sim_url(hospital_template: Path, tmp_path: Path) -> str:
    """URL of this test's own copy of the seeded hospital."""
    path = tmp_path / "his.db"
    shutil.copy(hospital_template, path)
    return f"sqlite:///{path}"


@pytest.fixture()
def sim(sim_url: str) -> Iterator[SimulatorHis]:
    his = SimulatorHis(sim_url)
    yield his
    his.close()


@pytest.fixture()
def his_server(sim: SimulatorHis, sim_url: str) -> Iterator[LocalServer]:
    """The simulator (the same instance as ``sim``) served over HTTP on a local port."""
    server = LocalServer(create_his_server(sim_url, APP_ID, SECRET, his=sim))
    yield server
    server.stop()


@pytest.fixture(params=["simulator", "http"])
def gateway(request: pytest.FixtureRequest, sim: SimulatorHis) -> Iterator[HisGateway]:
    """The gateway under test; both implementations must pass the same contract."""
    if request.param == "simulator":
        yield sim
        return
    server: LocalServer = request.getfixturevalue("his_server")
    client = HttpHis(server.url + "/his/v1", APP_ID, SECRET, timeout=10)
    yield client
    client.close()


@pytest.fixture(scope="session")
def patients() -> list[SeedPatient]:
    return generate_patients()


@pytest.fixture()
def serve() -> Iterator[Callable[[object], LocalServer]]:
    """Start any WSGI app on a free local port for this test; stopped afterwards."""
    started: list[LocalServer] = []

    def start(wsgi_app: object) -> LocalServer:
        server = LocalServer(wsgi_app)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def credentials() -> tuple[str, str]:
    """The (app_id, secret) the test HIS server accepts."""
    return APP_ID, SECRET
