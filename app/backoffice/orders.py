"""Staff look-ups of booking and payment orders: search criteria, event history, refunds.

Criteria are plain ``{key: text}`` pairs so the back-office list filters, the .xlsx exports and the
benchmark all select exactly the same rows. Card and phone match exactly what the caller typed; a name
matches in part (a caller often gives only part of it); results are shown masked either way.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping

from flask_babel import lazy_gettext as _l
from sqlalchemy import ColumnElement, Select, select

from app import clock
from app.extensions import db
from app.models import (AppointmentOrder, Department, Doctor, HisCheck, Patient, PaymentOrder,
                        ReconciliationItem, Refund, StateTransition)


Condition = Callable[[str], ColumnElement[bool] | None]


def parse_day(text: str | None) -> dt.date | None:
    """``2026-11-25`` -> date; anything else -> None (an unreadable filter is ignored, not an error)."""
    try:
        return dt.date.fromisoformat(str(text).strip()[:10])
    except (TypeError, ValueError):
        return None


def beijing_day_start_utc(day: dt.date) -> dt.datetime:
    """Midnight Beijing time of ``day`` as the naive UTC the database stores."""
    return clock.beijing_day_start_utc(day)


def _patient_condition(fk, column) -> Condition:
    return lambda v: fk.in_(select(Patient.id).where(column == v.strip())) if v.strip() else None


def _from_day(column, as_utc: bool) -> Condition:
    def condition(v: str) -> ColumnElement[bool] | None:
        day = parse_day(v)
        if day is None:
            return None
        return column >= (beijing_day_start_utc(day) if as_utc else day)
    return condition


def _to_day(column, as_utc: bool) -> Condition:
    def condition(v: str) -> ColumnElement[bool] | None:
        day = parse_day(v)
        if day is None:
            return None
        if as_utc:
            return column < beijing_day_start_utc(day + dt.timedelta(days=1))
        return column <= day
    return condition


def _equals(column) -> Condition:
    return lambda v: column == v.strip() if v.strip() else None


def _starts(column) -> Condition:
    return lambda v: column.startswith(v.strip(), autoescape=True) if v.strip() else None


def _name_contains(fk, model, name_column) -> Condition:
    return lambda v: (fk.in_(select(model.id).where(name_column.contains(v.strip(), autoescape=True)))
                      if v.strip() else None)


def _stuck(order_type: str) -> ColumnElement[bool]:
    """Orders (or refunds) past their state's deadline, as the home page's worklist counts them."""
    from app.backoffice import worklist

    return {"appointment": worklist.appointment_stuck, "payment": worklist.payment_stuck,
            "refund": worklist.refund_overdue}[order_type]()


APPOINTMENT_CRITERIA: dict[str, Condition] = {
    "order_no": _starts(AppointmentOrder.order_no),
    "patient_name": _name_contains(AppointmentOrder.patient_id, Patient, Patient.name),
    "card_no": _patient_condition(AppointmentOrder.patient_id, Patient.card_no),
    "phone": _patient_condition(AppointmentOrder.patient_id, Patient.phone),
    "doctor": _name_contains(AppointmentOrder.doctor_id, Doctor, Doctor.name),
    "department": _name_contains(AppointmentOrder.department_id, Department, Department.name),
    "channel": _equals(AppointmentOrder.channel),
    "status": _equals(AppointmentOrder.status),
    "stuck": lambda v: _stuck("appointment") if v.strip() == "1" else None,
    "clinic_date_from": _from_day(AppointmentOrder.clinic_date, as_utc=False),
    "clinic_date_to": _to_day(AppointmentOrder.clinic_date, as_utc=False),
    "created_from": _from_day(AppointmentOrder.created_at, as_utc=True),
    "created_to": _to_day(AppointmentOrder.created_at, as_utc=True),
    # 确认时间: when the HIS confirmed the booking, the day 数据分析's 挂号统计 counts it on
    "confirmed_from": _from_day(AppointmentOrder.confirmed_at, as_utc=True),
    "confirmed_to": _to_day(AppointmentOrder.confirmed_at, as_utc=True),
}

PAYMENT_CRITERIA: dict[str, Condition] = {
    "order_no": _starts(PaymentOrder.order_no),
    "patient_name": _name_contains(PaymentOrder.patient_id, Patient, Patient.name),
    "card_no": _patient_condition(PaymentOrder.patient_id, Patient.card_no),
    "phone": _patient_condition(PaymentOrder.patient_id, Patient.phone),
    "doctor": lambda v: (PaymentOrder.appointment_id.in_(
        select(AppointmentOrder.id).where(APPOINTMENT_CRITERIA["doctor"](v))) if v.strip() else None),
    "department": lambda v: (PaymentOrder.appointment_id.in_(
        select(AppointmentOrder.id).where(APPOINTMENT_CRITERIA["department"](v))) if v.strip() else None),
    "business_ref": _equals(PaymentOrder.business_ref),
    "kind": _equals(PaymentOrder.kind),
    "channel": _equals(PaymentOrder.channel),
    "status": _equals(PaymentOrder.status),
    "flag": _equals(PaymentOrder.flag),
    "channel_trade_no": _equals(PaymentOrder.channel_trade_no),
    "stuck": lambda v: _stuck("payment") if v.strip() == "1" else None,
    "created_from": _from_day(PaymentOrder.created_at, as_utc=True),
    "created_to": _to_day(PaymentOrder.created_at, as_utc=True),
    # 支付时间: the day 数据分析's money and count charts count a payment on
    "paid_from": _from_day(PaymentOrder.paid_at, as_utc=True),
    "paid_to": _to_day(PaymentOrder.paid_at, as_utc=True),
}

REFUND_CRITERIA: dict[str, Condition] = {
    "refund_no": _starts(Refund.refund_no),
    "order_no": lambda v: (Refund.payment_id.in_(select(PaymentOrder.id).where(PaymentOrder.order_no == v.strip()))
                           if v.strip() else None),
    "status": _equals(Refund.status),
    "channel": lambda v: (Refund.payment_id.in_(select(PaymentOrder.id).where(PaymentOrder.channel == v.strip()))
                          if v.strip() else None),
    "reason": lambda v: Refund.reason.contains(v.strip(), autoescape=True) if v.strip() else None,
    "overdue": lambda v: _stuck("refund") if v.strip() == "1" else None,
    "created_from": _from_day(Refund.created_at, as_utc=True),
    "created_to": _to_day(Refund.created_at, as_utc=True),
    # 退款成功时间: the day 数据分析's 退款 series counts a refund on
    "succeeded_from": _from_day(Refund.succeeded_at, as_utc=True),
    "succeeded_to": _to_day(Refund.succeeded_at, as_utc=True),
}

PATIENT_CRITERIA: dict[str, Condition] = {
    "name": _equals(Patient.name),
    "card_no": _equals(Patient.card_no),
    "phone": _equals(Patient.phone),
}

RECONCILIATION_CRITERIA: dict[str, Condition] = {
    "open": lambda v: ReconciliationItem.resolved_at.is_(None) if v.strip() == "1" else None,
}

CRITERIA = {"appointment": APPOINTMENT_CRITERIA, "payment": PAYMENT_CRITERIA, "refund": REFUND_CRITERIA,
            "patient": PATIENT_CRITERIA, "reconciliation": RECONCILIATION_CRITERIA}
PERSONAL_CRITERIA = frozenset({"patient_name", "card_no", "phone"})


def condition(order_type: str, key: str, value: str) -> ColumnElement[bool] | None:
    """The SQL condition for one criterion, or None when the value is blank or unreadable."""
    build = CRITERIA[order_type].get(key)
    if build is None or value is None:
        return None
    return build(str(value))


def where(stmt: Select, order_type: str, criteria: Mapping[str, str]) -> Select:
    """``stmt`` narrowed by every known, non-blank criterion."""
    for key, value in criteria.items():
        cond = condition(order_type, key, value)
        if cond is not None:
            stmt = stmt.where(cond)
    return stmt


def select_appointments(criteria: Mapping[str, str]) -> Select:
    """Booking orders matching ``criteria``, oldest first (stable for streaming exports)."""
    return where(select(AppointmentOrder), "appointment", criteria).order_by(AppointmentOrder.id)


def select_payments(criteria: Mapping[str, str]) -> Select:
    """Payment orders (registration fees, outpatient bills, deposits) matching ``criteria``."""
    return where(select(PaymentOrder), "payment", criteria).order_by(PaymentOrder.id)


def history(order_type: str, order_id: int) -> list[StateTransition]:
    """Every state change of one order, oldest first: the story a dispute is settled with."""
    return list(db.session.scalars(
        select(StateTransition).where(StateTransition.order_type == order_type,
                                      StateTransition.order_id == order_id)
        .order_by(StateTransition.at, StateTransition.id)))


def refunds_of(payment_id: int) -> list[Refund]:
    """The refunds of one payment with their states, oldest first."""
    return list(db.session.scalars(select(Refund).where(Refund.payment_id == payment_id)
                                   .order_by(Refund.id)))


def refreshed_status(order_type: str, order_id: int) -> str | None:
    """The order's status as the database has it now (after another unit of work moved it)."""
    model = {"appointment": AppointmentOrder, "payment": PaymentOrder, "refund": Refund}[order_type]
    return db.session.scalar(select(model.status).where(model.id == order_id))


