"""The platform's single way to reach the HIS (simulator or HTTP), built from configuration."""

from __future__ import annotations

from flask import current_app

from app.his import HisGateway, make_his


def his_gateway() -> HisGateway:
    """The configured HIS gateway (one per app; gateways hold no patient state)."""
    gateway = current_app.extensions.get("his_gateway")
    if gateway is None:
        gateway = make_his(current_app.config)
        current_app.extensions["his_gateway"] = gateway
    return gateway
