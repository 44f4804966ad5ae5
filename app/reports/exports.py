"""Report downloads (.xlsx): order lists and transaction statistics, built by Huey in constant memory.

``request_export`` writes an ExportJob row (the truth) and, in the same unit of work, the outbox row
``export.build`` whose handler (``register_outbox_kind``) runs ``run_export`` after the commit;
``run_export`` streams the rows in keyset batches (each batch read with ``yield_per``) into an
xlsxwriter workbook opened with ``constant_memory``, updating ``ExportJob.progress`` between batches,
so memory stays flat however many orders there are and staff watch a progress bar.

Every sheet: Chinese headers, money as yuan with two decimals (number format, exact integer-fen sums),
a totals row, the header frozen. Personal data is masked exactly as on the list pages.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import xlsxwriter
from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, func, select, update

from app import clock, outbox
from app.extensions import db
from app.models import AppointmentOrder, Department, Doctor, ExportJob, Patient, PaymentOrder
from app.models.base import utcnow
from app.services import audit, states
from app.backoffice import orders
from app.reports import statistics
from app.services.errors import DomainError, NotFound
from app.services.formatting import mask_name, mask_phone
from app.services.states import EXPORT_UNFINISHED, ExportEvent, ExportStatus, decide_export
from app.services.uow import transaction, unit_of_work

BATCH = 2000
KINDS = ("appointment_orders", "payment_orders", "statistics")
#: the outbox kind that builds a requested job after the request commits
BUILD = "export.build"
STALE_AFTER = dt.timedelta(minutes=15)
ACTOR = "system:export"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Column:
    header: str
    width: int
    kind: str = "text"  # text | money | count | datetime | date
    total: bool = False


def beijing(ts: dt.datetime | None) -> str:
    return clock.display(ts)


# ---------------------------------------------------------------- requesting and watching a job

@transaction
def request_export(kind: str, params: Mapping[str, Any], staff) -> ExportJob:
    """Record an export request (status ``queued``) and its build, an outbox row run after the commit."""
    if kind not in KINDS:
        raise DomainError(_("不支持的导出类型"))
    if kind == "statistics":
        start, end = orders.parse_day(params.get("start")), orders.parse_day(params.get("end"))
        if start is None or end is None:
            raise DomainError(_("请选择统计日期范围"))
        statistics.check_range(start, end)
    clean = {k: str(v) for k, v in params.items() if v not in (None, "")}
    job = ExportJob(kind=kind, params_json=json.dumps(clean, ensure_ascii=False, sort_keys=True),
                    requested_by=getattr(staff, "id", None), status=ExportStatus.QUEUED, progress=0)
    db.session.add(job)
    db.session.flush()
    audit.record_staff("staff.export_requested", staff, target_type="export_job", target_id=job.id,
                       kind=kind, params=clean)
    outbox.add(BUILD, str(job.id), {"job_id": job.id})
    return job


def register_outbox_kind() -> None:
    """Called by ``create_app`` (not on import): the outbox carries out ``export.build`` with ``run_export``.

    A build that raises has already moved its job to FAILED (staff see it and ask again): the outbox task
    is refused at once rather than retried every minute."""

    def build(payload: dict) -> None:
        try:
            run_export(int(payload["job_id"]))
        except Exception as exc:
            raise outbox.Refused(f"export job {payload.get('job_id')}: {exc}") from exc

    outbox.handler(BUILD)(build)


def export_dir() -> Path:
    path = Path(current_app.config.get("EXPORT_DIR") or os.path.join(current_app.instance_path, "exports"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def file_name(job: ExportJob) -> str:
    """What the browser saves: Chinese report name plus the job's creation time."""
    names = {"appointment_orders": "预约订单", "payment_orders": "缴费订单", "statistics": "交易统计"}
    return f"{names.get(job.kind, job.kind)}_{clock.to_beijing(job.created_at):%Y%m%d%H%M%S}.xlsx"


def _set(job_id: int, **values: Any) -> None:
    """Write progress on the job and commit at once, so the page polling it sees it move (never its status:
    that moves through ``_move``)."""
    with unit_of_work():
        db.session.execute(update(ExportJob).where(ExportJob.id == job_id)
                           .values(updated_at=utcnow(), **values).execution_options(synchronize_session=False))


