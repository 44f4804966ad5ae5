"""订单全链路: find an order by any number the patient or the channel has, and tell its whole story.

One timeline, oldest first, of every state change (who, when, why), channel notification received,
question put to the HIS and its answer, side effect queued for the HIS, refund, notice to the patient
and each push attempt, and staff actions, so a failed payment can be diagnosed from one page.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from itertools import groupby

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select

from app import clock
from app.extensions import db
from app.models import (AppointmentOrder, AuditLog, ChannelNotification, HisCall, HisCheck, MessagePush,
                        Notification, OutboxTask, Patient, PaymentOrder, Refund, StateTransition)
from app.backoffice import orders
from app.outbox import OutboxStatus
from app.payments.states import AWAITING_HIS, PaymentStatus, RefundStatus
from app.registration.states import AppointmentStatus
from app.services.states import MACHINES, NoticeStatus

#: how many orders a phone number may list before staff are asked to narrow it
MAX_MATCHES = 50

#: a move into any of these is shown in red on the trace, whichever machine made it (trouble to look at)
TROUBLE = frozenset({PaymentStatus.CONFIRM_FAILED, PaymentStatus.CONFIRM_UNKNOWN, RefundStatus.FAILED,
                     RefundStatus.ABNORMAL, AppointmentStatus.LOCK_FAILED, NoticeStatus.FAILED})
#: a payment's moves the HIS's answer causes (out of awaiting it; not a return there after a failed refund):
#: 医院已入账 / 医院最近一次答复 are dated by the latest of them
HIS_ANSWERED = frozenset({PaymentStatus.CONFIRMED, PaymentStatus.CONFIRM_FAILED, PaymentStatus.CONFIRM_UNKNOWN})


@dataclass
class Match:
    """An order found by the search: the story's root (a booking, or a payment without one)."""

    order_type: str  # appointment | payment
    id: int
    order_no: str
    status: str
    created_at: dt.datetime
    found_by: str

    @property
    def beijing(self) -> str:
        return clock.display(self.created_at)


@dataclass
class Event:
    at: dt.datetime
    source: str      # state | channel | his | outbox | refund | notice | push | staff
    title: str
    detail: str = ""
    actor: str = ""
    bad: bool = False
    #: where a state event stands in its order's life (creation 0, then its machine's states in order);
    #: None for everything else
    step: int | None = None

    @property
    def beijing(self) -> str:
        return clock.display(self.at)


@dataclass
class Story:
    appointment: AppointmentOrder | None
    payments: list[PaymentOrder]
    refunds: list[Refund]
    events: list[Event] = field(default_factory=list)

    @property
    def order_no(self) -> str:
        return self.appointment.order_no if self.appointment else self.payments[0].order_no


def _root(payment: PaymentOrder) -> tuple[str, int]:
    return ("appointment", payment.appointment_id) if payment.appointment_id else ("payment", payment.id)


def find(text: str) -> list[Match]:
    """Orders a number stands for: order no., 渠道交易号, HIS visit/receipt/bill no., refund no. (ours or
    the channel's), phone or card number; newest first, each a story's root."""
    q = (text or "").strip()
    if not q:
        return []
    roots: dict[tuple[str, int], str] = {}

    def add_payment(p: PaymentOrder, why: str) -> None:
        roots.setdefault(_root(p), why)

    for a in db.session.scalars(select(AppointmentOrder).where(
            or_(AppointmentOrder.order_no == q, AppointmentOrder.his_visit_no == q))):
        roots.setdefault(("appointment", a.id), _("订单号") if a.order_no == q else _("HIS 就诊号"))
    for p in db.session.scalars(select(PaymentOrder).where(or_(
            PaymentOrder.order_no == q, PaymentOrder.channel_trade_no == q, PaymentOrder.his_receipt_no == q,
            PaymentOrder.business_ref == q))):
        add_payment(p, _("订单号") if p.order_no == q else _("渠道交易号") if p.channel_trade_no == q
                    else _("HIS 收据号") if p.his_receipt_no == q else _("业务单号"))
    for r in db.session.scalars(select(Refund).where(or_(Refund.refund_no == q, Refund.channel_refund_no == q))):
        add_payment(r.payment, _("退款单号"))
    if not roots:  # a phone or card number: that patient's orders
        patients = select(Patient.id).where(or_(Patient.phone == q, Patient.card_no == q))
        for a in db.session.scalars(select(AppointmentOrder).where(AppointmentOrder.patient_id.in_(patients))
                                    .order_by(AppointmentOrder.id.desc()).limit(MAX_MATCHES)):
            roots.setdefault(("appointment", a.id), _("手机号或就诊卡号"))
        for p in db.session.scalars(select(PaymentOrder).where(PaymentOrder.patient_id.in_(patients))
                                    .order_by(PaymentOrder.id.desc()).limit(MAX_MATCHES)):
            add_payment(p, _("手机号或就诊卡号"))
    matches = []
    for (kind, pk), why in roots.items():
        model = AppointmentOrder if kind == "appointment" else PaymentOrder
        order = db.session.get(model, pk)
        if order is not None:
            matches.append(Match(kind, pk, order.order_no, order.status, order.created_at, why))
    matches.sort(key=lambda m: m.created_at, reverse=True)
    return matches[:MAX_MATCHES]


