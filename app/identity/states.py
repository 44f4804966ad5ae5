"""The 就诊人's binding: a StrEnum beside the ``patient`` table (values as stored; no machine of its own)."""

from __future__ import annotations

from enum import StrEnum


class PatientStatus(StrEnum):
    BOUND = "bound"        # on the account: bookings, bills and reports hang off the card
    UNBOUND = "unbound"    # removed by the account holder; kept for the orders that name it