def payments_of_appointment(appointment_id: int) -> list[PaymentOrder]:
    return list(db.session.scalars(select(PaymentOrder).where(PaymentOrder.appointment_id == appointment_id)
                                   .order_by(PaymentOrder.id)))


# What staff read for each code (msgids are the hospital's Chinese; English in translations/en).
APPOINTMENT_STATUS = {
    "holding": _l("锁号中"), "lock_failed": _l("锁号失败"), "pending_payment": _l("待支付"), "paid": _l("已支付"),
    "booked": _l("已预约"),
    "failed": _l("预约失败"), "cancelled": _l("已取消"), "stopped": _l("已停诊"), "expired": _l("已过期"),
    "refunded": _l("已退费"), "visited": _l("已就诊"), "no_show": _l("爽约"),
}
PAYMENT_STATUS = {
    "created": _l("已创建"), "paying": _l("支付中"), "paid": _l("已支付"), "confirmed": _l("已确认"),
    "confirm_failed": _l("确认失败"), "confirm_unknown": _l("医院结果未知，待核实"), "refunding": _l("退费中"),
    "refunded": _l("已退费"),
    "partially_refunded": _l("部分退费"), "closed": _l("已关闭"),
}
REFUND_STATUS = {
    "requested": _l("已申请"), "processing": _l("退款中"), "abnormal": _l("退款异常待处理"), "success": _l("退款成功"),
    "failed": _l("退款失败"),
}
CHANNELS = {"wechat": _l("微信"), "alipay": _l("支付宝")}
#: why a payment needs a person (app/payments/commands.py sets these)
PAYMENT_FLAGS = {"paid_after_close": _l("关单后到账"), "channel_mismatch": _l("渠道状态不符"),
                 "refund_late_success": _l("退款迟到成功"), "refund_overpaid": _l("退款超额"),
                 "refund_abnormal": _l("退款异常"), "refund_failed": _l("退款失败"),
                 "his_unknown": _l("医院结果未知")}
