"""Operations (运维): what an on-call engineer watches and uses — metrics, one-line JSON logs that
follow a request into its tasks, backups that restore, and data repairs with a second person's
approval; start-up and readiness checks (``preflight``), the quarterly 巡检报告 (``inspection``) and the
HIS call journal (``his_journal``). Each part is its own module; ``register_operations(app)`` wires them
into the factory."""

from __future__ import annotations

from flask import Flask


def register_operations(app: Flask) -> None:
    """Metrics middleware and ``/metrics``, the Huey hooks, the ``flask ops`` commands."""
    from app.operations import degrade, metrics
    from app.operations.cli import ops_cli

    metrics.init_app(app)
    degrade.register(app)
    app.cli.add_command(ops_cli)
