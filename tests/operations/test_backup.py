"""Backups that restore: an archive of the running platform, restored into an empty database, starts a
platform that shows the same orders (SQLite always; MariaDB with mysqldump when the suite runs on it)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from app.extensions import db
from app.models import PaymentOrder
from app.operations import backup as ops_backup
from tests.backoffice_helpers import seed_staff_and_orders

ROOT = Path(__file__).resolve().parents[2]


def order_numbers(url: str) -> list[str]:
    engine = create_engine(url)
    with engine.connect() as conn:
        found = sorted(conn.execute(text("SELECT order_no FROM payment_order")).scalars())
    engine.dispose()
    return found


RESTORED_PLATFORM = """
import json, os, sys
os.environ["HUEY_URL"] = "memory://"
from app import create_app
from app.extensions import db
from app.models import PaymentOrder
from app.operations.preflight import run_checks
app = create_app("test", SQLALCHEMY_DATABASE_URI=sys.argv[1], HIS_SIMULATOR_URL=sys.argv[2])
with app.app_context():
    checks = {c.name: c.ok for c in run_checks(include_his=False)}
    numbers = sorted(db.session.scalars(db.select(PaymentOrder.order_no)))
client = app.test_client()
login = client.post("/login/", data={"username": "admin", "password": "admin123"})
listing = client.get("/paymentorderview/list/?psize_PaymentOrderView=100").get_data(as_text=True)
print(json.dumps({"checks": checks, "numbers": numbers, "login": login.status_code,
                  "listed": [n for n in numbers if n in listing]}))
"""


def run_flask(args: list[str], env: dict) -> subprocess.CompletedProcess:
    flask = str(Path(sys.executable).parent / "flask")
    return subprocess.run([flask, "--app", "run", *args], capture_output=True, text=True, env=env, timeout=300,
                          cwd=str(ROOT))


def restored_platform_shows(app_url: str, his_url: str, expected: list[str], env: dict) -> None:
    """A new process starts the platform on the restored database: the start-up checks pass (migrations
    at head) and the back-office lists the same orders."""
    done = subprocess.run([sys.executable, "-c", RESTORED_PLATFORM, app_url, his_url], capture_output=True,
                          text=True, env=env, timeout=300, cwd=str(ROOT))
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["checks"]["database"] and seen["checks"]["migrations"], seen["checks"]
    assert seen["numbers"] == expected and seen["login"] == 302
    assert sorted(seen["listed"]) == expected


@pytest.fixture()
def orders(app, clean_db):
    seed_staff_and_orders(app, days=2, per_day=4)
    with app.app_context():
        return sorted(db.session.scalars(select(PaymentOrder.order_no)))


@pytest.mark.skipif(not os.environ["TEST_DATABASE_URL"].startswith("sqlite"), reason="the embedded default")
def test_flask_ops_backup_then_restore_into_an_empty_database(app, orders, tmp_path):
    assert len(orders) >= 8
    runner = app.test_cli_runner()
    made = runner.invoke(args=["ops", "backup", "--to", str(tmp_path / "backups")])
    assert made.exit_code == 0, made.output
    archive = next((tmp_path / "backups").glob("hospital-backup-*.tar.gz"))
    with tarfile.open(archive) as tar:
        assert {"manifest.json", "platform.db"} <= set(tar.getnames())
    manifest = ops_backup.read_manifest(archive)
    assert manifest["rows"]["payment_order"] == len(orders) and manifest["revision"]

    # a new machine: an empty instance directory, an empty database, the platform's own CLI
    instance = tmp_path / "new-machine"
    target = f"sqlite:///{instance / 'platform.db'}"
    env = dict(os.environ, APP_ENV="development", INSTANCE_DIR=str(instance), DATABASE_URL=target,
               HUEY_URL="memory://")
    done = run_flask(["ops", "restore", str(archive)], env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert order_numbers(target) == orders
    his_copy = f"sqlite:///{instance / 'his_simulator.db'}"
    assert Path(make_url(his_copy).database).exists()  # the demo HIS came back with it
    restored_platform_shows(target, his_copy, orders, env)

    # restoring over a database that holds orders needs --force; a damaged archive is refused
    again = run_flask(["ops", "restore", str(archive)], env)
    assert again.returncode != 0 and "already holds orders" in again.stderr
    damaged = tmp_path / "damaged.tar.gz"
    _damage(archive, damaged)
    with pytest.raises(ops_backup.BackupError, match="damaged"):
        ops_backup.restore(damaged, f"sqlite:///{tmp_path / 'other.db'}")


def _damage(archive: Path, target: Path) -> None:
    import io

    with tarfile.open(archive) as src, tarfile.open(target, "w:gz") as dst:
        for member in src.getmembers():
            data = src.extractfile(member).read() if member.isfile() else None
            if member.name == "platform.db":
                middle = len(data) // 2  # flip bytes (the end of a SQLite file may be zeros already)
                data = data[:middle] + bytes(b ^ 0xFF for b in data[middle:middle + 64]) + data[middle + 64:]
            if data is not None:
                member.size = len(data)
                dst.addfile(member, io.BytesIO(data))
            else:
                dst.addfile(member)


@pytest.mark.skipif(os.environ["TEST_DATABASE_URL"].startswith("sqlite"), reason="needs MariaDB (CI runs it)")
@pytest.mark.skipif(shutil.which("mysqldump") is None, reason="the MariaDB client (mysqldump) is not installed")
def test_mysqldump_backup_restores_into_a_fresh_mariadb_database(app, orders, tmp_path):
    source = os.environ["TEST_DATABASE_URL"]
    url = make_url(source)
    fresh_name = f"{url.database}_restore"
    admin = create_engine(url.set(database=None))
    with admin.begin() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS `{fresh_name}`"))
        conn.execute(text(f"CREATE DATABASE `{fresh_name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"))
    try:
        result = ops_backup.backup(source, tmp_path)
        assert result.manifest["dialect"] == "mysql" and result.manifest["rows"]["payment_order"] == len(orders)
        target = url.set(database=fresh_name).render_as_string(hide_password=False)
        ops_backup.restore(result.path, target)
        assert order_numbers(target) == orders
        restored_platform_shows(target, app.config["HIS_SIMULATOR_URL"], orders,
                                dict(os.environ, HUEY_URL="memory://", INSTANCE_DIR=str(tmp_path)))
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS `{fresh_name}`"))
        admin.dispose()
