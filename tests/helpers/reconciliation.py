"""Reconciliation (对账): the bill day the seeded differences belong to."""

from __future__ import annotations

import datetime as dt

DAY = dt.date(2026, 11, 20)
