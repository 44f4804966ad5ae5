"""The one door between the product and its doubles (doubles/: the simulated HIS, the sandbox channels, the
demo hospital). create_app calls ``plug_in_doubles(app)``; the configuration decides:

- HIS_MODE=simulator: ``make_his`` builds the simulated HIS; `flask his …`
- PAYMENT_MODE=sandbox: ``make_channels`` points the adapters at the sandbox gateways, served under /sandbox
- OAUTH_MODE=sandbox, MESSAGE_MODE=sandbox: the local authorisation page's codes, the recorded push channel
- DEMO_MODE: `flask demo seed` and the demo cards on the binding page

With none of them (production: http, live, no demo) nothing imports ``doubles``, so a production image may
leave the package out; a configuration naming a double the image lacks is refused at start.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from app import ConfigurationRefused


def doubles_named(cfg: Mapping[str, Any]) -> list[str]:
    """The settings of ``cfg`` that name a double (each mode's default is its double, as in make_his & co.)."""
    named = ["HIS_MODE=simulator"] if (cfg.get("HIS_MODE") or "simulator") == "simulator" else []
    named += [f"{key}=sandbox" for key in ("PAYMENT_MODE", "OAUTH_MODE", "MESSAGE_MODE")
              if (cfg.get(key) or "sandbox") == "sandbox"]
    return named + (["DEMO_MODE"] if cfg.get("DEMO_MODE") else [])


def install_doubles() -> None:
    """Register the doubles' builders with the adapters (process-wide and idempotent; the builders are
    chosen per call by the configuration's modes, so a registered double is used only when named)."""
    from app.channels import register_payment_mode
    from app.channels.identity import register_oauth_mode
    from app.channels.messages import register_message_mode
    from app.his import register_his_mode
    from doubles.channels.modes import SANDBOX_PAYMENTS, sandbox_oauth, sandbox_sender
    from doubles.his import simulator_gateway

    register_his_mode("simulator", simulator_gateway)
    register_payment_mode("sandbox", SANDBOX_PAYMENTS)
    register_oauth_mode("sandbox", sandbox_oauth)
    register_message_mode("sandbox", sandbox_sender)


def plug_in_doubles(app: Flask) -> None:
    """Plug in the doubles the configuration names (nothing, and no import of ``doubles``, when it names none)."""
    named = doubles_named(app.config)
    if not named:
        return
    try:
        import doubles  # noqa: F401
    except ModuleNotFoundError as exc:
        if exc.name != "doubles":
            raise
        raise ConfigurationRefused(f"配置错误 / configuration refused: {', '.join(named)} needs the doubles package "
                                   "(doubles/), which this installation leaves out: use HIS_MODE=http, "
                                   "PAYMENT_MODE/OAUTH_MODE/MESSAGE_MODE=live and DEMO_MODE off") from exc
    install_doubles()
    if (app.config.get("PAYMENT_MODE") or "sandbox") == "sandbox":
        # The sandbox gateways and cashier, served by the app itself in demo and test mode only.
        from doubles.channels import register_sandbox

        register_sandbox(app, url_prefix="/sandbox")
    from app.cli import demo_cli
    from doubles.demo.cli import demo_seed
    from doubles.demo.hospital import demo_patient_cards
    from doubles.his.cli import his_cli

    app.cli.add_command(his_cli)
    demo_cli.add_command(demo_seed)
    # the binding page lists simulator cards worth binding (it asks the switch's entry, never the doubles)
    app.extensions["demo_patient_cards"] = demo_patient_cards
