"""``flask ops``: backup and restore (the embedded default and MariaDB), metrics at a glance."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

ops_cli = AppGroup("ops", help="运维: backup, restore.")


def _extras() -> tuple[dict[str, str], dict[str, str]]:
    """In demo mode the HIS simulator, the sandbox channels and their keys belong to the backup too."""
    cfg = current_app.config
    if not cfg.get("DEMO_MODE"):
        return {}, {}
    sqlite = {name: cfg[key] for name, key in (("his_simulator", "HIS_SIMULATOR_URL"),
                                               ("sandbox_channels", "SANDBOX_STATE_URL"))
              if str(cfg.get(key, "")).startswith("sqlite:///") and cfg.get("HIS_MODE") == "simulator"}
    dirs = {"sandbox_keys": cfg["SANDBOX_KEYS_DIR"]} if cfg.get("SANDBOX_KEYS_DIR") else {}
    return sqlite, dirs


@ops_cli.command("backup")
@click.option("--to", "target", default=None, help="directory for the archive (default: instance/backups)")
def backup_command(target: str | None) -> None:
    """Write one backup archive of the platform's database (consistent while it runs)."""
    from pathlib import Path

    from app.operations.backup import BackupError, backup

    sqlite, dirs = _extras()
    try:
        result = backup(current_app.config["SQLALCHEMY_DATABASE_URI"],
                        target or Path(current_app.instance_path) / "backups", extra_sqlite=sqlite, extra_dirs=dirs)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from exc
    rows = result.manifest["rows"]
    click.echo(f"backup written: {result.path} (revision {result.manifest['revision']}, "
               f"{rows['payment_order']} payment orders, {rows['appointment_order']} bookings)")


@ops_cli.command("restore")
@click.argument("archive", type=click.Path(exists=True, dir_okay=False))
@click.option("--force", is_flag=True, help="replace a database that already holds orders")
def restore_command(archive: str, force: bool) -> None:
    """Restore a backup archive into the configured database (stop the web and worker processes first)."""
    from app.extensions import db
    from app.operations.backup import BackupError, restore

    db.session.remove()
    db.engine.dispose()
    sqlite, dirs = _extras()
    try:
        manifest = restore(archive, current_app.config["SQLALCHEMY_DATABASE_URI"], force=force,
                           extra_sqlite=sqlite, extra_dirs=dirs)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"restored {archive} (taken {manifest['created_at_utc']} UTC, revision {manifest['revision']}); "
               "run `flask --app run db upgrade` if the code is newer, then start the platform")
