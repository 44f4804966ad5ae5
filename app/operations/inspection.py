"""巡检报告: the quarterly inspection the maintenance contract asks for, built from the live system.

Each finding says what was checked, what was found and what to do, so the report doubles as the
on-call engineer's checklist. Nothing here changes data.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from flask import current_app
from sqlalchemy import func, or_, select, text

from app import clock
from app.extensions import db
from app.models import (AppointmentOrder, AuditLog, ChannelNotification, Notification, OutboxTask, PaymentOrder,
                        ReconciliationItem, Refund)
from app.models.base import utcnow
from app.services.formatting import yuan_grouped
from app.backoffice.worklist import refund_overdue
from app.operations.preflight import run_checks
from app.services.settings import booking_rules
from app.payments.states import PaymentStatus
from app.payments.states import RefundStatus
from app.registration.states import AppointmentStatus
from app.services.states import NoticeStatus
from app.outbox import OutboxStatus
from app.messages.notifications import PUSH as NOTICE_PUSH
from app.reports.exports import BUILD as EXPORT_BUILD

#: outbox kinds that are not calls to the HIS: a notice's push and an export's build have findings of their
#: own (a failed notice, a failed export), so they are not counted as 未完成的医院调用
OWN_FINDINGS = (NOTICE_PUSH, EXPORT_BUILD)


@dataclass
class Finding:
    area: str
    check: str
    ok: bool
    detail: str
    advice: str = ""
    link: str = ""  # the back-office list the advice talks about, filtered to those rows


#: the start-up checks (flask preflight) as the report names them
PREFLIGHT_NAMES = {"database": "数据库连接", "migrations": "数据库版本", "his": "医院 HIS 连接",
                   "queue": "任务队列连接", "demo_accounts": "演示账号已删除", "wechat": "微信支付连接",
                   "alipay": "支付宝连接"}
RUNBOOK = "运维手册 docs/operations.md"
#: how the start-up checks' own words (English, for the command line) read in the report
PREFLIGHT_WORDS = (("reachable", "可以连接"), ("at head", "已是最新版本"), ("demo mode", "演示模式，保留演示账号"),
                   ("none", "没有演示账号"), ("simulator", "HIS 模拟器"), ("http", "医院接口"))


def _flag_label(flag: str) -> str:
    from app.backoffice.orders import PAYMENT_FLAGS, label  # the names staff read on 缴费订单

    return label(PAYMENT_FLAGS, flag)


def preflight_detail(check) -> str:
    """A passed check's detail in Chinese (``reachable (simulator)`` -> 可以连接（HIS 模拟器）); a failed
    check keeps the command's exact words after 异常, since IT acts on them (DATABASE_URL …)."""
    if not check.ok:
        return f"异常：{check.detail}"
    text = check.detail
    for english, chinese in PREFLIGHT_WORDS:
        text = re.sub(rf"\b{re.escape(english)}\b", chinese, text)
    return text.replace(" (", "（").replace(")", "）")


