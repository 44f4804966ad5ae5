"""Machine-facing endpoints: health checks, payment notifications, the HIS API."""

from __future__ import annotations

from flask import Flask


def register_api(app: Flask) -> None:
    from app.api.health import health_bp
    from app.api.his_api import his_api_bp

    # Endpoint modules attach their routes to his_api_bp on import, before it is registered.
    from app.api import his_deposit_refunds, his_events, his_refunds  # noqa: F401
    from app.api.notify import notify_bp
    from app.extensions import csrf

    for blueprint in (health_bp, notify_bp, his_api_bp):
        csrf.exempt(blueprint)
    app.register_blueprint(health_bp, url_prefix="/api")
    app.register_blueprint(notify_bp)
    app.register_blueprint(his_api_bp)
    # The sandbox gateways and cashier (PAYMENT_MODE=sandbox) are mounted by app/doubles_switch.py.
    from app.api.channel_events import channel_events_bp

    csrf.exempt(channel_events_bp)
    app.register_blueprint(channel_events_bp)
