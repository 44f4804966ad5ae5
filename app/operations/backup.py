"""Backups that restore, for the embedded default (SQLite) and for MariaDB/MySQL.

A backup is one ``.tar.gz``: ``manifest.json`` (when, the schema revision, row counts of the order
tables, a SHA-256 per file) and the data. SQLite: ``platform.db`` copied with SQLite's online backup
API (consistent while the platform runs), plus, in demo mode, the HIS simulator's and the sandbox
channels' databases and the sandbox keys, so a restored demo is whole. MariaDB: ``platform.sql`` from
``mysqldump --single-transaction`` (no table locks; with binary logging on, the binlog position is
written into the dump so binlogs can be replayed on top, see docs/operations.md).

``restore`` refuses a backup whose checksums do not match, and refuses to overwrite a database that
already holds orders unless told to (``force``); it then checks the row counts against the manifest.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, func, inspect, select
from sqlalchemy.engine import URL, make_url

from app import clock

#: tables whose row counts a restore must reproduce (the money and the bookings)
COUNTED = ("payment_order", "refund", "appointment_order", "state_transition", "patient", "audit_log")


class BackupError(Exception):
    """A backup or restore that cannot be done; the message says why and what to do."""


@dataclass(frozen=True)
class BackupResult:
    path: Path
    manifest: dict


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def row_counts(url: str | URL) -> dict[str, int]:
    """Rows per counted table (absent tables count as -1)."""
    from sqlalchemy import table

    engine = create_engine(url)
    try:
        present = set(inspect(engine).get_table_names())
        with engine.connect() as conn:
            return {name: (conn.execute(select(func.count()).select_from(table(name))).scalar_one()
                           if name in present else -1) for name in COUNTED}
    finally:
        engine.dispose()


def schema_revision(url: str | URL) -> str | None:
    from alembic.runtime.migration import MigrationContext

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            heads = MigrationContext.configure(conn).get_current_heads()
        return ",".join(sorted(heads)) or None
    finally:
        engine.dispose()


def _sqlite_path(url: URL) -> Path:
    if not url.database or url.database == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up")
    return Path(url.database)


def _sqlite_copy(source: Path, target: Path) -> None:
    """Copy a live SQLite database consistently (SQLite's online backup API)."""
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    dst = sqlite3.connect(target)
    try:
        with dst:
            src.backup(dst)
    finally:
        src.close()
        dst.close()


def _mysql_args(url: URL) -> list[str]:
    return [f"--host={url.host or '127.0.0.1'}", f"--port={url.port or 3306}", f"--user={url.username or 'root'}"]


def _mysql_env(url: URL) -> dict[str, str]:
    """The password goes in the environment, never on a command line other users can read."""
    import os

    env = dict(os.environ)
    if url.password:
        env["MYSQL_PWD"] = str(url.password)
    return env


def _binlog_on(url: URL) -> bool:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return str(conn.exec_driver_sql("SELECT @@log_bin").scalar()) in ("1", "ON")
    finally:
        engine.dispose()


def backup(db_url: str, target_dir: str | Path, *, extra_sqlite: dict[str, str] | None = None,
           extra_dirs: dict[str, str] | None = None) -> BackupResult:
    """Write one backup archive of ``db_url`` into ``target_dir``; returns its path and manifest.

    ``extra_sqlite``: other SQLite databases to include (name -> URL), e.g. the HIS simulator in demo
    mode; ``extra_dirs``: directories to include (name -> path), e.g. the sandbox keys."""
    url = make_url(db_url)
    target_dir = Path(target_dir)
    target_dir.mkdir(parents=True, exist_ok=True)
    stamp = clock.beijing_now().strftime("%Y%m%d-%H%M%S")
    archive = target_dir / f"hospital-backup-{stamp}.tar.gz"
    manifest = {"created_at_utc": clock.utcnow().isoformat(timespec="seconds"), "dialect": url.get_backend_name(),
                "revision": schema_revision(url), "rows": row_counts(url), "files": {}}
    with tempfile.TemporaryDirectory(prefix="hospital-backup-") as tmp:
        work = Path(tmp)
        files: list[Path] = []
        if url.get_backend_name() == "sqlite":
            files.append(work / "platform.db")
            _sqlite_copy(_sqlite_path(url), files[-1])
        elif url.get_backend_name() in ("mysql", "mariadb"):
            dump = work / "platform.sql"
            options = ["--single-transaction", "--quick", "--routines", "--triggers", "--hex-blob",
                       "--default-character-set=utf8mb4"]
            if _binlog_on(url):
                options.append("--master-data=2")  # the binlog file and position, as a comment
            with dump.open("wb") as out:
                done = subprocess.run(["mysqldump", *_mysql_args(url), *options, url.database],
                                      stdout=out, stderr=subprocess.PIPE, check=False, env=_mysql_env(url))
            if done.returncode != 0:
                raise BackupError(f"mysqldump failed: {done.stderr.decode(errors='replace').strip()[:300]}")
            files.append(dump)
        else:
            raise BackupError(f"no backup method for {url.get_backend_name()}")
        for name, extra in (extra_sqlite or {}).items():
            path = _sqlite_path(make_url(extra))
            if path.exists():
                files.append(work / f"{name}.db")
                _sqlite_copy(path, files[-1])
        for file in files:
            manifest["files"][file.name] = _sha256(file)
        with tarfile.open(archive, "w:gz") as tar:
            for file in files:
                tar.add(file, arcname=file.name)
            for name, directory in (extra_dirs or {}).items():
                if Path(directory).is_dir():
                    tar.add(directory, arcname=name)
            data = json.dumps(manifest, ensure_ascii=False, indent=2).encode()
            info = tarfile.TarInfo("manifest.json")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return BackupResult(archive, manifest)


def read_manifest(archive: str | Path) -> dict:
    with tarfile.open(archive, "r:gz") as tar:
        member = tar.extractfile("manifest.json")
        if member is None:
            raise BackupError(f"{archive} has no manifest.json: not a platform backup")
        return json.loads(member.read())


def _has_orders(url: URL) -> bool:
    counts = row_counts(url)
    return counts["payment_order"] > 0 or counts["appointment_order"] > 0


def restore(archive: str | Path, db_url: str, *, force: bool = False, extra_sqlite: dict[str, str] | None = None,
            extra_dirs: dict[str, str] | None = None) -> dict:
    """Restore ``archive`` into ``db_url`` (an empty database unless ``force``); returns the manifest.

    The platform must be stopped (web and workers) while a restore runs."""
    url = make_url(db_url)
    manifest = read_manifest(archive)
    if manifest["dialect"] != url.get_backend_name() and {manifest["dialect"], url.get_backend_name()} != {
            "mysql", "mariadb"}:
        raise BackupError(f"the backup is of a {manifest['dialect']} database, the target is "
                          f"{url.get_backend_name()}")
    if not force and _has_orders(url):
        raise BackupError("the target database already holds orders: restore into an empty database, "
                          "or pass --force to replace it")
    with tempfile.TemporaryDirectory(prefix="hospital-restore-") as tmp:
        work = Path(tmp)
        with tarfile.open(archive, "r:gz") as tar:
            tar.extractall(work, filter="data")
        for name, digest in manifest["files"].items():
            if _sha256(work / name) != digest:
                raise BackupError(f"{name} in the backup is damaged (checksum differs): use another backup")
        if url.get_backend_name() == "sqlite":
            target = _sqlite_path(url)
            target.parent.mkdir(parents=True, exist_ok=True)
            _sqlite_copy(work / "platform.db", target)
        else:
            with (work / "platform.sql").open("rb") as dump:
                done = subprocess.run(["mysql", *_mysql_args(url), "--default-character-set=utf8mb4", url.database],
                                      stdin=dump, stderr=subprocess.PIPE, check=False, env=_mysql_env(url))
            if done.returncode != 0:
                raise BackupError(f"mysql restore failed: {done.stderr.decode(errors='replace').strip()[:300]}")
        for name, extra in (extra_sqlite or {}).items():
            source = work / f"{name}.db"
            if source.exists():
                target = _sqlite_path(make_url(extra))
                target.parent.mkdir(parents=True, exist_ok=True)
                _sqlite_copy(source, target)
        for name, directory in (extra_dirs or {}).items():
            if (work / name).is_dir():
                shutil.copytree(work / name, directory, dirs_exist_ok=True)
    restored = row_counts(url)
    if restored != manifest["rows"]:
        raise BackupError(f"row counts after restore {restored} differ from the backup's {manifest['rows']}")
    return manifest