KINDS = {"registration": _l("挂号费"), "outpatient": _l("门诊缴费"), "deposit": _l("住院押金")}
HALF_DAYS = {"am": _l("上午"), "pm": _l("下午"), "evening": _l("晚上")}
ORDER_TYPES = {"appointment": _l("预约订单"), "payment": _l("缴费订单"), "refund": _l("退款")}
STATUS_BY_TYPE = {"appointment": APPOINTMENT_STATUS, "payment": PAYMENT_STATUS, "refund": REFUND_STATUS}


#: who moved an order ("patient:12", "staff:service", "system:attendance", "channel:wechat") as staff read it
ACTOR_ROLES = {"patient": _l("患者账号"), "staff": _l("工作人员"), "system": _l("系统"), "channel": _l("支付渠道"),
               "his": _l("医院 HIS"), "seed": _l("初始数据"), "demo": _l("演示数据")}
#: the platform's own jobs that move orders (``system:<job>``; a scan test fails on one without a name)
ACTOR_JOBS = {
    "attendance": _l("就诊情况核对"), "sweep": _l("超时处理"), "reconcile": _l("对账"), "stop_clinic": _l("停诊处理"),
    "refund": _l("退款处理"), "notify": _l("渠道通知"), "payment": _l("缴费处理"), "his": _l("医院答复"),
    "waitlist": _l("候补"), "deadline": _l("超时未支付处理"), "his_recheck": _l("向医院核实"),
    "close_sweep": _l("关单巡检"), "sync": _l("医院数据同步"), "paid_after_close": _l("关单后到账处理"),
    "export": _l("报表生成"), "delivery": _l("消息推送"), "confirm_failed": _l("确认失败处理"),
    "bill_refused": _l("医院拒绝收费处理"),
}