# ---------------------------------------------------------------- building the workbook

class SheetWriter:
    """One worksheet in constant-memory mode: header, rows in order, totals, frozen header."""

    def __init__(self, book: xlsxwriter.Workbook, name: str, columns: Sequence[Column], formats: dict) -> None:
        self.sheet = book.add_worksheet(name)
        self.columns = columns
        self.formats = formats
        self.row = 0
        self.totals = [0] * len(columns)
        for i, col in enumerate(columns):
            self.sheet.set_column(i, i, col.width)
            self.sheet.write_string(0, i, col.header, formats["header"])
        self.sheet.freeze_panes(1, 0)

    def write(self, values: Sequence[Any]) -> None:
        self.row += 1
        for i, (col, value) in enumerate(zip(self.columns, values, strict=True)):
            if col.kind == "money":
                fen = int(value or 0)
                self.totals[i] += fen
                self.sheet.write_number(self.row, i, fen / 100, self.formats["money"])
            elif col.kind == "count":
                self.totals[i] += int(value or 0)
                self.sheet.write_number(self.row, i, int(value or 0))
            else:
                self.sheet.write_string(self.row, i, "" if value is None else str(value))

    def close(self) -> None:
        """The totals row: exact integer sums of fen, shown as yuan."""
        self.row += 1
        self.sheet.write_string(self.row, 0, _("合计") + f" ({self.row - 1})", self.formats["total"])
        for i, col in enumerate(self.columns[1:], start=1):
            if col.kind == "money":
                self.sheet.write_number(self.row, i, self.totals[i] / 100, self.formats["total_money"])
            elif col.kind == "count":
                self.sheet.write_number(self.row, i, self.totals[i], self.formats["total"])
            else:
                self.sheet.write_blank(self.row, i, None, self.formats["total"])


def open_workbook(path: str | Path) -> tuple[xlsxwriter.Workbook, dict]:
    book = xlsxwriter.Workbook(str(path), {"constant_memory": True, "strings_to_numbers": False,
                                           "tmpdir": str(Path(path).parent)})
    formats = {
        "header": book.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1}),
        "money": book.add_format({"num_format": "#,##0.00"}),
        "total": book.add_format({"bold": True, "top": 1}),
        "total_money": book.add_format({"bold": True, "top": 1, "num_format": "#,##0.00"}),
    }
    return book, formats


APPOINTMENT_COLUMNS = [
    Column("订单号", 26), Column("就诊人", 10), Column("就诊卡号", 14), Column("手机号", 14), Column("科室", 14),
    Column("医生", 10), Column("就诊日期", 12), Column("时段", 6), Column("时间", 12), Column("渠道", 8),
    Column("状态", 10), Column("挂号费(元)", 12, "money", True), Column("下单时间", 20), Column("支付时间", 20),
    Column("取消原因", 24),
]

PAYMENT_COLUMNS = [
    Column("订单号", 26), Column("业务类型", 10), Column("就诊人", 10), Column("就诊卡号", 14), Column("手机号", 14),
    Column("业务单号", 16), Column("渠道", 8), Column("状态", 10), Column("金额(元)", 12, "money", True),
    Column("已退款(元)", 12, "money", True), Column("实收(元)", 12, "money", True), Column("渠道交易号", 30),
    Column("下单时间", 20), Column("支付时间", 20), Column("说明", 24),
]

STAT_COLUMNS = [
    Column("日期", 12), Column("渠道", 8), Column("业务类型", 10), Column("状态", 10),
    Column("支付笔数", 10, "count", True), Column("支付金额(元)", 14, "money", True),
    Column("退款笔数", 10, "count", True), Column("退款金额(元)", 14, "money", True),
    Column("净收入(元)", 14, "money", True),
]


def appointment_rows_select(criteria: Mapping[str, str]) -> Select:
    """The columns an appointment export needs, as plain rows (no ORM objects kept in memory)."""
    stmt = (select(AppointmentOrder.id, AppointmentOrder.order_no, Patient.name, Patient.card_no, Patient.phone,
                   Department.name, Doctor.name, AppointmentOrder.clinic_date, AppointmentOrder.half_day,
                   AppointmentOrder.start_time, AppointmentOrder.end_time, AppointmentOrder.channel,
                   AppointmentOrder.status, AppointmentOrder.fee_fen, AppointmentOrder.created_at,
                   AppointmentOrder.paid_at, AppointmentOrder.cancel_reason)
            .join(Patient, Patient.id == AppointmentOrder.patient_id)
            .join(Department, Department.id == AppointmentOrder.department_id)
            .join(Doctor, Doctor.id == AppointmentOrder.doctor_id))
    return orders.where(stmt, "appointment", criteria)


