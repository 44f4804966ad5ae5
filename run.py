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

if app.config.get("PREFLIGHT_ON_START"):
    from app.services.preflight import run_checks

    with app.app_context():
        failed = [c for c in run_checks() if not c.ok]
    if failed:
        for check in failed:
            print(f"启动检查失败 / preflight failed [{check.name}]: {check.detail}", file=sys.stderr)
        sys.exit(1)

if __name__ == "__main__":
    app.run(host="127.0.0.1", port=5000)