def actor_label(actor: str | None) -> str:
    """Who moved an order: "patient:12" -> "患者账号 12", "system:attendance" -> "系统（就诊情况核对）",
    "channel:wechat" -> "支付渠道 微信"; anything else as written."""
    if not actor:
        return ""
    role, _sep, who = actor.partition(":")
    if role not in ACTOR_ROLES:
        return actor
    if not who:
        return str(ACTOR_ROLES[role])
    if role == "system":
        return f"{ACTOR_ROLES[role]}（{label(ACTOR_JOBS, who)}）"
    if role == "channel":
        return f"{ACTOR_ROLES[role]} {label(CHANNELS, who)}"
    return f"{ACTOR_ROLES[role]} {who}"


def status_label(order_type: str, code: str | None) -> str:
    """A state of any of the three order machines as staff read it."""
    return label(STATUS_BY_TYPE.get(order_type, {}), code)


def resolved(table: Mapping[str, object]) -> dict[str, str]:
    """``table`` with its (lazy) labels translated now: for loops over many rows in one request or job."""
    return {code: str(text) for code, text in table.items()}


def label(table: Mapping[str, object], code: str | None) -> str:
    """The translated label of ``code`` in ``table``, or the code itself when unknown."""
    if code is None:
        return ""
    return str(table.get(code, code))


#: why an order moved (the ``reason`` the commands record with a state move) as staff read it; the
#: commands keep short English reasons in the table (logs and tests read them), staff read these
REASONS = {
    "book": _l("报名"), "cancel": _l("取消"), "unpaid": _l("未支付"), "join": _l("加入候补"),
    "left": _l("患者退出候补"), "stopped": _l("停诊"), "cut-off": _l("候补截止"), "free slot": _l("免费号源"),
    "free slot confirmed": _l("免费号源，医院已确认"), "interrupted hold": _l("锁号中断"),
    "unpaid past deadline": _l("超时未支付"), "cashier opened": _l("打开收银台"),
    "channel reports paid": _l("渠道通知已支付"), "paid after close": _l("关单后渠道仍支付成功"),
    "HIS confirmed": _l("医院已确认"), "HIS holds the trade: confirmed": _l("医院已有此笔交易：确认成功"),
    "sent to channel": _l("已提交渠道"), "refund succeeded": _l("退款成功"),
    "late refund success": _l("渠道迟到的退款成功"), "refund retried": _l("重试退款"),
    "refunds settled": _l("退款已结清"),
    "the channel never received it: sent again": _l("渠道未收到退款申请：已重新提交"),
    "channel reports ABNORMAL: needs handling at the merchant platform":
        _l("渠道报告退款异常：需在商户平台处理"),
    "ABNORMAL": _l("退款异常：需在商户平台处理"), "channel notification: closed": _l("渠道通知：退款已关闭"),
    "stale sending released": _l("发送超时，重新排队"), "run again": _l("重新生成"),
    "stale run released": _l("生成超时，重新排队"),
    # hold_slot records the registration kind as the reason of a booking's first move
    "advance": _l("预约挂号"), "same_day": _l("当天挂号"),
    # confirm_payment's checks with the HIS (parts of a reason joined by "; ")
    "asked again: the HIS had not said whether it applied the trade": _l("再次向医院核实（此前医院未答复是否入账）"),
    "the HIS could not say whether it applied the trade": _l("医院无法答复是否已入账"),
    "HIS: trade not applied": _l("医院答复：未入账"), "finance check": _l("财务与医院核实"),
}
CHANNEL_PAYMENT_STATES = {"paid": _l("已支付"), "unpaid": _l("未支付"), "closed": _l("已关闭"),
                          "refunded": _l("已退款"), "not_found": _l("无此订单")}
