"""Flask CLI commands: roles, removing the demo accounts, payments, booking, rollups, outbox, preflight, inspection."""

from __future__ import annotations

import sys

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from app.services.uow import unit_of_work
from app.reconciliation.states import ReconciliationRunStatus

roles_cli = AppGroup("roles", help="Staff roles (Admin, Finance, Operations, Service desk).")
demo_cli = AppGroup("demo", help="Demo data and demo accounts (embedded mode only).")
payments_cli = AppGroup("payments", help="Payments: reconciliation, sweeps.")
booking_cli = AppGroup("booking", help="Registration: the attendance sweep (已就诊 / 爽约).")
rollups_cli = AppGroup("rollups", help="Daily rollups behind 交易统计 and 数据分析.")
outbox_cli = AppGroup("outbox", help="The outbox (outbox_task): calls made after a commit.")


@rollups_cli.command("rebuild")
@click.option("--from", "first", required=True, help="first Beijing day, YYYY-MM-DD")
@click.option("--to", "last", required=True, help="last Beijing day, YYYY-MM-DD (days from today on are "
              "always computed live and skipped)")
def rollups_rebuild(first: str, last: str) -> None:
    """Rebuild the daily rollups of a range from the order tables (after a repair, an import, or to
    fill days the nightly task missed)."""
    import datetime as dt

    from app.reports import rollups

    try:
        a, b = dt.date.fromisoformat(first), dt.date.fromisoformat(last)
    except ValueError as exc:
        raise click.BadParameter(f"dates are YYYY-MM-DD: {exc}") from exc
    if b < a:
        raise click.BadParameter("--to is before --from")
    run = rollups.build(a, b, progress=lambda x, y: click.echo(f"built {x} .. {y}"))
    click.echo(f"{run.days} days rebuilt" + (f" ({run.first_day} .. {run.last_day})" if run.days else ""))


@rollups_cli.command("nightly")
def rollups_nightly() -> None:
    """What the nightly task does: yesterday, every closed day changed since the last run, missing days."""
    from app.reports import rollups

    run = rollups.nightly()
    click.echo(f"{run.days} days built ({run.first_day} .. {run.last_day}); consistent up to {run.consistent_at} UTC")


@outbox_cli.command("purge")
@click.option("--before", default=None, help="Beijing day, YYYY-MM-DD: delete done tasks finished before it "
              "(default: those older than the setting outbox.retention_days, as the nightly task does)")
def outbox_purge(before: str | None) -> None:
    """Delete done outbox tasks (never pending or failed ones) in batches; prints how many."""
    import datetime as dt

    from app import clock, outbox

    cutoff = None
    if before is not None:
        try:
            day = dt.date.fromisoformat(before)
        except ValueError as exc:
            raise click.BadParameter(f"dates are YYYY-MM-DD: {exc}", param_hint="--before") from exc
        if day > clock.today():
            raise click.BadParameter(f"{day} is after today ({clock.today()})", param_hint="--before")
        cutoff = clock.beijing_day_start_utc(day)
    removed = outbox.purge_done(cutoff)
    click.echo(f"{removed} done outbox tasks deleted")


@booking_cli.command("attendance")
@click.option("--days", type=int, default=None,
              help="Clinic days to look back (default: the setting booking.attendance_lookback_days).")
def booking_attendance(days: int | None) -> None:
    """Ask the HIS who came and move booked orders of finished sessions to 已就诊 / 爽约 (what the
    nightly task does); exit 1 when the HIS did not answer for a day or an order could not move."""
    from dataclasses import replace

    from app.registration.commands import sweep_attendance
    from app.services.settings import booking_rules

    rules = booking_rules()
    if days is not None:
        rules = replace(rules, attendance_lookback_days=max(days, 0))
    result = sweep_attendance(rules=rules)
    click.echo(result.summary())
    for order_no in result.unknown:
        click.echo(f"not listed by the HIS (left booked, staff to check): {order_no}")
    if result.failed_dates or result.errors:
        sys.exit(1)


