"""The audit trail as 等保 2.0 level 3 asks: append-only (no update through the application, and a
database trigger refuses one from anywhere else), kept at least 180 days (``audit.retention_days``, never
less), purged after that by a daily task, exported by an administrator to .xlsx."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from sqlalchemy import delete, event, select

from app import clock
from app.extensions import db
from app.models import AuditLog
from app.services.uow import unit_of_work

MIN_RETENTION_DAYS = 180


class AuditTrailIsAppendOnly(RuntimeError):
    pass


@event.listens_for(AuditLog, "before_update")
def _refuse_update(mapper, connection, target) -> None:
    raise AuditTrailIsAppendOnly("audit_log rows are never changed")


@event.listens_for(AuditLog, "before_delete")
def _refuse_delete(mapper, connection, target) -> None:
    raise AuditTrailIsAppendOnly("audit_log rows are only removed by the retention purge")


def retention_days() -> int:
    from app.services.settings import setting_text

    try:
        days = int(setting_text("audit.retention_days", str(MIN_RETENTION_DAYS)))
    except ValueError:
        days = MIN_RETENTION_DAYS
    return max(days, MIN_RETENTION_DAYS)


def purge_expired() -> int:
    """Delete audit rows older than the retention (never younger than 180 days); returns how many."""
    from app.services import audit

    cutoff = clock.utcnow() - dt.timedelta(days=retention_days())
    with unit_of_work():
        removed = db.session.execute(delete(AuditLog).where(AuditLog.at < cutoff)).rowcount or 0
        if removed:
            audit.record("system.audit_purged", actor_type="system",
                         detail=json.dumps({"before": cutoff.isoformat(timespec="seconds"), "rows": removed}))
    return removed


COLUMNS = ("时间(北京)", "操作者类型", "操作者编号", "操作者", "操作", "对象类型", "对象编号", "IP 地址", "详情")


def write_workbook(path: str | Path, start: dt.date, end: dt.date) -> int:
    """Every audit row of Beijing days start..end into one sheet (constant memory); returns the count."""
    from app.reports.exports import Column, SheetWriter, open_workbook, stream_batches

    low, high = clock.beijing_day_bounds_utc(start, end)
    stmt = select(AuditLog.id, AuditLog.at, AuditLog.actor_type, AuditLog.actor_id, AuditLog.actor_name,
                  AuditLog.action, AuditLog.target_type, AuditLog.target_id, AuditLog.ip, AuditLog.detail
                  ).where(AuditLog.at >= low, AuditLog.at < high)
    book, formats = open_workbook(path)
    widths = (20, 10, 10, 14, 28, 12, 12, 16, 80)
    sheet = SheetWriter(book, "审计日志", [Column(h, w) for h, w in zip(COLUMNS, widths, strict=True)], formats)
    written = 0
    for rows in stream_batches(stmt, AuditLog.id):
        for row in rows:
            sheet.write([clock.display(row.at), *row[2:]])
        written += len(rows)
    sheet.close()
    book.close()
    return written
