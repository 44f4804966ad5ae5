"""Local doubles of WeChat Pay v3 and the Alipay open gateway, served by Flask.

Mount them into the app (sandbox mode only)::

    sandbox = register_sandbox(app, url_prefix="/sandbox",
                               state_db_url="sqlite:///instance/payment_sandbox.db",
                               keys_dir="instance/sandbox_keys")

and point ``make_channels`` at ``SANDBOX_BASE_URL = "http://<host>/sandbox"``:
WeChat Pay lives under ``/sandbox/wechatpay`` and Alipay under ``/sandbox/alipay/gateway.do``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, jsonify, request

from doubles.channels import alipay, wechat
from doubles.channels.core import (
    ALIPAY_RETRY_SCHEDULE,
    WECHAT_RETRY_SCHEDULE,
    DeliveryResult,
    PaymentSandbox,
    SandboxRefusal,
    SandboxSettings,
)
from doubles.channels.keys import SandboxKeys, ensure_sandbox_keys

__all__ = [
    "ALIPAY_RETRY_SCHEDULE",
    "WECHAT_RETRY_SCHEDULE",
    "DeliveryResult",
    "PaymentSandbox",
    "SandboxKeys",
    "SandboxRefusal",
    "SandboxSettings",
    "create_sandbox_app",
    "create_sandbox_blueprints",
    "ensure_sandbox_keys",
    "register_sandbox",
    "settings_from_config",
]

#: app.config keys read by ``register_sandbox`` when no explicit value is given
_CONFIG_KEYS = {
    "wechat_appid": "WECHAT_APPID",
    "wechat_mchid": "WECHAT_MCHID",
    "alipay_appid": "ALIPAY_APPID",
    "alipay_seller_id": "ALIPAY_SELLER_ID",
}


def settings_from_config(
    cfg: Mapping[str, Any], state_db_url: str | None = None, keys_dir: str | None = None, **overrides: Any
) -> SandboxSettings:
    """Sandbox settings from a config mapping (``SANDBOX_STATE_URL``, ``SANDBOX_KEYS_DIR``, the
    channel ids), explicit arguments winning."""
    values: dict[str, Any] = {
        "state_db": state_db_url or cfg.get("SANDBOX_STATE_URL") or "instance/payment_sandbox.db",
        "keys_dir": keys_dir or cfg.get("SANDBOX_KEYS_DIR") or "instance/sandbox_keys",
    }
    for field_name, key in _CONFIG_KEYS.items():
        if cfg.get(key):
            values[field_name] = str(cfg[key])
    allowed = {f.name for f in fields(SandboxSettings)}
    unknown = set(overrides) - allowed
    if unknown:
        raise TypeError(f"unknown sandbox settings: {sorted(unknown)}")
    values.update(overrides)
    return SandboxSettings(**values)


def _console_blueprint(sandbox: PaymentSandbox, name: str) -> Blueprint:
    """Small JSON endpoints for demos and the benchmark: list, replay and retry notifications."""
    bp = Blueprint(name, __name__)

    def result_json(result: DeliveryResult) -> dict[str, Any]:
        return {"id": result.notification_id, "delivered": result.delivered, "attempts": result.attempts,
                "status": result.status}

    @bp.get("/notifications")
    def notifications() -> Any:
        return jsonify(sandbox.notifications(request.args.get("order_no")))

    @bp.post("/notifications/<int:notification_id>/redeliver")
    def redeliver(notification_id: int) -> Any:
        try:
            return jsonify(result_json(sandbox.redeliver(notification_id)))
        except KeyError:
            return jsonify({"error": "no such notification"}), 404

    @bp.post("/notifications/deliver-due")
    def deliver_due() -> Any:
        return jsonify([result_json(r) for r in sandbox.deliver_due()])

    return bp


def create_sandbox_blueprints(sandbox: PaymentSandbox, name: str = "payment_sandbox") -> dict[str, Blueprint]:
    """The three blueprints keyed by the sub-path they expect: "" (console), "/wechatpay", "/alipay"."""
    return {
        "": _console_blueprint(sandbox, name),
        "/wechatpay": wechat.create_blueprint(sandbox, f"{name}_wechatpay"),
        "/alipay": alipay.create_blueprint(sandbox, f"{name}_alipay"),
    }


def register_sandbox(
    flask_app: Flask,
    url_prefix: str = "/sandbox",
    state_db_url: str | None = None,
    keys_dir: str | None = None,
    **overrides: Any,
) -> PaymentSandbox:
    """Mount both sandbox channels into an existing app and return the sandbox engine.

    Unset paths fall back to ``SANDBOX_STATE_URL``/``SANDBOX_KEYS_DIR`` in ``app.config``, then
    to files in the app's instance folder. The blueprints are exempted from Flask-WTF CSRF if it
    is already set up (gateways and cashier forms are posted by the SDKs and the sandbox pages).
    The engine is also stored as ``app.extensions["payment_sandbox"]``.
    """
    instance = Path(flask_app.instance_path)
    settings = settings_from_config(
        flask_app.config,
        state_db_url or flask_app.config.get("SANDBOX_STATE_URL") or str(instance / "payment_sandbox.db"),
        keys_dir or flask_app.config.get("SANDBOX_KEYS_DIR") or str(instance / "sandbox_keys"),
        **overrides,
    )
    sandbox = PaymentSandbox(settings)
    prefix = url_prefix.rstrip("/")
    csrf = flask_app.extensions.get("csrf")
    for sub_path, blueprint in create_sandbox_blueprints(sandbox).items():
        flask_app.register_blueprint(blueprint, url_prefix=prefix + sub_path or None)
        if csrf is not None:
            csrf.exempt(blueprint)
    flask_app.extensions["payment_sandbox"] = sandbox
    return sandbox


def create_sandbox_app(
    state_db_url: str, keys_dir: str, url_prefix: str = "/sandbox", **overrides: Any
) -> Flask:
    """A standalone app serving only the sandbox (e.g. on its own port)."""
    flask_app = Flask(__name__)
    register_sandbox(flask_app, url_prefix, state_db_url, keys_dir, **overrides)
    return flask_app
