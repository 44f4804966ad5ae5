"""`flask demo seed`: the demo hospital (added to the product's `flask demo` group in demo mode)."""

from __future__ import annotations

import click
from flask.cli import with_appcontext


@click.command("seed")
@with_appcontext
def demo_seed() -> None:
    """Seed the demo hospital, staff accounts and content; a re-run changes nothing."""
    from doubles.demo.hospital import seed_demo

    report = seed_demo()
    for line in report:
        click.echo(line)
