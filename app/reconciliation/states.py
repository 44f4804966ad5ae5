"""对账: the statuses of one reconciliation run (``reconciliation_run``), as stored (no migration)."""

from __future__ import annotations

from enum import StrEnum

from flask_babel import lazy_gettext as _l


class ReconciliationRunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"          # compared; its differences (if any) are items on the desk
    FAILED = "failed"      # the channel's statement could not be read: run it again


#: what staff read for each state (the desk, the runs list and the day's workbook)
RUN_STATUS_LABELS = {ReconciliationRunStatus.QUEUED: _l("排队中"), ReconciliationRunStatus.RUNNING: _l("对账中"),
                     ReconciliationRunStatus.DONE: _l("已完成"), ReconciliationRunStatus.FAILED: _l("失败")}