@payments_cli.command("reconcile")
@click.option("--date", "bill_date", required=True, help="Beijing calendar day, YYYY-MM-DD")
@click.option("--channel", type=click.Choice(["wechat", "alipay", "all"]), default="all")
def payments_reconcile(bill_date: str, channel: str) -> None:
    """Reconcile one day's channel bill(s) against our payments, refunds and the HIS."""
    import datetime as dt

    from app.reconciliation.runs import reconcile

    day = dt.date.fromisoformat(bill_date)
    failed = False
    for name in (["wechat", "alipay"] if channel == "all" else [channel]):
        run = reconcile(name, day)
        click.echo(f"{name} {day}: {run.status}, channel {run.channel_count} rows, local {run.local_count}, "
                   f"differences {run.mismatch_count}{' (' + run.error + ')' if run.error else ''}")
        failed |= run.status != ReconciliationRunStatus.DONE
    if failed:
        sys.exit(1)


@payments_cli.command("sweep")
def payments_sweep() -> None:
    """Close expired orders, confirm due payments, finish refunds (what the periodic tasks do)."""
    from app.payments.commands import close_expired, sweep_confirmations, sweep_refunds

    click.echo(f"closed {close_expired()}, confirmed {sweep_confirmations()}, refunds {sweep_refunds()}")


@roles_cli.command("sync")
def roles_sync() -> None:
    """Create the staff roles and grant their permissions (safe to re-run)."""
    counts = current_app.appbuilder.sm.sync_hospital_roles()
    for role, n in counts.items():
        click.echo(f"{role}: {n} permissions")


# `flask demo seed` is the doubles' (doubles/demo/cli.py), added to this group by app/doubles_switch.py in demo
# mode; removing the demo accounts is the product's, since production refuses to start while they exist.
@demo_cli.command("remove-accounts")
def demo_remove_accounts() -> None:
    """Delete the demo staff accounts (required before a production start)."""
    from app.operations.preflight import DEMO_USERNAMES

    sm = current_app.appbuilder.sm
    removed = 0
    with unit_of_work():  # Flask-AppBuilder's session is db.session
        for username in DEMO_USERNAMES:
            user = sm.find_user(username=username)
            if user is not None:
                sm.session.delete(user)
                removed += 1
    click.echo(f"removed {removed} demo accounts")


@click.command("preflight")
@click.option("--skip-his", is_flag=True, help="Do not check the HIS.")
def preflight(skip_his: bool) -> None:
    """Check database, migrations, queue and HIS; exit 1 with one line per problem."""
    from app.operations.preflight import run_checks

    # the sandbox cashier is served by this very app, which is not running yet: readiness asks it once it runs
    own_sandbox = current_app.config.get("PAYMENT_MODE") == "sandbox"
    failed = [c for c in run_checks(include_his=not skip_his, include_channels=not own_sandbox) if not c.ok]
    for check in failed:
        click.echo(f"启动检查失败 / preflight failed [{check.name}]: {check.detail}", err=True)
    if failed:
        sys.exit(1)
    click.echo("preflight ok")


@click.command("inspect")
@click.option("--days", default=90, show_default=True, help="period to inspect (a quarter by default)")
def inspect_command(days: int) -> None:
    """Print the 巡检报告 (inspection report) as Markdown; exit 1 when something needs attention."""
    from app.operations.inspection import build_report

    report = build_report(days)
    click.echo(report.to_markdown())
    if report.problems:
        sys.exit(1)


def register_cli(app: Flask) -> None:
    """The product's commands; `flask his …` and `flask demo seed` come with the doubles (app/doubles_switch.py)."""
    app.cli.add_command(roles_cli)
    app.cli.add_command(demo_cli)
    app.cli.add_command(payments_cli)
    app.cli.add_command(booking_cli)
    app.cli.add_command(rollups_cli)
    app.cli.add_command(outbox_cli)
    app.cli.add_command(preflight)
    app.cli.add_command(inspect_command)
