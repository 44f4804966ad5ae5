"""Start-up and readiness checks; each failure is one line telling the operator what to do."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from flask import current_app
from sqlalchemy import text

from app.extensions import db

log = logging.getLogger(__name__)

DEMO_USERNAMES = ("admin", "finance", "ops", "service")


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def _database() -> Check:
    try:
        db.session.execute(text("SELECT 1"))
        return Check("database", True, "reachable")
    except Exception as exc:  # noqa: BLE001 - any failure here means the same to the operator
        db.session.rollback()
        url = db.engine.url.render_as_string(hide_password=True)
        return Check("database", False, f"cannot connect to {url} ({type(exc).__name__}): "
                                        "start the database or fix DATABASE_URL")


def _migrations() -> Check:
    from alembic.config import Config as AlembicConfig
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    directory = Path(current_app.root_path).parent / "migrations"
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(directory))
    heads = set(ScriptDirectory.from_config(cfg).get_heads())
    try:
        with db.engine.connect() as conn:
            current = set(MigrationContext.configure(conn).get_current_heads())
    except Exception as exc:  # noqa: BLE001 - any failure here means the same to the operator
        return Check("migrations", False, f"cannot read the schema version ({type(exc).__name__})")
    if current != heads:
        return Check("migrations", False, f"database at {sorted(current) or 'empty'}, code needs "
                                          f"{sorted(heads)}: run `flask db upgrade`")
    return Check("migrations", True, f"at head {', '.join(sorted(heads))}")


def _his() -> Check:
    from app.services.his_access import his_gateway

    try:
        his_gateway().health()
        return Check("his", True, f"reachable ({current_app.config['HIS_MODE']})")
    except Exception as exc:  # noqa: BLE001 - any failure here means the same to the operator
        where = current_app.config["HIS_BASE_URL"] if current_app.config["HIS_MODE"] == "http" else "simulator"
        return Check("his", False, f"HIS not reachable at {where} ({type(exc).__name__}: {exc}); "
                                   "check HIS_BASE_URL and the hospital's integration endpoint")


def _huey() -> Check:
    try:
        huey = current_app.extensions["huey"]  # given by create_app: the domain never imports the tasks
        huey.pending_count()
        return Check("queue", True, type(huey).__name__)
    except Exception as exc:  # noqa: BLE001 - any failure here means the same to the operator
        return Check("queue", False, f"task queue unreachable ({type(exc).__name__}): start Redis or fix REDIS_URL")


def _demo_accounts() -> Check:
    if current_app.config.get("DEMO_MODE"):
        return Check("demo_accounts", True, "demo mode")
    sm = current_app.appbuilder.sm
    present = [u for u in DEMO_USERNAMES if sm.find_user(username=u) is not None]
    if present:
        return Check("demo_accounts", False, f"demo accounts exist ({', '.join(present)}): delete them "
                                             "(flask demo remove-accounts) before starting in production")
    return Check("demo_accounts", True, "none")


def _channels() -> list[Check]:
    """Each payment channel answers a query for an order it cannot know (a reachable channel says "no
    such order"; an unreachable one raises ChannelUnavailable). Off in tests (HEALTH_CHECK_CHANNELS)."""
    from app.operations.degrade import channel_checks

    return [Check(name, ok, detail) for name, ok, detail in channel_checks()]


def run_checks(include_his: bool = True, include_channels: bool = True) -> list[Check]:
    """Run every check in order; later checks are skipped when the database is down."""
    results = [_database()]
    if not results[0].ok:
        return results
    results.append(_migrations())
    if results[-1].ok:
        results.append(_demo_accounts())
    results.append(_huey())
    if include_his:
        results.append(_his())
        if include_channels and current_app.config.get("HEALTH_CHECK_CHANNELS"):
            results.extend(_channels())
    return results
