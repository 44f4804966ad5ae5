"""The simulated hospital: a stateful HIS in its own database, and its seed."""

from .db import DEFAULT_SIMULATOR_URL, hospital_now
from .gateway import SimulatorHis
from .seed import SeedPatient, generate_patients, seed

__all__ = [
    "DEFAULT_SIMULATOR_URL",
    "SeedPatient",
    "SimulatorHis",
    "generate_patients",
    "hospital_now",
    "seed",
]