def appointment_values() -> Callable[[Any], list]:
    """Row -> cells of the booking export; each label table is translated once per export, not per row."""
    half_days, channels, statuses = (orders.resolved(t) for t in (orders.HALF_DAYS, orders.CHANNELS,
                                                                   orders.APPOINTMENT_STATUS))

    def values(row) -> list:
        (_id, order_no, name, card, phone, dept, doctor, day, half, start, end, channel, status, fee, created,
         paid, reason) = row
        return [order_no, mask_name(name), card, mask_phone(phone), dept, doctor, day.isoformat(),
                half_days.get(half, half or ""), f"{start}-{end}", channels.get(channel, channel or ""),
                statuses.get(status, status or ""), fee, beijing(created), beijing(paid), reason]

    return values


def payment_rows_select(criteria: Mapping[str, str]) -> Select:
    stmt = (select(PaymentOrder.id, PaymentOrder.order_no, PaymentOrder.kind, Patient.name, Patient.card_no,
                   Patient.phone, PaymentOrder.business_ref, PaymentOrder.channel, PaymentOrder.status,
                   PaymentOrder.amount_fen, PaymentOrder.refunded_fen, PaymentOrder.channel_trade_no,
                   PaymentOrder.created_at, PaymentOrder.paid_at, PaymentOrder.description)
            .join(Patient, Patient.id == PaymentOrder.patient_id))
    return orders.where(stmt, "payment", criteria)


def payment_values() -> Callable[[Any], list]:
    """Row -> cells of the payment export; labels translated once per export (see appointment_values)."""
    kinds, channels, statuses = (orders.resolved(t) for t in (orders.KINDS, orders.CHANNELS, orders.PAYMENT_STATUS))

    def values(row) -> list:
        (_id, order_no, kind, name, card, phone, ref, channel, status, amount, refunded, trade_no, created, paid,
         description) = row
        received = amount - refunded if paid is not None else 0
        return [order_no, kinds.get(kind, kind or ""), mask_name(name), card, mask_phone(phone), ref,
                channels.get(channel, channel or ""), statuses.get(status, status or ""), amount,
                refunded, received, trade_no, beijing(created), beijing(paid), description]

    return values


def stream_batches(stmt: Select, id_column, batch: int | None = None) -> Iterator[list]:
    """Rows of ``stmt`` in id order, ``batch`` at a time, by keyset (``id > last``): no long-lived cursor,
    so progress can be committed between batches on any database."""
    batch = batch or BATCH
    last = 0
    while True:
        result = db.session.execute(stmt.where(id_column > last).order_by(id_column).limit(batch)
                                    .execution_options(yield_per=batch))
        rows = list(result)
        if not rows:
            return
        yield rows
        last = rows[-1][0]
        if len(rows) < batch:
            return


def write_orders(path: str | Path, stmt: Select, id_column, columns: Sequence[Column],
                 values: Callable[[Any], list], sheet_name: str,
                 on_progress: Callable[[int], None] | None = None) -> int:
    """Write every row of ``stmt`` to a one-sheet workbook; returns the number of rows written."""
    book, formats = open_workbook(path)
    sheet = SheetWriter(book, sheet_name, columns, formats)
    written = 0
    for rows in stream_batches(stmt, id_column):
        for row in rows:
            sheet.write(values(row))
        written += len(rows)
        if on_progress:
            on_progress(written)
    sheet.close()
    book.close()
    return written


