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
    from doubles.demo.hospital import seed_demo

    seed_demo()
    first = _counts(app)
    seed_demo()
    assert _counts(app) == first
    assert first[0] >= 4 and first[1] >= 4


def test_preflight_passes_on_a_migrated_database(app, ctx, his):
    from app.operations.preflight import run_checks

    assert [c.name for c in run_checks() if not c.ok] == []


def test_preflight_names_a_missing_migration(app, ctx):
    from sqlalchemy import text

    from app.operations.preflight import run_checks

    with db.engine.begin() as conn:
        (old,) = conn.execute(text("SELECT version_num FROM alembic_version")).one()
        conn.execute(text("UPDATE alembic_version SET version_num = 'stale0000'"))
    try:
        failed = {c.name: c.detail for c in run_checks(include_his=False) if not c.ok}
        assert "flask db upgrade" in failed["migrations"]
    finally:
        with db.engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": old})


def test_unreachable_database_stops_the_start_with_one_clear_line(tmp_path):
    """`flask preflight` (run by `make run`) in a fresh process against a database that is not there."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = dict(os.environ, APP_ENV="test", INSTANCE_DIR=str(tmp_path), HUEY_URL="memory://",
               TEST_DATABASE_URL="mysql+pymysql://nobody@127.0.0.1:1/none")
    result = subprocess.run([str(Path(sys.executable).parent / "flask"), "--app", "run", "preflight"],
                            capture_output=True, text=True, env=env, timeout=120,
                            cwd=Path(__file__).resolve().parents[2])
    assert result.returncode == 1
    problems = [line for line in result.stderr.splitlines() if line.startswith("启动检查失败")]
    assert len(problems) == 1 and "cannot connect" in problems[0] and "DATABASE_URL" in problems[0], result.stderr


def test_preflight_names_an_unreachable_his(app, ctx):
    from app.operations.preflight import run_checks

    app.config.update(HIS_MODE="http", HIS_BASE_URL="http://127.0.0.1:1/his/v1", HIS_TIMEOUT=0.5)
    app.extensions.pop("his_gateway", None)
    try:
        failed = {c.name: c.detail for c in run_checks() if not c.ok}
        assert "HIS not reachable" in failed["his"]
    finally:
        app.config.update(HIS_MODE="simulator")
        app.extensions.pop("his_gateway", None)


def test_production_refuses_to_start_with_demo_accounts(app, ctx):
    from doubles.demo.hospital import seed_demo
    from app.operations.preflight import run_checks

    seed_demo()
    app.config["DEMO_MODE"] = False
    try:
        failed = {c.name: c.detail for c in run_checks(include_his=False) if not c.ok}
        assert "demo accounts exist" in failed["demo_accounts"]
    finally:
        app.config["DEMO_MODE"] = True


def test_make_runs_preflight_leaves_the_sandbox_channels_to_readiness(app, ctx, his, monkeypatch):
    """`make run` failed on a fresh machine: the start-up check asked the sandbox cashier, which this very app
    serves, before the app was started. In sandbox mode the start does not ask the channels (readiness does
    once the app runs); in live mode an unreachable channel still stops the start."""
    from app.operations import degrade

    calls = []

    def unreachable():
        calls.append(1)
        return [("wechat", False, "wechat not reachable (NETWORK: connection refused)")]

    monkeypatch.setattr(degrade, "channel_checks", unreachable)
    monkeypatch.setitem(app.config, "HEALTH_CHECK_CHANNELS", True)
    runner = app.test_cli_runner()

    monkeypatch.setitem(app.config, "PAYMENT_MODE", "sandbox")
    result = runner.invoke(args=["preflight"])
    assert result.exit_code == 0 and "preflight ok" in result.output and not calls, result.output

    monkeypatch.setitem(app.config, "PAYMENT_MODE", "live")
    result = runner.invoke(args=["preflight"])
    assert result.exit_code == 1 and "[wechat]" in result.output and calls, result.output
