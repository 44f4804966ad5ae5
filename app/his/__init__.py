"""The HIS adapter layer: one interface, a simulator and an HTTP implementation.

Services depend on :class:`HisGateway` only and get an instance from :func:`make_his`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import errors
from .errors import (
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


def make_his(cfg: Mapping[str, Any]) -> HisGateway:
    """Build the gateway named by cfg['HIS_MODE'] ('simulator' by default, or 'http').

    simulator: HIS_SIMULATOR_URL (default sqlite:///instance/his_simulator.db).
    http: HIS_BASE_URL, HIS_APP_ID, HIS_SECRET and HIS_TIMEOUT (seconds, default 10).
    Raises ValueError naming the missing or wrong setting.
    """
    mode = cfg.get("HIS_MODE") or "simulator"
    if mode == "simulator":
        from .simulator import DEFAULT_SIMULATOR_URL, SimulatorHis

        return SimulatorHis(cfg.get("HIS_SIMULATOR_URL") or DEFAULT_SIMULATOR_URL)
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
]
