"""Data repairs with a trail (因操作失误导致的数据错误维护): propose, approve (another person), reject,
withdraw. Each is one unit of work; nothing is ever written by raw SQL typed by a person.

* A repair is *proposed* by an Admin with a reason; the value before is read now and kept.
* Another Admin *approves* it: the request moves ``proposed -> applied`` by a guarded UPDATE that also
  refuses the proposer (four eyes in the database, a CHECK constraint behind it), and the change is
  made in the same transaction, itself guarded on the value before: a phone is changed only if it is
  still the number the proposer saw; an order moves only through ``app.services.states.move`` from the
  state the proposer saw, along an edge its table allows. If the order has moved on, the request
  ends ``failed`` with the reason and nothing else changes.
* Every step is audited with before/after (phones masked in the audit detail).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import select, update

from app import clock
from app.extensions import db
from app.models import Patient
from app.operations.models import RepairRequest
from app.operations.queries import RepairTarget, find_target
from app.operations.states import RepairKind, RepairStatus, move
from app.services import audit, states
from app.services.errors import Conflict, DomainError, Forbidden, NotFound
from app.services.formatting import mask_phone
from app.services.uow import transaction

PHONE = re.compile(r"1[3-9]\d{9}")
ACTIVE_APPOINTMENT = ("holding", "pending_payment", "paid", "booked")


@dataclass(frozen=True)
class Staff:
    id: int
    username: str


def _staff(user) -> Staff:
    return Staff(int(user.id), str(user.username))


def _shown(field: str, value: str | None) -> str | None:
    return mask_phone(value) if field == "phone" and value else value


@transaction
def propose(staff, order_no: str, kind: str, after: str, reason: str) -> RepairRequest:
    """Record a proposed repair; nothing on the order changes until another person approves it."""
    who = _staff(staff)
    reason = (reason or "").strip()
    if len(reason) < 4:
        raise DomainError(_("请填写维护原因（至少 4 个字）"), code="reason")
    target = find_target(order_no)
    if target is None:
        raise NotFound(_("未找到该订单号"))
    try:
        kind = RepairKind(kind)
    except ValueError:
        raise DomainError(_("不支持的维护类型"), code="kind") from None
    after = (after or "").strip()
    field, before = _check(target, kind, after)
    request = RepairRequest(kind=kind.value, target_type=target.target_type, target_id=target.target_id,
                            order_no=target.order_no, field=field, before_value=before, after_value=after,
                            reason=reason[:1000], status=RepairStatus.PROPOSED.value, proposed_by_id=who.id,
                            proposed_by=who.username, proposed_at=clock.utcnow())
    db.session.add(request)
    db.session.flush()
    audit.record_staff("repair.propose", staff, target_type=target.target_type, target_id=target.target_id,
                       before={field: _shown(field, before)}, after={field: _shown(field, after)},
                       repair=request.id, kind=kind.value, order_no=target.order_no, reason=reason)
    return request


def _check(target: RepairTarget, kind: RepairKind, after: str) -> tuple[str, str | None]:
    """(field, value before) if the repair may be proposed; a DomainError saying why not otherwise."""
    if kind is RepairKind.CONTACT:
        if target.patient_id is None:
            raise DomainError(_("该订单没有就诊人"), code="no_patient")
        if not PHONE.fullmatch(after):
            raise DomainError(_("请填写正确的 11 位手机号"), code="phone")
        if after == target.phone:
            raise DomainError(_("新手机号与原手机号相同"), code="unchanged")
        return "phone", target.phone
    if kind is RepairKind.ATTENDANCE:
        if after not in target.attendance_choices():
            raise DomainError(_("订单当前状态不允许更正为该就诊情况（状态机不允许）"), code="edge")
        return "status", target.status
    if after not in target.next_states():
        raise DomainError(_("订单当前状态不允许转到该状态（状态机不允许）"), code="edge")
    return "status", target.status


@transaction
def approve(staff, request_id: int, note: str = "") -> RepairRequest:
    """Approve and apply another person's proposal, in one unit of work."""
    who = _staff(staff)
    request = _pending(request_id)
    if request.proposed_by_id == who.id:
        raise Forbidden(_("不能审批自己提交的维护申请，请由另一位管理员审批"), status=403)
    now = clock.utcnow()
    failure = _apply(request, who)
    to = RepairStatus.FAILED if failure else RepairStatus.APPLIED
    if not move(request.id, to, decided_by_id=who.id, not_by_id=who.id, decided_by=who.username, decided_at=now,
                decision_note=(failure or note or "")[:255] or None):
        raise Conflict(_("该申请已被处理，请刷新后查看"))
    audit.record_staff("repair.apply" if not failure else "repair.failed", staff, target_type=request.target_type,
                       target_id=request.target_id,
                       before={request.field: _shown(request.field, request.before_value)},
                       after={request.field: _shown(request.field, request.after_value)} if not failure else None,
                       repair=request.id, kind=request.kind, order_no=request.order_no, proposed_by=request.proposed_by,
                       note=note or None, failure=failure)
    db.session.expire(request)
    return request


