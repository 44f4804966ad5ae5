"""The doubles (doubles/: HIS simulator, sandbox channels, demo) are reached only through app/doubles_switch.py:
a production image may delete the package and still start, and a configuration naming a double it lacks is
refused at start with one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.doubles_switch import doubles_named
from tests.production_env import PRODUCTION_ENV

ROOT = Path(__file__).resolve().parents[2]

# Runs in a fresh interpreter where `import doubles` fails as in an image built without the package.
START_WITHOUT_DOUBLES = r"""
import importlib.abc, json, sys


class LeftOutOfTheImage(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "doubles" or name.startswith("doubles."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, LeftOutOfTheImage())
from app import ConfigurationRefused, create_app
from config import Config, ProductionConfig

kind, env = sys.argv[1], json.loads(sys.argv[2])
try:
    app = create_app(ProductionConfig(env) if kind == "production" else Config)
except ConfigurationRefused as refused:
    print(json.dumps({"refused": str(refused)}))
    sys.exit(0)
response = app.test_client().get("/api/health/live")
demo = app.cli.get_command(None, "demo")
print(json.dumps({
    "status": response.status_code, "body": response.get_json(),
    "doubles_imported": sorted(m for m in sys.modules if m == "doubles" or m.startswith("doubles.")),
    "sandbox_routes": [r.rule for r in app.url_map.iter_rules() if r.rule.startswith("/sandbox")],
    "his_cli": app.cli.get_command(None, "his") is not None,
    "demo_commands": sorted(demo.commands),
}))
"""


def _start_without_doubles(kind: str, tmp_path: Path) -> dict:
    env = dict(PRODUCTION_ENV, SECRET_KEY="s" * 40, DATABASE_URL=f"sqlite:///{tmp_path / 'platform.db'}",
               REDIS_URL="redis://127.0.0.1:6379/15")  # never reached: no task is queued
    process_env = {"PYTHONPATH": str(ROOT), "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                   "INSTANCE_DIR": str(tmp_path / "instance"), "HUEY_URL": "memory://"}
    result = subprocess.run([sys.executable, "-c", START_WITHOUT_DOUBLES, kind, json.dumps(env)], cwd=ROOT,
                            env=process_env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_production_starts_and_serves_without_the_doubles_package(tmp_path):
    started = _start_without_doubles("production", tmp_path)
    assert "refused" not in started, started
    assert (started["status"], started["body"]) == (200, {"status": "ok"})
    assert started["doubles_imported"] == []
    assert started["sandbox_routes"] == []
    assert started["his_cli"] is False
    assert started["demo_commands"] == ["remove-accounts"]  # production must still be able to remove them


def test_a_demo_configuration_without_the_doubles_is_refused_naming_what_needs_them(tmp_path):
    # the same blocker against the embedded default: proves the production start above ran without them
    refused = _start_without_doubles("development", tmp_path)["refused"]
    assert "HIS_MODE=simulator" in refused and "PAYMENT_MODE=sandbox" in refused and "DEMO_MODE" in refused
    assert "doubles" in refused


@pytest.mark.parametrize(("cfg", "named"), [
    ({}, ["HIS_MODE=simulator", "PAYMENT_MODE=sandbox", "OAUTH_MODE=sandbox", "MESSAGE_MODE=sandbox"]),
    ({"HIS_MODE": "http", "PAYMENT_MODE": "live", "OAUTH_MODE": "live", "MESSAGE_MODE": "live"}, []),
    ({"HIS_MODE": "http", "PAYMENT_MODE": "live", "OAUTH_MODE": "sandbox", "MESSAGE_MODE": "live",
      "DEMO_MODE": True}, ["OAUTH_MODE=sandbox", "DEMO_MODE"]),
])
def test_the_switch_reads_each_mode(cfg, named):
    assert doubles_named(cfg) == named


def test_without_the_doubles_plugged_in_each_adapter_names_the_package(monkeypatch):
    from app import channels, his
    from app.channels import identity, messages

    for registry in (his.GATEWAY_BUILDERS, channels.PAYMENT_MODES, identity.OAUTH_MODES, messages.MESSAGE_MODES):
        for key in list(registry):
            monkeypatch.delitem(registry, key)
    calls = [lambda: his.make_his({"HIS_MODE": "simulator"}),
             lambda: channels.make_channels({"PAYMENT_MODE": "sandbox"}),
             lambda: identity.make_oauth({"OAUTH_MODE": "sandbox", "SECRET_KEY": "x"}, "wechat"),
             lambda: messages.make_sender({"MESSAGE_MODE": "sandbox"}, "wechat")]
    for call in calls:
        with pytest.raises(ValueError, match="needs the doubles package"):
            call()