@dataclass
class InspectionReport:
    generated_at: dt.datetime
    since: dt.datetime
    findings: list[Finding] = field(default_factory=list)
    volumes: list[tuple[str, str]] = field(default_factory=list)

    @property
    def problems(self) -> list[Finding]:
        return [f for f in self.findings if not f.ok]

    def to_markdown(self) -> str:
        lines = [
            "# 巡检报告 / Inspection report",
            "",
            f"- 生成时间 (北京时间): {clock.display(self.generated_at, '%Y-%m-%d %H:%M')}",
            f"- 巡检期间: {clock.display(self.since, '%Y-%m-%d')} 至 {clock.display(self.generated_at, '%Y-%m-%d')}",
            f"- 结论: {'正常' if not self.problems else f'发现 {len(self.problems)} 项需处理'}",
            "",
            "## 检查项",
            "",
            "| 范围 | 检查 | 结果 | 说明 | 建议 |",
            "|---|---|---|---|---|",
        ]
        for f in self.findings:
            lines.append(f"| {f.area} | {f.check} | {'正常' if f.ok else '异常'} | {f.detail} | {f.advice} |")
        lines += ["", "## 业务量", "", "| 指标 | 数值 |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in self.volumes]
        return "\n".join(lines) + "\n"

    def to_docx(self) -> bytes:
        """The report as a Word document (python-docx), the way the hospital files it."""
        import io

        from docx import Document

        doc = Document()
        doc.add_heading("巡检报告", level=0)
        doc.add_paragraph(f"生成时间（北京时间）：{clock.display(self.generated_at, '%Y-%m-%d %H:%M')}")
        doc.add_paragraph(f"巡检期间：{clock.display(self.since, '%Y-%m-%d')} 至 "
                          f"{clock.display(self.generated_at, '%Y-%m-%d')}")
        doc.add_paragraph(f"结论：{'全部正常' if not self.problems else f'发现 {len(self.problems)} 项需处理'}")
        doc.add_heading("检查项", level=1)
        table = doc.add_table(rows=1, cols=5)
        table.style = "Table Grid"
        for cell, words in zip(table.rows[0].cells, ("范围", "检查", "结果", "说明", "建议"), strict=True):
            cell.text = words
        for f in self.findings:
            cells = table.add_row().cells
            for cell, words in zip(cells, (f.area, f.check, "正常" if f.ok else "异常", f.detail, f.advice),
                                   strict=True):
                cell.text = words
        doc.add_heading("业务量", level=1)
        volumes = doc.add_table(rows=1, cols=2)
        volumes.style = "Table Grid"
        volumes.rows[0].cells[0].text, volumes.rows[0].cells[1].text = "指标", "数值"
        for key, value in self.volumes:
            row = volumes.add_row().cells
            row[0].text, row[1].text = key, value
        out = io.BytesIO()
        doc.save(out)
        return out.getvalue()

    def to_json(self) -> tuple[str, str]:
        import json

        return (json.dumps([f.__dict__ for f in self.findings], ensure_ascii=False),
                json.dumps(self.volumes, ensure_ascii=False))

    @classmethod
    def from_record(cls, record) -> InspectionReport:
        import json

        report = cls(generated_at=record.generated_at, since=record.since)
        report.findings = [Finding(**f) for f in json.loads(record.findings_json)]
        report.volumes = [tuple(v) for v in json.loads(record.volumes_json)]
        return report


def _count(stmt) -> int:
    return int(db.session.scalar(stmt) or 0)


def build_report(days: int = 90) -> InspectionReport:
    """Inspect the last ``days`` days (a quarter by default)."""
    now = utcnow()
    since = now - dt.timedelta(days=days)
    report = InspectionReport(generated_at=now, since=since)
    add = report.findings.append

    for check in run_checks(include_his=True):
        add(Finding("运行环境", PREFLIGHT_NAMES.get(check.name, check.name), check.ok, preflight_detail(check),
                    "" if check.ok else f"按异常说明处理后，在服务器上重新执行启动检查（见{RUNBOOK}）"))

    hour_ago = now - dt.timedelta(hours=1)
    stuck_paid = _count(select(func.count()).select_from(PaymentOrder).where(
        PaymentOrder.status == PaymentStatus.PAID, PaymentOrder.paid_at < hour_ago))
    add(Finding("支付", "已付款未向医院确认超过 1 小时", stuck_paid == 0, f"{stuck_paid} 笔",
                f"检查 HIS 连接与后台任务进程；恢复后系统自动重试，急需时按{RUNBOOK}立即重试"
                if stuck_paid else "",
                "/paymentorderview/list/?_flt_0_stuck=1" if stuck_paid else ""))
    unknown = _count(select(func.count()).select_from(PaymentOrder)
                     .where(PaymentOrder.status == PaymentStatus.CONFIRM_UNKNOWN))
    add(Finding("支付", "医院结果未知的缴费（已收款，医院未答复是否入账）", unknown == 0, f"{unknown} 笔",
                "在缴费订单中按状态“医院结果未知”筛选，查看医院核实记录；恢复 HIS 后系统自动核实" if unknown else "",
                "/paymentorderview/list/?_flt_0_status=confirm_unknown" if unknown else ""))
    stuck_calls = _count(select(func.count()).select_from(OutboxTask).where(
        OutboxTask.kind.not_in(OWN_FINDINGS),
        or_(OutboxTask.status == OutboxStatus.FAILED,
            (OutboxTask.status == OutboxStatus.PENDING) & (OutboxTask.created_at < hour_ago))))
    add(Finding("接口", "未完成的医院调用（取消挂号、释放号源）", stuck_calls == 0, f"{stuck_calls} 个",
                f"恢复 HIS 后由定时任务自动重试；失败原因与重试方法见{RUNBOOK}" if stuck_calls else ""))
    flagged = db.session.execute(select(PaymentOrder.flag, func.count()).where(
        PaymentOrder.flag.is_not(None), PaymentOrder.updated_at >= since).group_by(PaymentOrder.flag)).all()
    add(Finding("支付", "需人工关注的订单（超时到账、退款失败）", not flagged,
                "，".join(f"{_flag_label(flag)} {n} 笔" for flag, n in flagged) or "0",
                "在后台缴费订单中按标记筛选并逐笔核对" if flagged else "",
                f"/paymentorderview/list/?_flt_0_flag={flagged[0][0]}" if flagged else ""))
    # counted as the lists it links to: 超时未完成 by when it was asked (a sweep's query renews updated_at)
    stuck_refunds = _count(select(func.count()).select_from(Refund).where(refund_overdue(now)))
    abnormal_refunds = _count(select(func.count()).select_from(Refund).where(Refund.status == RefundStatus.ABNORMAL))
    failed_refunds = _count(select(func.count()).select_from(Refund).where(
        Refund.status == RefundStatus.FAILED, Refund.updated_at >= since))
    troubled = stuck_refunds or abnormal_refunds or failed_refunds
    add(Finding("退款", "退款处理中超过 1 小时 / 异常 / 失败", not troubled,
                f"处理中 {stuck_refunds} 笔，异常 {abnormal_refunds} 笔，失败 {failed_refunds} 笔",
                "查询渠道退款状态；异常的退款在商户平台处理；失败的退款由财务核实后重试" if troubled else "",
                "/refundview/list/?_flt_0_status=failed" if failed_refunds else
                "/refundview/list/?_flt_0_status=abnormal" if abnormal_refunds else
                "/refundview/list/?_flt_0_overdue=1" if stuck_refunds else ""))
    rejected = _count(select(func.count()).select_from(ChannelNotification).where(
        ChannelNotification.outcome.like("rejected%"), ChannelNotification.received_at >= since))
    add(Finding("安全", "被拒绝的支付通知（验签失败、金额不符、未知订单）", rejected == 0, f"{rejected} 次",
                "在日志中查看被拒支付通知的来源 IP 与原因，确认证书/公钥配置" if rejected else ""))
    unresolved = _count(select(func.count()).select_from(ReconciliationItem).where(
        ReconciliationItem.resolved_at.is_(None)))
    add(Finding("对账", "未处理的对账差异", unresolved == 0, f"{unresolved} 条",
                "财务在 对账工作台 中核实并填写处理说明" if unresolved else "",
                "/reconciliationitemview/list/?_flt_0_open=1" if unresolved else ""))
    lookback = booking_rules().attendance_lookback_days
    before = clock.beijing_date(now) - dt.timedelta(days=lookback)
    unsettled = _count(select(func.count()).select_from(AppointmentOrder).where(
        AppointmentOrder.status == AppointmentStatus.BOOKED, AppointmentOrder.clinic_date < before))
    add(Finding("预约", f"就诊日已过 {lookback} 天仍未确认就诊情况的预约", unsettled == 0, f"{unsettled} 笔",
                f"检查医院系统的就诊情况接口（恢复后定时核对，急需时按{RUNBOOK}立即核对）；医院未列出的预约由服务台在"
                "预约订单中标记已就诊或爽约" if unsettled else "",
                f"/appointmentorderview/list/?_flt_0_status=booked&_flt_1_clinic_date={before - dt.timedelta(days=1)}"
                if unsettled else ""))
    backlog = _count(select(func.count()).select_from(Notification).where(
        Notification.status == NoticeStatus.PENDING, Notification.created_at < hour_ago))
    failed_msgs = _count(select(func.count()).select_from(Notification).where(
        Notification.status == NoticeStatus.FAILED, Notification.created_at >= since))
    add(Finding("消息", "积压超过 1 小时 / 发送失败的通知", backlog == 0 and failed_msgs == 0,
                f"积压 {backlog} 条，失败 {failed_msgs} 条",
                "检查后台任务进程与模板消息配额" if backlog or failed_msgs else "",
                "/notificationview/list/?_flt_3_status=failed" if failed_msgs else ""))
    try:
        huey = current_app.extensions["huey"]  # given by create_app: the domain never imports the tasks

        pending = huey.pending_count()
        add(Finding("任务队列", "待执行任务", pending < 1000, f"{pending} 个",
                    "增加工作进程或排查卡住的任务" if pending >= 1000 else ""))
    except Exception as exc:  # noqa: BLE001 - an unreachable queue is itself the finding
        add(Finding("任务队列", "待执行任务", False, f"无法读取: {type(exc).__name__}", "检查 Redis"))
    add(Finding("数据库", "数据量", True, _database_size()))

    paid = db.session.execute(
        select(PaymentOrder.kind, func.count(), func.coalesce(func.sum(PaymentOrder.amount_fen), 0))
        .where(PaymentOrder.paid_at >= since).group_by(PaymentOrder.kind)).all()
    names = {"registration": "挂号费", "outpatient": "门诊缴费", "deposit": "住院押金"}
    for kind, n, amount in paid:
        report.volumes.append((f"{names.get(kind, kind)}笔数 / 金额(元)", f"{n:,} / {yuan_grouped(amount)}"))
    refunded = db.session.execute(select(func.count(), func.coalesce(func.sum(Refund.amount_fen), 0)).where(
        Refund.status == RefundStatus.SUCCESS, Refund.succeeded_at >= since)).one()
    report.volumes.append(("退款笔数 / 金额(元)", f"{refunded[0]:,} / {yuan_grouped(refunded[1])}"))
    bookings = _count(select(func.count()).select_from(AppointmentOrder).where(AppointmentOrder.created_at >= since))
    report.volumes.append(("预约订单", f"{bookings:,}"))
    logins = _count(select(func.count()).select_from(AuditLog).where(AuditLog.action == "staff.login",
                                                                      AuditLog.at >= since))
    report.volumes.append(("后台登录次数", f"{logins:,}"))
    return report


def _database_size() -> str:
    dialect = db.engine.dialect.name
    try:
        if dialect == "sqlite":
            pages = db.session.execute(text("PRAGMA page_count")).scalar() or 0
            size = db.session.execute(text("PRAGMA page_size")).scalar() or 0
            return f"SQLite {pages * size / 1024 / 1024:.1f} MB"
        row = db.session.execute(text(
            "SELECT COALESCE(SUM(data_length + index_length), 0) FROM information_schema.tables "
            "WHERE table_schema = DATABASE()")).scalar()
        return f"MariaDB {int(row or 0) / 1024 / 1024:.1f} MB"  # the product by its name, not the dialect's
    except Exception as exc:  # noqa: BLE001
        return f"未知（{type(exc).__name__}）"


def save(report: InspectionReport, staff_name: str) -> int:
    """Keep the report as it is now (audited); returns its record id."""
    from app.models import InspectionRecord
    from app.services import audit
    from app.services.uow import unit_of_work

    findings, volumes = report.to_json()
    with unit_of_work():
        record = InspectionRecord(generated_at=report.generated_at, since=report.since,
                                  problem_count=len(report.problems), findings_json=findings, volumes_json=volumes,
                                  saved_by=staff_name)
        db.session.add(record)
        db.session.flush()
        audit.record("inspection.save", actor_type="staff", actor_name=staff_name, target_type="inspection",
                     target_id=record.id, detail=f"problems={len(report.problems)}")
        return record.id


def records(limit: int = 20) -> list:
    """The kept inspections, newest first."""
    from app.models import InspectionRecord

    return list(db.session.scalars(select(InspectionRecord).order_by(InspectionRecord.generated_at.desc(),
                                                                     InspectionRecord.id.desc()).limit(limit)))


def previous_of(record_id: int | None):
    """The kept inspection before ``record_id`` (before any, when None: the latest kept)."""
    from app.models import InspectionRecord

    stmt = select(InspectionRecord).order_by(InspectionRecord.generated_at.desc(), InspectionRecord.id.desc())
    if record_id is not None:
        current = db.session.get(InspectionRecord, record_id)
        stmt = stmt.where(InspectionRecord.id != record_id, InspectionRecord.generated_at <= current.generated_at)
    return db.session.scalars(stmt.limit(1)).first()


def compare(current: InspectionReport, before: InspectionReport | None) -> dict[str, dict]:
    """Per check (by name): how it stood before and whether it got better or worse."""
    if before is None:
        return {}
    old = {(f.area, f.check): f for f in before.findings}
    out = {}
    for f in current.findings:
        prev = old.get((f.area, f.check))
        if prev is None:
            out[f.check] = {"before": "", "trend": "new"}
        else:
            trend = "same" if prev.ok == f.ok else ("better" if f.ok else "worse")
            out[f.check] = {"before": prev.detail, "before_ok": prev.ok, "trend": trend}
    return out
