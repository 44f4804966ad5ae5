"""Inpatient services (住院服务): the stay, 押金 top-ups through the payment core, deposit records,
the daily list (每日清单) and the total cost with a low-balance warning.

Only stays of the account's own bound patients are ever shown; a stay found by admission number
(住院号) must belong to one of them. The HIS is credited after the money arrives, with the payment
core's confirm-or-refund rule (a discharged stay refuses the deposit and the patient is refunded).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections import defaultdict
from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import func, select

from app import clock
from app.links import patient_url
from app.extensions import db
from app.his.errors import HisError
from app.his.errors import NotFound as HisNotFound
from app.his.interface import CostItem, InpatientStay
from app.models import Patient, PaymentOrder, Refund
from app.payments.states import REFUND_IN_FLIGHT, PaymentStatus as P, RefundStatus
from app.payments import commands as payments
from app.services.errors import Conflict, DomainError, NotFound
from app.services.formatting import mask_name, yuan
from app.services.his_access import his_gateway
from app.services.money import parse_yuan
from app.messages.notifications import notify
from app.identity.patients import owned_patient, patients_of
from app.services.settings import setting_fen, setting_fen_default
from app.services.uow import unit_of_work
from app.his.interface import StayStatus

log = logging.getLogger("deposits")

DEFAULT_MIN_FEN = setting_fen_default("deposit.min_yuan")    # the registry's, app/services/settings.py
DEFAULT_MAX_FEN = setting_fen_default("deposit.max_yuan")
_INPATIENT_NO = re.compile(r"^[A-Za-z0-9]{4,20}$")


@dataclass(frozen=True)
class StayView:
    """A stay of one of the account's patients, with the balance warning worked out."""

    patient: Patient
    stay: InpatientStay
    warning_fen: int

    @property
    def low_balance(self) -> bool:
        return self.stay.balance_fen < self.warning_fen

    @property
    def in_hospital(self) -> bool:
        return self.stay.status == StayStatus.IN_HOSPITAL


def deposit_limits() -> tuple[int, int]:
    """(minimum, maximum) of one top-up in fen, from settings ``deposit.min_yuan`` / ``deposit.max_yuan``."""
    low = setting_fen("deposit.min_yuan")
    high = setting_fen("deposit.max_yuan")
    if low <= 0 or high < low:
        log.error("deposit limits %s..%s fen make no sense; using the defaults", low, high)
        return DEFAULT_MIN_FEN, DEFAULT_MAX_FEN
    return low, high


def balance_warning_fen() -> int:
    """Below this balance the patient is warned to top up (setting ``inpatient.balance_warning_yuan``)."""
    return setting_fen("inpatient.balance_warning_yuan")


def _stay_of_card(card_no: str) -> InpatientStay | None:
    try:
        return his_gateway().inpatient_stay(card_no)
    except HisNotFound:
        return None


def stay_of(owner_id: int, patient_id: int | str | None) -> tuple[Patient, StayView | None]:
    """The current (else latest) stay of one of the account's patients, or None when it never stayed."""
    patient = owned_patient(owner_id, patient_id)
    stay = _stay_of_card(patient.card_no)
    return patient, None if stay is None else StayView(patient, stay, balance_warning_fen())


def find_stay(owner_id: int, inpatient_no: str) -> StayView:
    """A stay by admission number (住院号), only among the account's own patients."""
    number = (inpatient_no or "").strip().upper()
    if not _INPATIENT_NO.match(number):
        raise DomainError(_("住院号格式不正确，请输入住院腕带或押金单上的住院号"))
    for patient in patients_of(owner_id):
        stay = _stay_of_card(patient.card_no)
        if stay is not None and stay.inpatient_no.upper() == number:
            return StayView(patient, stay, balance_warning_fen())
    raise NotFound(_("未找到该住院号：只能查询已绑定就诊人的住院信息"))


def _require_stay(owner_id: int, patient_id: int | str | None) -> StayView:
    _patient, view = stay_of(owner_id, patient_id)
    if view is None:
        raise NotFound(_("该就诊人暂无住院记录"))
    return view


# -- top-up ---------------------------------------------------------------------------------------