def _short(raw: str | None, limit: int = 300) -> str:
    if not raw:
        return ""
    try:
        raw = json.dumps(json.loads(raw), ensure_ascii=False, sort_keys=True)
    except (TypeError, ValueError):
        pass
    return raw if len(raw) <= limit else raw[:limit] + "…"


#: ``patient:12`` / ``system:his`` / ``channel:wechat`` as every page names who moved an order
_actor = orders.actor_label


def story(order_type: str, order_id: int) -> Story | None:
    """The whole story of a booking (with its payments) or of a payment without a booking."""
    if order_type == "appointment":
        appointment = db.session.get(AppointmentOrder, order_id)
        if appointment is None:
            return None
        payments = orders.payments_of_appointment(appointment.id)
    else:
        payment = db.session.get(PaymentOrder, order_id)
        if payment is None:
            return None
        if payment.appointment_id:
            return story("appointment", payment.appointment_id)
        appointment, payments = None, [payment]
    refunds = [r for p in payments for r in orders.refunds_of(p.id)]
    result = Story(appointment, payments, refunds)
    result.events = _events(result)
    return result


def _events(s: Story) -> list[Event]:
    events: list[Event] = []
    ids = {"payment": [p.id for p in s.payments], "refund": [r.id for r in s.refunds],
           "appointment": [s.appointment.id] if s.appointment else []}
    numbers = {p.order_no for p in s.payments} | {r.refund_no for r in s.refunds}
    if s.appointment:
        numbers.add(s.appointment.order_no)
    no_of = {("payment", p.id): p.order_no for p in s.payments} | {("refund", r.id): r.refund_no for r in s.refunds}
    if s.appointment:
        no_of[("appointment", s.appointment.id)] = s.appointment.order_no
    created = [("appointment", s.appointment)] if s.appointment else []
    created += [("payment", p) for p in s.payments] + [("refund", r) for r in s.refunds]
    for kind, row in created:
        label = orders.ORDER_TYPES[kind]
        if kind == "refund":
            detail = _("%(amount)s 元，原因：%(reason)s", amount=_yuan(row.amount_fen), reason=row.reason)
            events.append(Event(row.created_at, "refund", _("申请退款 %(no)s", no=row.refund_no), detail,
                                _actor(row.requested_by), step=0))
        else:
            events.append(Event(row.created_at, "state", _("创建%(kind)s %(no)s", kind=label, no=row.order_no),
                                _created_detail(kind, row), step=0))

    conds = [(StateTransition.order_type == k) & StateTransition.order_id.in_(v) for k, v in ids.items() if v]
    # when the HIS last answered a payment: the move its answer caused (updated_at moves with any later refund)
    answered: dict[int, dt.datetime] = {}
    for t in db.session.scalars(select(StateTransition).where(or_(*conds))) if conds else []:
        if t.order_type == "payment" and t.from_status in AWAITING_HIS and t.to_status in HIS_ANSWERED:
            answered[t.order_id] = max(answered.get(t.order_id, t.at), t.at)
        title = _("%(what)s %(no)s：%(a)s → %(b)s", what=orders.ORDER_TYPES.get(t.order_type, t.order_type),
                  no=no_of.get((t.order_type, t.order_id), ""), a=orders.status_label(t.order_type, t.from_status),
                  b=orders.status_label(t.order_type, t.to_status))
        bad = t.to_status in TROUBLE
        events.append(Event(t.at, "state", title, orders.reason_label(t.reason), _actor(t.actor), bad,
                            step=_machine_step(t.order_type, t.to_status)))

    for n in db.session.scalars(select(ChannelNotification).where(ChannelNotification.order_no.in_(numbers))):
        bad = n.outcome.startswith("rejected")
        outcome = str(_OUTCOMES.get(n.outcome, n.outcome))
        events.append(Event(n.received_at, "channel",
                            _("收到%(channel)s%(kind)s通知", channel=orders.label(orders.CHANNELS, n.channel),
                              kind=_("支付") if n.kind == "payment" else _("退款")),
                            _("处理结果：%(outcome)s；通知编号 %(id)s", outcome=outcome,
                              id=n.notify_id), _("支付渠道"), bad))

    for c in db.session.scalars(select(HisCheck).where(HisCheck.payment_id.in_(ids["payment"] or [-1]))):
        events.append(Event(c.asked_at, "his", _("向医院核实交易 %(no)s", no=c.trade_no),
                            _("原因：%(why)s；答复：%(answer)s %(detail)s", why=orders.reason_label(c.why),
                              answer=orders.label(orders.HIS_CHECK_ANSWERS, c.answer), detail=_short(c.detail)),
                            _actor(c.actor), c.answer == "unavailable"))
    for p in s.payments:
        at = answered.get(p.id, p.updated_at)
        if p.his_receipt_no:
            events.append(Event(at, "his", _("医院已入账，收据号 %(no)s", no=p.his_receipt_no),
                                _("共向医院确认 %(n)s 次", n=p.his_attempts), _("医院 HIS")))
        elif p.his_error:
            events.append(Event(at, "his", _("医院最近一次答复：%(error)s", error=orders.reason_label(p.his_error)),
                                _("已向医院确认 %(n)s 次", n=p.his_attempts), _("医院 HIS"), True))

    refs = numbers | {p.channel_trade_no for p in s.payments if p.channel_trade_no}
    for call in db.session.scalars(select(HisCall).where(HisCall.ref.in_(refs))):
        said = str(_HIS_OUTCOMES.get(call.outcome.split(":")[0], call.outcome))
        events.append(Event(call.at, "his", _("调用医院接口 %(method)s：%(outcome)s（%(ms)s 毫秒）",
                                              method=str(_HIS_METHODS.get(call.method, call.method)), outcome=said,
                                              ms=call.duration_ms),
                            _("请求 %(request)s；答复 %(answer)s", request=call.request or "",
                              answer=call.answer or ""),
                            _("医院 HIS"), call.outcome != "ok"))
    for o in db.session.scalars(select(OutboxTask).where(OutboxTask.ref.in_(numbers))):
        events.append(Event(o.created_at, "outbox", _("待执行任务：%(kind)s", kind=orders.label(OUTBOX_KINDS, o.kind)),
                            _("状态 %(status)s，尝试 %(n)s 次 %(error)s", status=orders.label(OUTBOX_STATES, o.status),
                              n=o.attempts, error=o.last_error or ""), _("系统"), o.status == OutboxStatus.FAILED))

    key_conds = [Notification.dedupe_key.endswith(f":{no}", autoescape=True) for no in numbers]
    notices = list(db.session.scalars(select(Notification).where(or_(*key_conds)))) if key_conds else []
    for n in notices:
        events.append(Event(n.created_at, "notice", _("通知患者：%(title)s", title=n.title),
                            _("发送状态 %(status)s %(error)s", status=str(_NOTICE_STATUS.get(n.status, n.status)),
                              error=n.last_error or ""), _("系统"), n.status == NoticeStatus.FAILED))
    if notices:
        for push in db.session.scalars(select(MessagePush).where(
                MessagePush.notification_id.in_([n.id for n in notices]))):
            events.append(Event(push.at, "push", _("推送到%(channel)s：%(ok)s", channel=orders.label(
                orders.CHANNELS, push.channel), ok=_("成功") if push.ok else _("失败")),
                " ".join(x for x in (push.error_code, push.error_message) if x), _("支付渠道"), not push.ok))

    audit_conds = [AuditLog.target_id.in_(numbers)]
    for kind, values in (("appointment", ids["appointment"]), ("payment", ids["payment"])):
        if values:
            audit_conds.append((AuditLog.target_type == kind) & AuditLog.target_id.in_([str(v) for v in values]))
    for a in db.session.scalars(select(AuditLog).where(or_(*audit_conds))):
        events.append(Event(a.at, "staff", str(_STAFF_ACTIONS.get(a.action, a.action)), _short(a.detail, 200),
                            a.actor_name or _actor(a.actor_type)))
    return in_order(events)


