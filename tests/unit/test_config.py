"""The factory and configuration: production refuses unsafe settings with a line naming the variable."""

from __future__ import annotations

import pytest

from app import ConfigurationRefused, create_app
from config import DEV_SECRET_KEY, ProductionConfig

GOOD_ENV = {
    "SECRET_KEY": "x" * 40,
    "DATABASE_URL": "mysql+pymysql://hospital:pw@db/hospital",
    "REDIS_URL": "redis://127.0.0.1:6379/1",
    "HIS_BASE_URL": "https://his.example/his/v1",
    "HIS_SECRET": "real-his-secret",
    "HIS_EVENT_SECRET": "real-his-event-secret",
    "PUBLIC_BASE_URL": "https://pay.hospital.example",
    "WECHAT_APPSECRET": "real-appsecret",
    "WECHAT_TOKEN": "real-token",
    "WECHAT_PAY_APIV3_KEY": "k" * 32,
    "ALIPAY_PRIVATE_KEY": "/etc/hospital/alipay.pem",
}


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
