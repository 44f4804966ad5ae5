"""巡检报告: the quarterly inspection the maintenance contract asks for, built from the live system.

Each finding says what was checked, what was found and what to do, so the report doubles as the
on-call engineer's checklist. Nothing here changes data.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import func, select, text

from app.extensions import db
from app.models import (AppointmentOrder, AuditLog, ChannelNotification, Notification, PaymentOrder,
                        ReconciliationItem, Refund)
from app.models.base import utcnow
from app.services.formatting import yuan
from app.services.preflight import run_checks
from app.services.settings import booking_rules


@dataclass
class Finding:
    area: str
    check: str
    ok: bool
    detail: str
    advice: str = ""


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
        bj = dt.timedelta(hours=8)
        lines = [
            "# 巡检报告 / Inspection report",
            "",
            f"- 生成时间 (北京时间): {(self.generated_at + bj):%Y-%m-%d %H:%M}",
            f"- 巡检期间: {(self.since + bj):%Y-%m-%d} 至 {(self.generated_at + bj):%Y-%m-%d}",
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


def _count(stmt) -> int:
    return int(db.session.scalar(stmt) or 0)


def build_report(days: int = 90) -> InspectionReport:
    """Inspect the last ``days`` days (a quarter by default)."""
    now = utcnow()
    since = now - dt.timedelta(days=days)
    report = InspectionReport(generated_at=now, since=since)
    add = report.findings.append

    for check in run_checks(include_his=True):
        add(Finding("运行环境", check.name, check.ok, check.detail,
                    "" if check.ok else "按说明处理后重新执行 flask preflight"))

    hour_ago = now - dt.timedelta(hours=1)
    stuck_paid = _count(select(func.count()).select_from(PaymentOrder).where(
        PaymentOrder.status == "paid", PaymentOrder.paid_at < hour_ago))
    add(Finding("支付", "已付款未向医院确认超过 1 小时", stuck_paid == 0, f"{stuck_paid} 笔",
                "检查 HIS 连接与 Huey 工作进程（flask payments sweep 可立即重试）" if stuck_paid else ""))
    flagged = db.session.execute(select(PaymentOrder.flag, func.count()).where(
        PaymentOrder.flag.is_not(None), PaymentOrder.updated_at >= since).group_by(PaymentOrder.flag)).all()
    add(Finding("支付", "需人工关注的订单（超时到账、退款失败）", not flagged,
                ", ".join(f"{flag}: {n}" for flag, n in flagged) or "0",
                "在后台缴费订单中按标记筛选并逐笔核对" if flagged else ""))
    stuck_refunds = _count(select(func.count()).select_from(Refund).where(
        Refund.status.in_(("requested", "processing")), Refund.updated_at < hour_ago))
    failed_refunds = _count(select(func.count()).select_from(Refund).where(
        Refund.status == "failed", Refund.updated_at >= since))
    add(Finding("退款", "退款处理中超过 1 小时 / 失败", stuck_refunds == 0 and failed_refunds == 0,
                f"处理中 {stuck_refunds} 笔，失败 {failed_refunds} 笔",
                "查询渠道退款状态；失败的退款由财务核实后重试" if stuck_refunds or failed_refunds else ""))
    rejected = _count(select(func.count()).select_from(ChannelNotification).where(
        ChannelNotification.outcome.like("rejected%"), ChannelNotification.received_at >= since))
    add(Finding("安全", "被拒绝的支付通知（验签失败、金额不符、未知订单）", rejected == 0, f"{rejected} 次",
                "查看日志中 'notification REJECTED' 行的来源 IP 与原因，确认证书/公钥配置" if rejected else ""))
    unresolved = _count(select(func.count()).select_from(ReconciliationItem).where(
        ReconciliationItem.resolved_at.is_(None)))
    add(Finding("对账", "未处理的对账差异", unresolved == 0, f"{unresolved} 条",
                "财务在 对账差异 中逐条核实并填写处理说明" if unresolved else ""))
    lookback = booking_rules().attendance_lookback_days
    before = (now + dt.timedelta(hours=8)).date() - dt.timedelta(days=lookback)
    unsettled = _count(select(func.count()).select_from(AppointmentOrder).where(
        AppointmentOrder.status == "booked", AppointmentOrder.clinic_date < before))
    add(Finding("预约", f"就诊日已过 {lookback} 天仍未确认就诊情况的预约", unsettled == 0, f"{unsettled} 笔",
                "检查医院系统的就诊情况接口（flask booking attendance 可立即重试）；医院未列出的预约由服务台在"
                "预约订单中标记已就诊或爽约" if unsettled else ""))
    backlog = _count(select(func.count()).select_from(Notification).where(
        Notification.status == "pending", Notification.created_at < hour_ago))
    failed_msgs = _count(select(func.count()).select_from(Notification).where(
        Notification.status == "failed", Notification.created_at >= since))
    add(Finding("消息", "积压超过 1 小时 / 发送失败的通知", backlog == 0, f"积压 {backlog} 条，失败 {failed_msgs} 条",
                "检查 Huey 工作进程与模板消息配额" if backlog else ""))
    try:
        from app.tasks import huey

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
        report.volumes.append((f"{names.get(kind, kind)}笔数 / 金额(元)", f"{n} / {yuan(amount)}"))
    refunded = db.session.execute(select(func.count(), func.coalesce(func.sum(Refund.amount_fen), 0)).where(
        Refund.status == "success", Refund.succeeded_at >= since)).one()
    report.volumes.append(("退款笔数 / 金额(元)", f"{refunded[0]} / {yuan(refunded[1])}"))
    bookings = _count(select(func.count()).select_from(AppointmentOrder).where(AppointmentOrder.created_at >= since))
    report.volumes.append(("预约订单", str(bookings)))
    logins = _count(select(func.count()).select_from(AuditLog).where(AuditLog.action == "staff.login",
                                                                      AuditLog.at >= since))
    report.volumes.append(("后台登录次数", str(logins)))
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
        return f"{dialect} {int(row or 0) / 1024 / 1024:.1f} MB"
    except Exception as exc:  # noqa: BLE001
        return f"unknown ({type(exc).__name__})"