def create_deposit_payment(owner_id: int, patient_id: int | str | None, inpatient_no: str, amount_yuan: str,
                           channel: str) -> PaymentOrder:
    """Open a 押金 payment order for a current stay of the account's patient.

    Refused with a clear message, before any money moves: another patient's or unknown stay, a
    discharged stay, an amount that is not yuan with at most two decimals, or outside the limits.
    """
    view = _require_stay(owner_id, patient_id)
    if view.stay.inpatient_no != (inpatient_no or "").strip():
        raise NotFound(_("住院记录不存在"))
    if not view.in_hospital:
        raise Conflict(_("该住院记录已出院结算，无法缴纳押金"))
    amount = parse_yuan(amount_yuan)
    if amount is None:
        raise DomainError(_("请输入正确的金额（单位：元，最多两位小数）"))
    low, high = deposit_limits()
    if amount < low:
        raise DomainError(_("单次缴纳押金不能低于 ¥%(amount)s", amount=yuan(low)))
    if amount > high:
        raise DomainError(_("单次缴纳押金不能高于 ¥%(amount)s", amount=yuan(high)))
    stay = view.stay
    with unit_of_work():
        order = payments.create_payment_order(
            kind="deposit", owner_id=owner_id, patient_id=view.patient.id, channel=channel, amount_fen=amount,
            description=f"住院押金-{stay.inpatient_no}", actor=f"patient:{owner_id}", business_ref=stay.inpatient_no,
            detail={"inpatient_no": stay.inpatient_no, "ward": stay.ward, "bed": stay.bed,
                    "balance_before_fen": stay.balance_fen})
    log.info("deposit payment opened order=%s stay=%s amount=%s", order.order_no, stay.inpatient_no, yuan(amount))
    return order


class DepositPayment:
    """PaymentKind "deposit": credit the stay at the HIS once the money arrived."""

    def confirm(self, payment: PaymentOrder) -> payments.ConfirmOutcome:
        """Credit the deposit (idempotent on the trade number); a discharged stay refuses: refunded."""
        his = his_gateway()
        record = his.pay_deposit(payment.business_ref or "", payment.amount_fen, payment.channel_trade_no or "",
                                 payment.channel)
        extra: dict[str, str] = {"deposit_no": record.deposit_no}
        try:
            extra["balance_fen"] = str(his.total_cost(record.inpatient_no).balance_fen)
        except HisError:
            pass  # the deposit is in; the balance shows on the stay page
        line = _("押金 ¥%(amount)s 已存入住院账户（住院号 %(no)s）", amount=yuan(payment.amount_fen),
                 no=record.inpatient_no)
        if "balance_fen" in extra:
            line += _("，当前余额 ¥%(balance)s", balance=yuan(int(extra["balance_fen"])))
        return payments.ConfirmOutcome(receipt_no=record.deposit_no, guidance=(line,), extra=extra)

    def on_confirmed(self, payment: PaymentOrder, outcome: payments.ConfirmOutcome) -> None:
        notify(payment.owner_id, "deposit_paid", _("押金缴纳成功"),
               _("%(patient)s 住院押金缴纳成功。", patient=mask_name(payment.patient.name)) + "".join(outcome.guidance),
               dedupe_key=f"deposit_paid:{payment.order_no}",
               link=patient_url("h5.inpatient", patient_id=payment.patient_id),
               payload={"order_no": payment.order_no, "amount_fen": payment.amount_fen,
                        "inpatient_no": payment.business_ref, "deposit_no": outcome.receipt_no})

    def on_closed(self, payment: PaymentOrder) -> None:
        """Nothing is held at the HIS for an unpaid deposit."""

    def on_confirm_failed(self, payment: PaymentOrder, reason: str) -> None:
        notify(payment.owner_id, "deposit_failed", _("押金未能入账"),
               _("医院系统未能将本次押金（¥%(amount)s）存入住院账户，款项将原路退回。",
                 amount=yuan(payment.amount_fen)),
               dedupe_key=f"deposit_failed:{payment.order_no}",
               link=patient_url("h5.inpatient", patient_id=payment.patient_id))

    def on_refunded(self, payment: PaymentOrder, refund: Refund) -> None:
        notify(payment.owner_id, "refund_success", _("退费成功"),
               _("您的退费 ¥%(amount)s 已原路退回（%(reason)s），订单号 %(order_no)s。", amount=yuan(refund.amount_fen),
                 reason=refund.reason, order_no=payment.order_no),
               dedupe_key=f"refund_success:{refund.refund_no}",
               link=patient_url("h5.deposit_records", patient_id=payment.patient_id),
               payload={"order_no": payment.order_no, "refund_no": refund.refund_no, "amount_fen": refund.amount_fen})

    def result_url(self, payment: PaymentOrder) -> str:
        return patient_url("h5.inpatient", patient_id=payment.patient_id)


# -- records, daily list, total cost ---------------------------------------------------------------

@dataclass(frozen=True)
class DepositLine:
    """One top-up as the patient sees it: time (hospital local), amount, channel, state."""

    at: dt.datetime
    amount_fen: int
    channel: str
    state: str  # credited | crediting | paying | refunding | refunded | closed
    deposit_no: str | None = None
    order_no: str | None = None
    refunded_fen: int = 0   # already back on the patient's WeChat Pay / Alipay (e.g. 出院结算退押金)
    refunding_fen: int = 0  # on its way back (the channel has not confirmed yet)


_ORDER_STATE = {P.CREATED: "paying", P.PAYING: "paying", P.PAID: "crediting", P.CONFIRM_UNKNOWN: "crediting",
                P.CONFIRMED: "credited",
                P.CONFIRM_FAILED: "refunding", P.REFUNDING: "refunding", P.REFUNDED: "refunded",
                P.PARTIALLY_REFUNDED: "refunded", P.CLOSED: "closed"}