#: reasons with a number or an answer in them: (pattern, label, the table that names the part kept or
#: None to keep it as written)
REASON_PATTERNS = (
    (re.compile(r"paid (\S+)"), _l("缴费订单 %(x)s 已支付"), None),
    (re.compile(r"refund (\S+)"), _l("退款 %(x)s"), None),
    (re.compile(r"HIS lock refused: (.*)", re.S), _l("医院拒绝锁号：%(x)s"), None),
    (re.compile(r"HIS confirm refused: (.*)", re.S), _l("医院拒绝确认：%(x)s"), None),
    (re.compile(r"HIS lock (\S+)"), _l("医院锁号 %(x)s"), None),
    (re.compile(r"waitlist entry (\S+)"), _l("候补登记 %(x)s"), None),
    (re.compile(r"place freed in slice (\S+)"), _l("号源时段 %(x)s 空出名额"), None),
    (re.compile(r"order (\w+)"), _l("预约订单：%(x)s"), APPOINTMENT_STATUS),
    (re.compile(r"unpaid past deadline \(channel: (\w+)\)"), _l("超时未支付（渠道：%(x)s）"), CHANNEL_PAYMENT_STATES),
    (re.compile(r"HIS refused: (.*)", re.S), _l("医院拒绝：%(x)s"), None),
    (re.compile(r"HIS unavailable after (\d+) attempts: (.*)", re.S), _l("医院 %(x)s 次未能答复：%(y)s"), None),
    (re.compile(r"the HIS holds the trade \((\S+) yuan\) but confirming it again failed: (.*)", re.S),
     _l("医院已有此笔交易（%(x)s 元），但再次确认失败：%(y)s"), None),
    (re.compile(r"checked with the hospital by (\S+): not applied \((.*)\)", re.S),
     _l("%(x)s 已与医院核实未入账（%(y)s）"), None),
)


def reason_label(reason: str | None) -> str:
    """Why an order moved, in Chinese; what a person typed, or a channel's own answer, is shown as is."""
    if not reason:
        return ""
    # the payment commands join what happened step by step with "; " (refused; then the HIS said ...)
    parts = reason.split("; ")
    said = [_known_reason(part) for part in parts]
    if any(text is not None for text in said):
        return "；".join(text if text is not None else part for text, part in zip(said, parts, strict=True))
    return _known_reason(reason) or reason


def _known_reason(reason: str) -> str | None:
    if reason in REASONS:
        return str(REASONS[reason])
    for pattern, text, table in REASON_PATTERNS:
        found = pattern.fullmatch(reason)
        if found is not None:
            part = found.group(1)
            rest = found.group(2) if pattern.groups > 1 else ""
            return str(text) % {"x": label(table, part) if table else part, "y": rest}
    return None


HIS_CHECK_ANSWERS = {"applied": _l("医院已入账"), "not_applied": _l("医院未入账"), "unavailable": _l("医院未能答复")}


def his_checks_of(payment_id: int) -> list[HisCheck]:
    """Every time the HIS was asked about the payment's trade before money moved, oldest first."""
    return list(db.session.scalars(select(HisCheck).where(HisCheck.payment_id == payment_id)
                                   .order_by(HisCheck.asked_at, HisCheck.id)))


def totals(order_type: str, criteria: Mapping[str, str]) -> dict[str, int]:
    """Count and amounts (fen) of every row the criteria select: the 合计 under a filtered list."""
    from sqlalchemy import func

    if order_type == "appointment":
        stmt = select(func.count(), func.coalesce(func.sum(AppointmentOrder.fee_fen), 0)).select_from(AppointmentOrder)
        count, fee = db.session.execute(where(stmt, order_type, criteria)).one()
        return {"count": count, "amount_fen": int(fee)}
    if order_type == "payment":
        stmt = select(func.count(), func.coalesce(func.sum(PaymentOrder.amount_fen), 0),
                      func.coalesce(func.sum(PaymentOrder.refunded_fen), 0)).select_from(PaymentOrder)
        count, amount, refunded = db.session.execute(where(stmt, order_type, criteria)).one()
        return {"count": count, "amount_fen": int(amount), "refunded_fen": int(refunded)}
    stmt = select(func.count(), func.coalesce(func.sum(Refund.amount_fen), 0)).select_from(Refund)
    count, amount = db.session.execute(where(stmt, "refund", criteria)).one()
    return {"count": count, "amount_fen": int(amount)}
