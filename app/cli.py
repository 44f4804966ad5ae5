"""Flask CLI commands: roles, demo data, preflight, and the HIS simulator."""

from __future__ import annotations

import sys

import click
from flask import Flask, current_app
from flask.cli import AppGroup

roles_cli = AppGroup("roles", help="Staff roles (Admin, Finance, Operations, Service desk).")
demo_cli = AppGroup("demo", help="Demo data and demo accounts (embedded mode only).")


@roles_cli.command("sync")
def roles_sync() -> None:
    """Create the staff roles and grant their permissions (safe to re-run)."""
    counts = current_app.appbuilder.sm.sync_hospital_roles()
    for role, n in counts.items():
        click.echo(f"{role}: {n} permissions")


@demo_cli.command("seed")
def demo_seed() -> None:
    """Seed the demo hospital, staff accounts and content; a re-run changes nothing."""
    from app.services.demo import seed_demo

    report = seed_demo()
    for line in report:
        click.echo(line)


@demo_cli.command("remove-accounts")
def demo_remove_accounts() -> None:
    """Delete the demo staff accounts (required before a production start)."""
    from app.services.demo import remove_demo_accounts

    click.echo(f"removed {remove_demo_accounts()} demo accounts")


@click.command("preflight")
@click.option("--skip-his", is_flag=True, help="Do not check the HIS.")
def preflight(skip_his: bool) -> None:
    """Check database, migrations, queue and HIS; exit 1 with one line per problem."""
    from app.services.preflight import run_checks

    failed = [c for c in run_checks(include_his=not skip_his) if not c.ok]
    for check in failed:
        click.echo(f"启动检查失败 / preflight failed [{check.name}]: {check.detail}", err=True)
    if failed:
        sys.exit(1)
    click.echo("preflight ok")


def register_cli(app: Flask) -> None:
    from app.his.cli import his_cli

    app.cli.add_command(roles_cli)
    app.cli.add_command(demo_cli)
    app.cli.add_command(preflight)
    app.cli.add_command(his_cli)
