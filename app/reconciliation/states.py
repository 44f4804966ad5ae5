"""对账: the statuses of one reconciliation run (``reconciliation_run``), as stored (no migration)."""

from __future__ import annotations

from enum import StrEnum


class ReconciliationRunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"          # compared; its differences (if any) are items on the desk
    FAILED = "failed"      # the channel's statement could not be read: run it again
