"""Machine-facing endpoints: health checks, payment notifications, the HIS API."""

from __future__ import annotations

from flask import Flask


def register_api(app: Flask) -> None:
    from app.api.health import health_bp
    from app.extensions import csrf

    csrf.exempt(health_bp)
    app.register_blueprint(health_bp, url_prefix="/api")