def _machine_step(order_type: str, status: str) -> int:
    """1 + the state's place in its machine's table (app/services/states.py lists each life in order)."""
    table = list(MACHINES.get(order_type, (None, {}))[1])
    return 1 + (table.index(status) if status in table else len(table))


def in_order(events: list[Event]) -> list[Event]:
    """By time; within the second the page shows, an order's creation and state moves in its machine's
    order (a refund is 申请退款 before 退款处理中 even when the move was stamped a moment earlier), the
    other events keeping their places."""
    events = sorted(events, key=lambda e: e.at)
    out: list[Event] = []
    for _second, group in groupby(events, key=lambda e: e.at.replace(microsecond=0)):
        group = list(group)
        steps = iter(sorted((e for e in group if e.step is not None), key=lambda e: (e.step, e.at)))
        out += [next(steps) if e.step is not None else e for e in group]
    return out


def _yuan(fen: int) -> str:
    from app.services.formatting import yuan_grouped

    return yuan_grouped(fen)


def _created_detail(kind: str, row) -> str:
    if kind == "appointment":
        return _("%(day)s %(half)s，挂号费 %(fee)s 元，%(channel)s", day=row.clinic_date.isoformat(),
                 half=orders.label(orders.HALF_DAYS, row.half_day), fee=_yuan(row.fee_fen),
                 channel=orders.label(orders.CHANNELS, row.channel))
    return _("%(kind)s %(amount)s 元，%(channel)s", kind=orders.label(orders.KINDS, row.kind),
             amount=_yuan(row.amount_fen), channel=orders.label(orders.CHANNELS, row.channel))


