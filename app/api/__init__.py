"""Machine-facing endpoints: health checks, payment notifications, the HIS API."""

from __future__ import annotations

from flask import Flask


def register_api(app: Flask) -> None:
    from app.api.health import health_bp
    from app.api.notify import notify_bp
    from app.extensions import csrf

    for blueprint in (health_bp, notify_bp):
        csrf.exempt(blueprint)
    app.register_blueprint(health_bp, url_prefix="/api")
    app.register_blueprint(notify_bp)
    if app.config.get("PAYMENT_MODE") == "sandbox":
        # The sandbox gateways and cashier, served by the app itself in demo and test mode only.
        from app.channels.sandbox import register_sandbox

        register_sandbox(app, url_prefix="/sandbox")