def _apply(request: RepairRequest, who: Staff) -> str | None:
    """Make the change, guarded on the value the proposer saw; the reason it could not, or None."""
    actor = f"staff:{who.username}"
    reason = f"数据维护 #{request.id}（{request.proposed_by} 申请，{who.username} 审批）：{request.reason}"[:255]
    if request.field == "phone":
        target = find_target(request.order_no)
        if target is None or target.patient_id is None:
            return "订单或就诊人已不存在"
        done = db.session.execute(update(Patient).where(Patient.id == target.patient_id,
                                                        Patient.phone == request.before_value)
                                  .values(phone=request.after_value).execution_options(synchronize_session=False))
        return None if done.rowcount == 1 else "手机号已被修改，与申请时不同"
    machine, to, before = request.target_type, request.after_value, request.before_value or ""
    if not states.allowed(machine, before, to):
        return f"状态机不允许 {before} → {to}"
    extra: dict = {}
    gives_place_back = machine == "appointment" and before in ACTIVE_APPOINTMENT and to not in ACTIVE_APPOINTMENT
    if gives_place_back:
        extra["active_key"] = None  # the order no longer holds its place
    if machine == "appointment" and to == "visited":
        extra["attended_at"] = clock.utcnow()
    if not states.move(machine, request.target_id, before, to, actor=actor, reason=reason, **extra):
        return f"订单状态已变化（不再是 {before}），未做修改"
    if gives_place_back:
        from app.models import AppointmentOrder
        from app.registration.commands import release_place

        release_place(db.session.scalar(select(AppointmentOrder.slice_id)
                                         .where(AppointmentOrder.id == request.target_id)))
    return None


@transaction
def reject(staff, request_id: int, note: str) -> RepairRequest:
    """Another person refuses the proposal (a note is required); nothing on the order changes."""
    who = _staff(staff)
    note = (note or "").strip()
    if len(note) < 2:
        raise DomainError(_("请填写驳回理由"), code="note")
    request = _pending(request_id)
    if request.proposed_by_id == who.id:
        raise Forbidden(_("不能审批自己提交的维护申请，请由另一位管理员审批"), status=403)
    if not move(request.id, RepairStatus.REJECTED, decided_by_id=who.id, not_by_id=who.id, decided_by=who.username,
                decided_at=clock.utcnow(), decision_note=note[:255]):
        raise Conflict(_("该申请已被处理，请刷新后查看"))
    audit.record_staff("repair.reject", staff, target_type=request.target_type, target_id=request.target_id,
                       repair=request.id, order_no=request.order_no, note=note)
    db.session.expire(request)
    return request


@transaction
def withdraw(staff, request_id: int) -> RepairRequest:
    """The proposer takes their own proposal back."""
    who = _staff(staff)
    request = _pending(request_id)
    if request.proposed_by_id != who.id:
        raise Forbidden(_("只能撤回自己提交的申请"), status=403)
    if not move(request.id, RepairStatus.WITHDRAWN, decided_by_id=who.id, decided_by=who.username,
                decided_at=clock.utcnow()):
        raise Conflict(_("该申请已被处理，请刷新后查看"))
    audit.record_staff("repair.withdraw", staff, target_type=request.target_type, target_id=request.target_id,
                       repair=request.id, order_no=request.order_no)
    db.session.expire(request)
    return request


def _pending(request_id: int) -> RepairRequest:
    request = db.session.get(RepairRequest, request_id)
    if request is None:
        raise NotFound(_("维护申请不存在"))
    if request.status != RepairStatus.PROPOSED:
        raise Conflict(_("该申请已被处理，请刷新后查看"))
    return request
