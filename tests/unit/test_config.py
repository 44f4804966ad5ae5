"""The factory and configuration: production refuses unsafe settings with a line naming the variable."""

from __future__ import annotations

import pytest

from app import ConfigurationRefused, create_app
from config import DEV_SECRET_KEY, ProductionConfig
from tests.production_env import PRODUCTION_ENV

GOOD_ENV = PRODUCTION_ENV


def test_good_production_environment_has_no_problems():
    assert ProductionConfig(GOOD_ENV).problems() == []


@pytest.mark.parametrize("missing", ["SECRET_KEY", "DATABASE_URL", "REDIS_URL", "HIS_SECRET", "WECHAT_PAY_APIV3_KEY"])
def test_missing_secret_is_named(missing):
    env = dict(GOOD_ENV)
    del env[missing]
    problems = ProductionConfig(env).problems()
    assert any(p.startswith(f"{missing} is not set") for p in problems), problems


def test_development_default_secret_is_refused():
    env = dict(GOOD_ENV, SECRET_KEY=DEV_SECRET_KEY)
    problems = ProductionConfig(env).problems()
    assert any("SECRET_KEY is still the development default" in p for p in problems)


def test_create_app_refuses_production_with_one_clear_message(monkeypatch):
    for key in GOOD_ENV:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("SECRET_KEY", "short")
    with pytest.raises(ConfigurationRefused) as refused:
        create_app("production")
    message = str(refused.value)
    assert "DATABASE_URL is not set" in message and "SECRET_KEY is too short" in message


def test_embedded_default_needs_no_environment():
    from config import Config

    assert Config.SQLALCHEMY_DATABASE_URI.startswith("sqlite:///")
    assert Config.HUEY_URL.startswith("sqlite:///")
    assert Config.HIS_MODE == "simulator" and Config.PAYMENT_MODE == "sandbox"
    assert Config.BABEL_DEFAULT_LOCALE == "zh_CN"


@pytest.mark.parametrize("name", ["HIS_SECRET", "HIS_EVENT_SECRET", "SECRET_KEY"])
def test_short_secrets_are_refused(name):
    problems = ProductionConfig(dict(GOOD_ENV, **{name: "x"})).problems()
    assert any(p.startswith(f"{name} is too short") for p in problems), problems


@pytest.mark.parametrize("key", ["short", "k" * 33])
def test_an_apiv3_key_that_is_not_32_bytes_is_refused(key):
    problems = ProductionConfig(dict(GOOD_ENV, WECHAT_PAY_APIV3_KEY=key)).problems()
    assert any(p.startswith("WECHAT_PAY_APIV3_KEY must be exactly 32 bytes") for p in problems), problems


@pytest.mark.parametrize("missing", ["WECHAT_APPID", "WECHAT_MCHID", "ALIPAY_APPID", "ALIPAY_SELLER_ID"])
def test_missing_merchant_ids_are_refused_at_start(missing):
    env = dict(GOOD_ENV)
    del env[missing]
    assert any(p.startswith(f"{missing} is not set") for p in ProductionConfig(env).problems())


def test_production_reads_the_alipay_seller_id():
    assert ProductionConfig(GOOD_ENV).ALIPAY_SELLER_ID == "2088101122334455"


def test_migrations_run_before_the_start_up_check(tmp_path):
    """`flask --app run db upgrade` in production on a database that needs it: the start-up check (which
    would refuse an out-of-date database) waits for `flask run` / gunicorn."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = dict(os.environ, APP_ENV="production", INSTANCE_DIR=str(tmp_path), **GOOD_ENV)
    env.update(DATABASE_URL=f"sqlite:///{tmp_path / 'prod.db'}", HIS_BASE_URL="http://127.0.0.1:1/his/v1")
    flask = str(Path(sys.executable).parent / "flask")
    root = Path(__file__).resolve().parents[2]
    upgrade = subprocess.run([flask, "--app", "run", "db", "upgrade"], capture_output=True, text=True, env=env,
                             timeout=300, cwd=root)
    assert upgrade.returncode == 0, upgrade.stderr[-2000:]
    serve = subprocess.run([sys.executable, "-c", "import run"], capture_output=True, text=True, env=env,
                           timeout=300, cwd=root)
    assert serve.returncode == 1, serve.stderr[-2000:]  # serving still checks (here: the HIS is not there)


def test_admin_and_finance_need_the_second_factor_unless_a_setting_says_otherwise(app, ctx):
    from config import Config, ProductionConfig

    from app.services.settings import security_rules, set_value

    assert Config.TOTP_REQUIRED_ROLES == ProductionConfig.TOTP_REQUIRED_ROLES == "Admin,Finance"
    old = app.config["TOTP_REQUIRED_ROLES"]
    app.config["TOTP_REQUIRED_ROLES"] = ProductionConfig.TOTP_REQUIRED_ROLES
    try:
        assert security_rules().totp_required_roles == ("Admin", "Finance")
        set_value("security.totp_required_roles", "Admin")
        assert security_rules().totp_required_roles == ("Admin",)
    finally:
        app.config["TOTP_REQUIRED_ROLES"] = old


def test_the_embedded_queue_is_polled_at_least_every_second():
    """`make run` queues on SQLite, which the consumer polls, backing off to 10 s when idle by default: a paid
    booking waited up to 10 s for its HIS confirmation (支付成功，正在向医院确认) after a quiet minute."""
    import re
    from pathlib import Path

    makefile = (Path(__file__).resolve().parents[2] / "Makefile").read_text(encoding="utf-8")
    line = next(line for line in makefile.splitlines() if "huey_consumer" in line)
    found = re.search(r"(?:--max-delay[ =]|-m )([0-9.]+)", line)
    assert found and float(found.group(1)) <= 1, line