def write_statistics(path: str | Path, stats: statistics.Statistics) -> int:
    """The statistics workbook: detail (day x channel x type x state), then one sheet per dimension."""
    book, formats = open_workbook(path)
    sheets = [
        ("交易明细", ("day", "channel", "kind", "status")), ("按日", ("day",)), ("按渠道", ("channel",)),
        ("按业务类型", ("kind",)), ("按状态", ("status",)),
    ]
    for name, dims in sheets:
        sheet = SheetWriter(book, name, STAT_COLUMNS, formats)
        rows = stats.rows if len(dims) == 4 else stats.by(*dims)
        for r in rows:
            sheet.write([r.day.isoformat() if r.day else "", orders.label(orders.CHANNELS, r.channel),
                         orders.label(orders.KINDS, r.kind), orders.label(orders.PAYMENT_STATUS, r.status),
                         r.paid_count, r.paid_fen, r.refund_count, r.refund_fen, r.net_fen])
        sheet.close()
    book.close()
    return len(stats.rows)


def _move(job_id: int, source: ExportStatus, event: ExportEvent, *, reason: str | None = None,
          **values: Any) -> bool:
    """Save ``decide_export`` through the guarded move and commit at once; False when another worker
    moved the job first (nothing changes)."""
    with unit_of_work():
        return states.move("export", job_id, source, decide_export(source, event), actor=ACTOR, reason=reason,
                           updated_at=utcnow(), **values)


