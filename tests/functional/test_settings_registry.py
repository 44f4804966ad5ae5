"""One registry of settings (issue 13 #14): the validator, the readers and the demo seed all take key,
type, range, default and Chinese label from app/services/settings.REGISTRY, so they cannot drift."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import select, update

from app.extensions import db
from app.models import SystemSetting
from app.services import configuration, settings
from app.services.configuration import InvalidConfiguration
from tests.backoffice_helpers import login, seed_staff_and_orders
from tests.helpers.statements import statements_sent

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


# -- the booking rules kept per process (issue 19 item 5: a booking read and parsed them every time) ---

def _setting_reads(run) -> int:
    """How many statements ``run()`` sends that read system_setting."""
    with statements_sent() as sent:
        run()
    return sum("system_setting" in statement for statement in sent)


def test_booking_rules_are_kept_for_a_few_seconds_and_a_change_here_is_seen_at_once(app, client, monkeypatch):
    seed_staff_and_orders(app, days=1, per_day=1)
    with app.app_context():
        assert settings.booking_rules().max_active == 3
        assert _setting_reads(settings.booking_rules) == 0, "read again within the seconds it is kept"
        row = db.session.scalar(select(SystemSetting.id).where(SystemSetting.key == "booking.max_active_per_patient"))
    login(client, "ops")  # staff change the rule in the back-office of this process: seen by the next booking
    client.post(f"/systemsettingview/edit/{row}", data={"value": "1", "description": "每位就诊人最多有效预约数"})
    with app.app_context():
        assert settings.booking_rules().max_active == 1
        # another node (or process) changes it: this process sees it once its copy is older than the TTL
        with db.engine.begin() as conn:
            conn.execute(SystemSetting.__table__.update().where(SystemSetting.key == "booking.max_active_per_patient")
                         .values(value="2"))
        assert settings.booking_rules().max_active == 1
        db.session.rollback()  # a later request's transaction (MariaDB's repeatable read would show the old row)
        later = settings._monotonic() + app.config["SETTINGS_CACHE_SECONDS"] + 0.01
        monkeypatch.setattr(settings, "_monotonic", lambda: later)
        assert settings.booking_rules().max_active == 2


def test_a_rule_written_in_a_transaction_is_read_by_it_and_forgotten_when_it_rolls_back(ctx):
    from app.services.uow import unit_of_work

    assert settings.booking_rules().days_ahead == 7
    with pytest.raises(RuntimeError), unit_of_work():
        settings.set_value("booking.days_ahead", "3")
        assert settings.booking_rules().days_ahead == 3  # its own uncommitted change, not the kept copy
        raise RuntimeError("refused")
    assert settings.booking_rules().days_ahead == 7
    settings.set_value("booking.days_ahead", "4")
    db.session.commit()
    assert settings.booking_rules().days_ahead == 4
    db.session.execute(update(SystemSetting).where(SystemSetting.key == "booking.days_ahead").values(value="5"))
    assert settings.booking_rules().days_ahead == 5  # a bulk UPDATE through the session forgets too
    db.session.commit()
    assert settings.booking_rules().days_ahead == 5
