"""Entry point: ``flask --app run`` / ``gunicorn run:app``; the Huey consumer uses ``run.huey``.

In production the app refuses to start (one clear line, exit 1) on an unsafe configuration, an
unreachable database or HIS, or a database that is behind the code's migrations.
"""

from __future__ import annotations

import sys

from app import ConfigurationRefused, create_app
from app.tasks import huey  # noqa: F401  (huey_consumer run.huey)

try:
    app = create_app()
except ConfigurationRefused as refused:
    print(refused, file=sys.stderr)
    sys.exit(1)



def _cli_command(argv: list[str]) -> str | None:
    """The `flask` sub-command being run ("run", "db", ...), or None when this is not the flask CLI."""
    import os

    if os.path.basename(argv[0] if argv else "") != "flask":
        return None
    args = iter(argv[1:])
    for arg in args:
        if arg in ("--app", "-A", "--env-file", "-e"):
            next(args, None)
        elif not arg.startswith("-"):
            return arg
    return None


# The start-up check guards serving (gunicorn, `flask run`); other commands - `flask db upgrade` first of
# all, on the very database the check would refuse - must still work.
if app.config.get("PREFLIGHT_ON_START") and _cli_command(sys.argv) in (None, "run"):
    from app.operations.preflight import run_checks

    with app.app_context():
        failed = [c for c in run_checks() if not c.ok]
    if failed:
        for check in failed:
            print(f"启动检查失败 / preflight failed [{check.name}]: {check.detail}", file=sys.stderr)
        sys.exit(1)

if __name__ == "__main__":
    app.run(host="127.0.0.1", port=5000)
