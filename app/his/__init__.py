"""The HIS adapter layer: one interface and its HTTP implementation.

Services depend on :class:`HisGateway` only and get an instance from :func:`make_his`. The simulated
hospital (HIS_MODE=simulator) is a double outside the product (doubles/his/): app/doubles_switch.py
registers it here when the configuration names it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from . import errors
from .errors import (
    AlreadyBooked,
    AlreadySettled,
    AmountMismatch,
    CardMismatch,
    HisAuthError,
    HisBusinessError,
    HisError,
    HisUnavailable,
    InvalidRequest,
    LockExpired,
    NotFound,
    ScheduleStopped,
    SlotFull,
)
from .interface import HisGateway

HIS_MODES = ("simulator", "http")

#: HIS_MODE -> builder of a gateway from the configuration, for modes the product does not build itself
#: (the simulator, registered by app/doubles_switch.py; a production image has none).
GATEWAY_BUILDERS: dict[str, Callable[[Mapping[str, Any]], HisGateway]] = {}


def register_his_mode(mode: str, builder: Callable[[Mapping[str, Any]], HisGateway]) -> None:
    """Let ``make_his`` build ``mode`` with ``builder`` (idempotent)."""
    GATEWAY_BUILDERS[mode] = builder


def make_his(cfg: Mapping[str, Any]) -> HisGateway:
    """Build the gateway named by cfg['HIS_MODE'] ('simulator' by default, or 'http').

    simulator: HIS_SIMULATOR_URL (default sqlite:///instance/his_simulator.db); needs the doubles.
    http: HIS_BASE_URL, HIS_APP_ID, HIS_SECRET and HIS_TIMEOUT (seconds, default 10).
    Raises ValueError naming the missing or wrong setting.
    """
    mode = cfg.get("HIS_MODE") or "simulator"
    if mode in GATEWAY_BUILDERS:
        return GATEWAY_BUILDERS[mode](cfg)
    if mode == "simulator":
        raise ValueError("HIS_MODE=simulator needs the doubles package (doubles/his), which is not plugged in: "
                         "set HIS_MODE=http for the hospital's HIS")
    if mode == "http":
        from .http import HttpHis

        for key in ("HIS_BASE_URL", "HIS_APP_ID", "HIS_SECRET"):
            if not cfg.get(key):
                raise ValueError(f"HIS_MODE=http needs {key}")
        return HttpHis(
            cfg["HIS_BASE_URL"],
            cfg["HIS_APP_ID"],
            cfg["HIS_SECRET"],
            timeout=float(cfg.get("HIS_TIMEOUT") or 10),
        )
    raise ValueError(f"HIS_MODE must be one of {HIS_MODES}, not {mode!r}")


__all__ = [
    "AlreadyBooked",
    "AlreadySettled",
    "AmountMismatch",
    "CardMismatch",
    "HisAuthError",
    "HisBusinessError",
    "HisError",
    "HisGateway",
    "HisUnavailable",
    "InvalidRequest",
    "LockExpired",
    "NotFound",
    "ScheduleStopped",
    "SlotFull",
    "errors",
    "make_his",
    "register_his_mode",
]
