"""Demo seed idempotency and the start-up checks' one-line answers."""

from __future__ import annotations

from sqlalchemy import func, select

from app.extensions import db
from app.models import ServiceInstruction, SystemSetting


def _counts(app):
    sm = app.appbuilder.sm
    return (
        db.session.scalar(select(func.count()).select_from(sm.user_model)),
        db.session.scalar(select(func.count()).select_from(ServiceInstruction)),
        db.session.scalar(select(func.count()).select_from(SystemSetting)),
        db.session.scalar(select(func.count()).select_from(sm.role_model)),
    )


def test_demo_seed_twice_changes_nothing(app, ctx, his):
    from app.services.demo import seed_demo

    seed_demo()
    first = _counts(app)
    seed_demo()
    assert _counts(app) == first
    assert first[0] >= 4 and first[1] >= 4


def test_preflight_passes_on_a_migrated_database(app, ctx, his):
    from app.services.preflight import run_checks

    assert [c.name for c in run_checks() if not c.ok] == []


def test_preflight_names_a_missing_migration(app, ctx):
    from sqlalchemy import text

    from app.services.preflight import run_checks

    with db.engine.begin() as conn:
        (old,) = conn.execute(text("SELECT version_num FROM alembic_version")).one()
        conn.execute(text("UPDATE alembic_version SET version_num = 'stale0000'"))
    try:
        failed = {c.name: c.detail for c in run_checks(include_his=False) if not c.ok}
        assert "flask db upgrade" in failed["migrations"]
    finally:
        with db.engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": old})


def test_preflight_names_an_unreachable_database():
    from app import create_app
    from app.services.preflight import run_checks

    broken = create_app("test", SQLALCHEMY_DATABASE_URI="mysql+pymysql://nobody@127.0.0.1:1/none")
    with broken.app_context():
        (check,) = run_checks()
    assert not check.ok and "cannot connect" in check.detail and "DATABASE_URL" in check.detail


def test_preflight_names_an_unreachable_his(app, ctx):
    from app.services.preflight import run_checks

    app.config.update(HIS_MODE="http", HIS_BASE_URL="http://127.0.0.1:1/his/v1", HIS_TIMEOUT=0.5)
    app.extensions.pop("his_gateway", None)
    try:
        failed = {c.name: c.detail for c in run_checks() if not c.ok}
        assert "HIS not reachable" in failed["his"]
    finally:
        app.config.update(HIS_MODE="simulator")
        app.extensions.pop("his_gateway", None)


def test_production_refuses_to_start_with_demo_accounts(app, ctx):
    from app.services.demo import seed_demo
    from app.services.preflight import run_checks

    seed_demo()
    app.config["DEMO_MODE"] = False
    try:
        failed = {c.name: c.detail for c in run_checks(include_his=False) if not c.ok}
        assert "demo accounts exist" in failed["demo_accounts"]
    finally:
        app.config["DEMO_MODE"] = True