def run_export(job_id: int) -> ExportJob:
    """Build the workbook of one job; safe to re-run. Every start is a guarded move to RUNNING, so two
    workers never build one job: a job already RUNNING is left to its worker (the sweep releases it with
    ``release_stale_runs`` once it stops moving), a DONE job whose file is there is not built again."""
    job = db.session.get(ExportJob, job_id)
    if job is None:
        raise NotFound(_("导出任务不存在"))
    source = ExportStatus(job.status)
    target = decide_export(job, ExportEvent.START,
                           file_present=bool(job.file_path and os.path.exists(job.file_path)))
    if target == source:  # DONE with its file, or RUNNING: another worker's (a stale one is released first)
        return job
    params = json.loads(job.params_json or "{}")
    kind = job.kind
    path = export_dir() / f"export-{job.id}-{kind}.xlsx"
    if not _move(job_id, source, ExportEvent.START, reason=None if source == ExportStatus.QUEUED else "run again",
                   progress=0, error=None):
        log.info("export job %s: another worker started it first", job_id)
        return db.session.get(ExportJob, job_id)
    try:
        if kind == "statistics":
            stats = statistics.transaction_statistics(orders.parse_day(params["start"]),
                                                      orders.parse_day(params["end"]))
            written = write_statistics(path, stats)
        else:
            if kind == "appointment_orders":
                stmt, id_col, cols, values, name = (appointment_rows_select(params), AppointmentOrder.id,
                                                    APPOINTMENT_COLUMNS, appointment_values(), "预约订单")
            else:
                stmt, id_col, cols, values, name = (payment_rows_select(params), PaymentOrder.id,
                                                    PAYMENT_COLUMNS, payment_values(), "缴费订单")
            total = db.session.scalar(select(func.count()).select_from(stmt.subquery())) or 0

            def progress(done: int) -> None:
                _set(job_id, progress=min(99, done * 100 // max(total, 1)), row_count=done)

            written = write_orders(path, stmt, id_col, cols, values, name, on_progress=progress)
    except Exception as exc:
        db.session.rollback()
        _move(job_id, ExportStatus.RUNNING, ExportEvent.FAIL, reason=str(exc)[:255], error=str(exc)[:255],
              finished_at=utcnow())
        raise
    if not _move(job_id, ExportStatus.RUNNING, ExportEvent.FINISH, progress=100, row_count=written,
                 file_path=str(path), finished_at=utcnow()):
        log.warning("export job %s moved on while it was built; its file is not recorded", job_id)
    return db.session.get(ExportJob, job_id)


def stale_jobs(now: dt.datetime | None = None) -> list[int]:
    """Jobs a killed worker (or a lost enqueue) left queued or running: the periodic sweep runs them again."""
    cutoff = (now or utcnow()) - STALE_AFTER
    return list(db.session.scalars(select(ExportJob.id).where(ExportJob.status.in_(EXPORT_UNFINISHED),
                                                              ExportJob.updated_at < cutoff)))


def release_stale_runs(now: dt.datetime | None = None) -> list[int]:
    """RUNNING jobs that stopped moving (their worker was killed) go back to QUEUED, each by its own guarded
    move that also requires it to be still stale: a run that wrote progress meanwhile is not released."""
    cutoff = (now or utcnow()) - STALE_AFTER
    stale = ExportJob.updated_at < cutoff
    released = []
    for job_id in list(db.session.scalars(select(ExportJob.id).where(ExportJob.status == ExportStatus.RUNNING,
                                                                     stale))):
        with unit_of_work():
            if states.move("export", job_id, ExportStatus.RUNNING,
                           decide_export(ExportStatus.RUNNING, ExportEvent.RELEASE), actor=ACTOR,
                           reason="stale run released", where=(stale,), updated_at=utcnow()):
                released.append(job_id)
    return released


def resume_stale(now: dt.datetime | None = None) -> int:
    """The sweep: release stale runs, then build every job still owed a file (each start a guarded move);
    returns how many it ran."""
    owed = sorted(set(release_stale_runs(now)) | set(stale_jobs(now)))
    for job_id in owed:
        try:
            run_export(job_id)
        except Exception:  # recorded on the job (FAILED); the next job still runs
            log.exception("export job %s failed again", job_id)
    return len(owed)


def job_file(job: ExportJob) -> Path:
    """The finished file of a job, or NotFound when it is not (yet) there."""
    if job.status != ExportStatus.DONE or not job.file_path or not os.path.exists(job.file_path):
        raise NotFound(_("文件尚未生成"))
    return Path(job.file_path)


# ---------------------------------------------------------------- a job's conditions as staff read them

CONDITION_LABELS = {
    "order_no": _l("订单号"), "channel_trade_no": _l("渠道交易号"), "patient_name": _l("就诊人姓名"),
    "card_no": _l("就诊卡号"), "phone": _l("手机号"), "doctor": _l("医生"), "department": _l("科室"),
    "business_ref": _l("业务单号"), "kind": _l("业务类型"), "channel": _l("渠道"), "status": _l("状态"),
    "flag": _l("标记"), "stuck": _l("超时未推进"), "created_from": _l("下单日期从"), "created_to": _l("下单日期至"),
    "clinic_date_from": _l("就诊日期从"), "clinic_date_to": _l("就诊日期至"),
    "confirmed_from": _l("确认日期从"), "confirmed_to": _l("确认日期至"),
    "paid_from": _l("支付日期从"), "paid_to": _l("支付日期至"),
    "succeeded_from": _l("退款成功日期从"), "succeeded_to": _l("退款成功日期至"), "start": _l("开始日期"),
    "end": _l("结束日期"), "refund_no": _l("退款单号"), "reason": _l("原因"), "overdue": _l("超时未完成"),
}

#: a list whose rows are not orders names its created_at after what it holds (a refund is applied for)
CONDITION_LABELS_OF = {"refunds": {"created_from": _l("申请日期从"), "created_to": _l("申请日期至")}}


def condition_label(kind: str, key: str) -> str:
    """What staff call the condition ``key`` on the list (or export) ``kind``."""
    return str(CONDITION_LABELS_OF.get(kind, {}).get(key) or CONDITION_LABELS.get(key, key))


def describe_conditions(kind: str, params: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The job's conditions in words, in a stable order (personal values masked as on the list):
    [("下单日期从", "2026-11-01"), ("状态", "已支付")]; an empty list means every row."""
    status_table = {"appointment_orders": orders.APPOINTMENT_STATUS,
                    "refunds": orders.REFUND_STATUS}.get(kind, orders.PAYMENT_STATUS)
    values = {"kind": lambda v: orders.label(orders.KINDS, v), "channel": lambda v: orders.label(orders.CHANNELS, v),
              "status": lambda v: orders.label(status_table, v),
              "flag": lambda v: orders.label(orders.PAYMENT_FLAGS, v),
              "patient_name": mask_name, "phone": mask_phone,
              "stuck": lambda v: str(_l("是")) if v == "1" else v,
              "overdue": lambda v: str(_l("是")) if v == "1" else v}
    out = []
    for key in CONDITION_LABELS:
        if key in params and str(params[key]).strip():
            value = str(params[key]).strip()
            out.append((condition_label(kind, key), values.get(key, lambda v: v)(value)))
    for key in sorted(set(params) - set(CONDITION_LABELS)):
        out.append((key, str(params[key])))
    return out
