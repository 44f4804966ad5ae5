"""Machine-facing endpoints: health checks, payment notifications, the HIS API."""

from __future__ import annotations

from flask import Flask


def register_api(app: Flask) -> None:
    from app.api.health import health_bp
    from app.extensions import csrf

    csrf.exempt(health_bp)
    app.register_blueprint(health_bp, url_prefix="/api")

    from app.api.channel_events import channel_events_bp

    csrf.exempt(channel_events_bp)
    app.register_blueprint(channel_events_bp)
