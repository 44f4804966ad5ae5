"""One registry of settings (issue 13 #14): the validator, the readers and the demo seed all take key,
type, range, default and Chinese label from app/services/settings.REGISTRY, so they cannot drift."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import SystemSetting
from app.services import configuration, settings
from app.services.configuration import InvalidConfiguration
from tests.backoffice_helpers import login, seed_staff_and_orders

APP = Path(__file__).resolve().parents[2] / "app"
REGISTRY_MODULES = {"services/configuration.py", "services/demo.py"}


def test_every_registered_setting_is_read_somewhere():
    """A key that is validated and seeded but read by nothing is a lie on the settings page."""
    sources = "\n".join(p.read_text(encoding="utf-8") for p in APP.rglob("*.py")
                        if str(p.relative_to(APP)) not in REGISTRY_MODULES)
    registry = (APP / "services/settings.py").read_text(encoding="utf-8")
    sources = sources.replace(registry[registry.index("REGISTRY: dict"):registry.index("RETIRED = ")], "")
    unread = [key for key in settings.REGISTRY if f'"{key}"' not in sources]
    assert not unread, unread


def test_readers_take_only_registered_keys(ctx):
    with pytest.raises(KeyError):
        settings.setting_text("booking.no_such_key")


@pytest.mark.parametrize(("key", "value", "stored"), [
    ("booking.same_day", "0", "0"), ("booking.same_day", "是", "1"), ("booking.advance", "false", "0"),
    ("reminder.quiet_hours", "23:00-07:30", "23:00-07:30"), ("booking.days_ahead", " 14 ", "14"),
    ("deposit.min_yuan", "99.5", "99.50"), ("hospital.location", "22.17,111.79", "22.17,111.79"),
])
def test_the_validator_normalises_by_the_registry(ctx, key, value, stored):
    assert configuration.validate_setting(key, value) == stored


@pytest.mark.parametrize(("key", "value", "says"), [
    ("booking.same_day", "maybe", "应为 是/否"), ("booking.same_day_enabled", "1", "没有这个设置项"),
    ("booking.max_active", "3", "没有这个设置项"), ("payment.timeout_minutes", "15", "没有这个设置项"),
    ("reminder.quiet_hours", "25:00-07:00", "HH:MM-HH:MM"), ("booking.days_ahead", "99", "应在 1 到 60 之间"),
    ("deposit.min_yuan", "-1", "金额"), ("hospital.location", "north", "纬度,经度"),
])
def test_the_validator_refuses_with_a_chinese_message(ctx, key, value, says):
    with pytest.raises(InvalidConfiguration) as refused:
        configuration.validate_setting(key, value)
    assert says in str(refused.value)


def test_the_demo_seeds_registered_defaults_with_their_labels(app, clean_db):
    seed_staff_and_orders(app, days=1, per_day=1)
    with app.app_context():
        rows = db.session.scalars(select(SystemSetting)).all()
        assert rows
        for row in rows:
            entry = settings.REGISTRY[row.key]
            assert row.value == settings.DEMO_VALUES.get(row.key, entry.default), row.key
            assert row.description == str(entry.label), row.key
            assert configuration.validate_setting(row.key, row.value) == row.value


def test_readers_use_the_stored_value_and_fall_back_to_the_registry_default(ctx):
    assert settings.booking_rules().same_day is True
    settings.set_value("booking.same_day", "0")
    settings.set_value("booking.days_ahead", "not a number")  # an old bad row: the default, loudly
    db.session.flush()
    rules = settings.booking_rules()
    assert rules.same_day is False and rules.days_ahead == int(settings.REGISTRY["booking.days_ahead"].default)


def test_staff_save_quiet_hours_and_are_refused_unknown_keys(app, client):
    seed_staff_and_orders(app, days=1, per_day=1)
    login(client, "ops")
    with app.app_context():
        quiet = db.session.scalar(select(SystemSetting.id).where(SystemSetting.key == "reminder.quiet_hours"))
    client.post(f"/systemsettingview/edit/{quiet}", data={"value": "21:30-07:00", "description": "免打扰时段"})
    with app.app_context():
        assert db.session.get(SystemSetting, quiet).value == "21:30-07:00"
    unknown = client.post("/systemsettingview/add", data={"key": "booking.whatever", "value": "1",
                                                          "description": "x"})
    assert unknown.status_code == 200 and "没有这个设置项" in unknown.get_data(as_text=True)
    page = client.get("/systemsettingview/list/?psize_SystemSettingView=100").get_data(as_text=True)
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))
    assert "booking.same_day 是 开放当天挂号" in text and "reminder.quiet_hours 21:30-07:00 免打扰时段" in text, text
