"""The simulated hospital information system: the gateway behind HIS_MODE=simulator (``simulator``), the
same simulator over the signed HTTP contract (``server``, `flask his serve`) and `flask his …` (``cli``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.his.interface import HisGateway


def simulator_gateway(cfg: Mapping[str, Any]) -> HisGateway:
    """The simulator in HIS_SIMULATOR_URL (default sqlite:///instance/his_simulator.db)."""
    from doubles.his.simulator import DEFAULT_SIMULATOR_URL, SimulatorHis

    return SimulatorHis(cfg.get("HIS_SIMULATOR_URL") or DEFAULT_SIMULATOR_URL)