def deposit_lines(owner_id: int, patient_id: int | str | None) -> tuple[StayView, list[DepositLine]]:
    """Every top-up of the stay, newest first: the HIS's records (window and online) merged with this
    account's own online orders that the HIS has not (yet) credited."""
    view = _require_stay(owner_id, patient_id)
    records = his_gateway().deposit_records(view.stay.inpatient_no)
    orders = db.session.scalars(select(PaymentOrder).where(
        PaymentOrder.owner_id == owner_id, PaymentOrder.kind == "deposit",
        PaymentOrder.business_ref == view.stay.inpatient_no)).all()
    by_trade = {o.channel_trade_no: o for o in orders if o.channel_trade_no}
    back = _refunds_by_order([o.id for o in orders])
    lines = []
    for r in records:
        order = by_trade.get(r.trade_no)
        done, going = back.get(order.id, (0, 0)) if order else (0, 0)
        lines.append(DepositLine(r.paid_at, r.amount_fen, r.channel, "credited", deposit_no=r.deposit_no,
                                 order_no=order.order_no if order else None, refunded_fen=done, refunding_fen=going))
    credited = {r.trade_no for r in records}
    for order in orders:
        if order.channel_trade_no in credited or (order.status == P.CLOSED and order.paid_at is None):
            continue  # already listed from the HIS, or never paid (not a top-up)
        done, going = back.get(order.id, (0, 0))
        lines.append(DepositLine(clock.to_beijing(order.paid_at or order.created_at), order.amount_fen, order.channel,
                                 _ORDER_STATE.get(order.status, order.status), order_no=order.order_no,
                                 refunded_fen=done, refunding_fen=going))
    return view, sorted(lines, key=lambda line: line.at, reverse=True)


def _refunds_by_order(order_ids: list[int]) -> dict[int, tuple[int, int]]:
    """Per payment order: (fen refunded, fen still on the way back); failed refunds count for neither."""
    if not order_ids:
        return {}
    totals: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    rows = db.session.execute(
        select(Refund.payment_id, Refund.status, func.sum(Refund.amount_fen))
        .where(Refund.payment_id.in_(order_ids), Refund.status.in_((*REFUND_IN_FLIGHT, RefundStatus.SUCCESS)))
        .group_by(Refund.payment_id, Refund.status))
    for payment_id, status, amount in rows:
        totals[payment_id][0 if status == RefundStatus.SUCCESS else 1] += int(amount or 0)
    return {payment_id: (done, going) for payment_id, (done, going) in totals.items()}


@dataclass(frozen=True)
class CostGroup:
    category: str
    items: tuple[CostItem, ...]
    total_fen: int


def stay_days(stay: InpatientStay, today: dt.date | None = None) -> list[dt.date]:
    """The days of the stay, admission to discharge (or today), newest first."""
    today = today or clock.today()
    last = stay.discharged_at.date() if stay.discharged_at else max(today, stay.admitted_at.date())
    first = stay.admitted_at.date()
    return [last - dt.timedelta(days=n) for n in range((last - first).days + 1)]


def daily_list(owner_id: int, patient_id: int | str | None,
               day_text: str | None) -> tuple[StayView, dt.date, list[dt.date], list[CostGroup], int]:
    """The 每日清单 of one day of the stay grouped by category (default: the latest day)."""
    view = _require_stay(owner_id, patient_id)
    days = stay_days(view.stay)
    if day_text:
        try:
            day = dt.date.fromisoformat(day_text.strip())
        except ValueError:
            raise DomainError(_("日期格式不正确，请选择住院期间的日期")) from None
        if day not in days:
            raise DomainError(_("所选日期不在住院期间内"))
    else:
        day = days[0]
    costs = his_gateway().daily_costs(view.stay.inpatient_no, day)
    return view, day, days, group_costs(costs.items), costs.total_fen


def group_costs(items: tuple[CostItem, ...] | list[CostItem]) -> list[CostGroup]:
    """Items grouped by category, categories in order of first appearance."""
    groups: dict[str, list[CostItem]] = defaultdict(list)
    for item in items:
        groups[item.category].append(item)
    return [CostGroup(cat, tuple(rows), sum(r.amount_fen for r in rows)) for cat, rows in groups.items()]


@dataclass(frozen=True)
class CostTotals:
    view: StayView
    by_category: list[tuple[str, int]]
    total_fen: int
    deposit_fen: int
    balance_fen: int

    @property
    def low_balance(self) -> bool:
        return self.balance_fen < self.view.warning_fen


def cost_totals(owner_id: int, patient_id: int | str | None) -> CostTotals:
    """Costs to date by category (largest first), deposits, balance and whether it is below the warning."""
    view = _require_stay(owner_id, patient_id)
    summary = his_gateway().total_cost(view.stay.inpatient_no)
    ordered = sorted(summary.by_category.items(), key=lambda kv: (-kv[1], kv[0]))
    return CostTotals(view, ordered, summary.total_fen, summary.deposit_fen, summary.balance_fen)
