"""Engine and clock of the simulated hospital."""

from __future__ import annotations

import datetime as dt
import os

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

from app import clock

from .models import HisBase

DEFAULT_SIMULATOR_URL = "sqlite:///instance/his_simulator.db"
CHINA_TZ = clock.BEIJING  # no DST in China


def hospital_now() -> dt.datetime:
    """Current hospital local time (UTC+8), naive, to the second."""
    return clock.beijing_now().replace(microsecond=0)


def make_engine(db_url: str) -> Engine:
    """An engine for the simulator database with every table created (idempotent).

    For SQLite files the parent directory is created and writers wait up to 30 s for the lock,
    so concurrent requests queue instead of failing.
    """
    url = make_url(db_url)
    connect_args: dict[str, object] = {}
    if url.get_backend_name() == "sqlite":
        connect_args["timeout"] = 30
        if url.database and url.database != ":memory:":
            folder = os.path.dirname(os.path.abspath(url.database))
            os.makedirs(folder, exist_ok=True)
    engine = create_engine(url, connect_args=connect_args)
    if url.get_backend_name() == "sqlite":

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

    HisBase.metadata.create_all(engine)
    return engine