_HIS_METHODS = {
    "lock_slot": _l("锁号"), "confirm_registration": _l("确认挂号"), "cancel_registration": _l("退号"),
    "release_lock": _l("释放号源"), "check_in": _l("签到"), "settle_bill": _l("缴费入账"),
    "pay_deposit": _l("押金入账"), "refund_bill": _l("退费"), "trade_status": _l("查询交易"),
}
#: the outbox's kinds (docs/architecture.md "Outbox kinds") and states as staff read them on the trace
OUTBOX_KINDS = {"payment.confirm_at_his": _l("向医院确认缴费"), "refund.send": _l("向渠道提交退款"),
                "his.cancel_registration": _l("向医院取消挂号"), "his.release_lock": _l("向医院释放锁号"),
                "waitlist.offer": _l("候补补位"), "notice.push": _l("推送消息"), "export.build": _l("生成报表")}
OUTBOX_STATES = {OutboxStatus.PENDING: _l("待执行"), OutboxStatus.DONE: _l("已完成"), OutboxStatus.FAILED: _l("失败")}
_HIS_OUTCOMES = {"ok": _l("成功"), "refused": _l("拒绝"), "unavailable": _l("无法连接"), "error": _l("出错")}
_OUTCOMES = {"applied": _l("已处理"), "duplicate": _l("重复通知，已忽略")}
_NOTICE_STATUS = {"pending": _l("待发送"), "sending": _l("发送中"), "sent": _l("已发送"), "failed": _l("发送失败")}
_STAFF_ACTIONS = {
    "staff.view_order": _l("工作人员查看订单"), "refund.retry": _l("工作人员重试退款"),
    "payment.recheck_his": _l("工作人员向医院核实"), "payment.refund_unknown": _l("工作人员确认医院未入账并退款"),
    "booking.cancel": _l("取消预约"), "booking.attendance": _l("工作人员标记就诊情况"),
}
