"""Binding hospital cards (就诊卡) to an account: the holder's own and family contacts (家庭联系人).

Every card is verified with the HIS before it is bound: with a card number by name + ID number
(verify_card), without one the HIS finds or opens the card (建档, register_card). A failed check
says why in general terms only, never whether someone else's card exists. An account holds at most
``patients.max_per_account`` bound patients (SystemSetting, default 5) and exactly one default.
"""

from __future__ import annotations

import datetime as dt

import re
from collections.abc import Mapping
from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import func, select, update

from app import clock
from app.extensions import db
from app.his import errors as his_errors
from app.models import AppointmentOrder, ChannelUser, Patient
from app.models.base import utcnow
from app.models.patients import RELATIONS
from app.services import audit
from app.services.errors import Conflict, DomainError
from app.services.formatting import mask_id_number
from app.services.his_access import his_gateway
from app.identity.id_numbers import birth_date_of, gender_of, is_valid_id_number
from app.identity.patients import owned_patient, patients_of
from app.services.uow import unit_of_work
from app.identity.states import PatientStatus

MAX_PATIENTS_KEY = "patients.max_per_account"
NAME_RE = re.compile(r"^[\u4e00-\u9fa5A-Za-z][\u4e00-\u9fa5A-Za-z·• ]{0,18}[\u4e00-\u9fa5A-Za-z]$")
PHONE_RE = re.compile(r"^1[3-9]\d{9}$")
CARD_RE = re.compile(r"^\d{6,20}$")


class InvalidForm(DomainError):
    """Field -> translated message; the page shows each beside its field."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(next(iter(errors.values())), code="invalid_form")
        self.errors = errors


class VerificationFailed(DomainError):
    status = 422
    code = "verification_failed"


class BindingThrottled(VerificationFailed):
    """Too many failed checks for this account or this card: the HIS is not asked until the cool-down ends."""

    status = 429
    code = "too_many_attempts"


def _binding_throttles(owner: ChannelUser, form: "PatientForm") -> list:
    """(throttle, key) pairs: per account, and per card (or per ID number when opening a new card)."""
    from app.security.throttle import Throttle

    pairs = [(Throttle.from_config("bind.account", "BIND_FAILURES_PER_ACCOUNT", "5/3600"), str(owner.id))]
    card = form.card_no or form.id_number
    if card:
        pairs.append((Throttle.from_config("bind.card", "BIND_FAILURES_PER_CARD", "5/3600"), card))
    return pairs


def _check_binding_throttles(owner: ChannelUser, form: "PatientForm") -> list:
    from app.security.throttle import minutes_left

    pairs = _binding_throttles(owner, form)
    for throttle, key in pairs:
        until = throttle.blocked_until(key)
        if until is not None:
            with unit_of_work():
                audit.record("patient.bind_throttled", actor_type="patient", actor_id=str(owner.id),
                             detail=f"scope={throttle.scope}")
            raise BindingThrottled(_("核验失败次数过多，为保护就诊人信息，请 %(n)d 分钟后再试，或到门诊窗口办理",
                                     n=minutes_left(until)))
    return pairs


@dataclass(frozen=True)
class PatientForm:
    relation: str
    name: str
    id_number: str
    phone: str
    card_no: str
    guardian_name: str
    guardian_id_number: str


def max_patients() -> int:
    from app.services.settings import _int, _raw

    return _int(_raw("patients."), MAX_PATIENTS_KEY)


def _clean(data: Mapping[str, str], key: str) -> str:
    return (data.get(key) or "").strip()


def validate_patient_form(data: Mapping[str, str], *, editing: bool = False) -> PatientForm:
    """Check every field; raises InvalidForm with one translated message per bad field."""
    errors: dict[str, str] = {}
    relation = _clean(data, "relation") or "self"
    name = re.sub(r"\s+", " ", _clean(data, "name"))
    id_number = _clean(data, "id_number").upper()
    phone = _clean(data, "phone").replace(" ", "")
    card_no = _clean(data, "card_no")
    guardian_name = _clean(data, "guardian_name")
    guardian_id = _clean(data, "guardian_id_number").upper()
    if relation not in RELATIONS:
        errors["relation"] = _("请选择与本人关系")
    if not editing:
        # An empty field is asked for; "不正确" is kept for what was typed wrong.
        if not name:
            errors["name"] = _("请填写姓名")
        elif not NAME_RE.match(name):
            errors["name"] = _("请输入真实姓名（2-20 个汉字或字母）")
        # A child without an ID number of their own (e.g. a newborn) is verified by the hospital card
        # and the guardian registered with it.
        child_without_id = relation == "child" and not id_number
        if child_without_id:
            if not card_no:
                errors["card_no"] = _("未办理身份证的儿童请填写就诊卡号")
            if not guardian_id:
                errors["guardian_id_number"] = _("未办理身份证的儿童请填写监护人身份证号")
        elif not id_number:
            errors["id_number"] = _("请填写身份证号码")
        elif not is_valid_id_number(id_number):
            errors["id_number"] = _("身份证号码不正确，请核对后重新输入")
        if card_no and not CARD_RE.match(card_no):
            errors["card_no"] = _("就诊卡号应为 6-20 位数字")
    if not phone:
        errors["phone"] = _("请填写手机号")
    elif not PHONE_RE.match(phone):
        errors["phone"] = _("请输入正确的 11 位手机号码")
    if relation == "child" and (guardian_name or guardian_id):
        if not NAME_RE.match(guardian_name):
            errors["guardian_name"] = _("请输入监护人真实姓名")
        if not is_valid_id_number(guardian_id):
            errors["guardian_id_number"] = _("监护人身份证号码不正确")
    if errors:
        raise InvalidForm(errors)
    return PatientForm(relation, name, id_number, phone, card_no, guardian_name, guardian_id)


def _verify_with_his(form: PatientForm) -> tuple[str, str, str | None, dt.date | None]:
    """(card_no, his_patient_id, gender M|F, birth date) the HIS vouches for; VerificationFailed says
    why in general terms."""
    his = his_gateway()
    try:
        if form.card_no:
            found = his.verify_card(form.card_no, form.name, form.id_number,
                                    guardian_id_number=form.guardian_id_number or None)
            return found.card_no, found.patient_id, found.gender, found.birth_date
        card = his.register_card(form.name, form.id_number, form.phone)
        return card.card_no, card.patient_id, None, None
    except (his_errors.NotFound, his_errors.CardMismatch):
        # Same words whether the card is missing or belongs to another name: nothing leaks.
        raise VerificationFailed(_("信息核验未通过：请核对姓名、身份证号与就诊卡号是否与医院登记一致")) from None
    except his_errors.InvalidRequest:
        raise VerificationFailed(_("信息核验未通过：医院系统不接受所填信息，请到门诊窗口办理")) from None


def bind_patient(owner: ChannelUser, data: Mapping[str, str]) -> Patient:
    """Verify and bind a card to ``owner``; the first card becomes the default."""
    form = validate_patient_form(data)
    bound = patients_of(owner.id)
    if len(bound) >= max_patients():
        raise Conflict(_("每个账号最多绑定 %(n)d 位就诊人，请先解绑不再使用的就诊人", n=max_patients()))
    if form.relation == "self" and any(p.relation == "self" for p in bound):
        raise InvalidForm({"relation": _("本人只能绑定一次，家人请选择相应关系")})
    throttles = _check_binding_throttles(owner, form)
    try:
        card_no, his_patient_id, his_gender, his_birth = _verify_with_his(form)
    except VerificationFailed:
        for throttle, key in throttles:  # only wrong details count; a bound card or a full account does not
            throttle.failed(key)
        with unit_of_work():
            audit.record("patient.bind_failed", actor_type="patient", actor_id=str(owner.id),
                         detail=f"card={'yes' if form.card_no else 'no'} id={mask_id_number(form.id_number)}")
        raise
    with unit_of_work():
        existing = db.session.scalar(select(Patient).where(Patient.owner_id == owner.id,
                                                           Patient.card_no == card_no))
        if existing is not None and existing.status == PatientStatus.BOUND:
            raise Conflict(_("该就诊卡已绑定在您的账号中"))
        count = db.session.scalar(select(func.count()).select_from(Patient).where(
            Patient.owner_id == owner.id, Patient.status == PatientStatus.BOUND)) or 0
        patient = existing or Patient(owner_id=owner.id, card_no=card_no)
        patient.name, patient.id_number, patient.phone = form.name, form.id_number or None, form.phone
        patient.relation, patient.his_patient_id = form.relation, his_patient_id
        gender = gender_of(form.id_number) if form.id_number else his_gender
        patient.gender = {"M": "male", "F": "female"}.get(gender or "")
        patient.birth_date = birth_date_of(form.id_number) if form.id_number else his_birth
        patient.guardian_name = form.guardian_name or None
        patient.guardian_id_number = form.guardian_id_number or None
        patient.status, patient.bound_at, patient.unbound_at = PatientStatus.BOUND, utcnow(), None
        patient.channel = owner.channel
        patient.is_default = count == 0
        db.session.add(patient)
        db.session.flush()
        audit.record("patient.bind", actor_type="patient", actor_id=str(owner.id), target_type="patient",
                     target_id=patient.id, detail=f"relation={form.relation} id={mask_id_number(form.id_number)}")
    return patient


def update_contact(owner: ChannelUser, patient_id: int | str, data: Mapping[str, str]) -> Patient:
    """Change what the HIS did not verify: phone, relation, guardian. Name/ID need a new binding."""
    form = validate_patient_form(data, editing=True)
    with unit_of_work():
        patient = owned_patient(owner.id, patient_id)
        if form.relation == "self" and patient.relation != "self" and any(
                p.relation == "self" for p in patients_of(owner.id)):
            raise InvalidForm({"relation": _("本人只能绑定一次，家人请选择相应关系")})
        patient.phone, patient.relation = form.phone, form.relation
        if form.relation == "child":
            patient.guardian_name = form.guardian_name or None
            patient.guardian_id_number = form.guardian_id_number or None
        audit.record("patient.update", actor_type="patient", actor_id=str(owner.id), target_type="patient",
                     target_id=patient.id)
    return patient


class PatientHasBookings(Conflict):
    """Unbinding would hide paid bookings still ahead (their refunds and reminders go to this account)."""

    code = "has_bookings"

    def __init__(self, orders: list[AppointmentOrder]) -> None:
        super().__init__(_("该就诊人还有待就诊的预约，请先取消预约或就诊后再解绑"))
        self.orders = orders


#: a booking paid for and still ahead: the patient would lose sight of it if unbound
_PAID_AHEAD = ("paid", "booked")


def remove_contact(owner: ChannelUser, patient_id: int | str) -> None:
    """Unbind a patient; when it was the default, the next bound patient becomes the default.
    Refused (``PatientHasBookings``, listing them) while the patient holds paid bookings still ahead."""
    with unit_of_work():
        patient = owned_patient(owner.id, patient_id)
        ahead = list(db.session.scalars(select(AppointmentOrder).where(
            AppointmentOrder.patient_id == patient.id, AppointmentOrder.status.in_(_PAID_AHEAD),
            AppointmentOrder.clinic_date >= clock.today())
            .order_by(AppointmentOrder.clinic_date, AppointmentOrder.start_time)))
        if ahead:
            raise PatientHasBookings(ahead)
        was_default = patient.is_default
        patient.status, patient.unbound_at, patient.is_default = PatientStatus.UNBOUND, utcnow(), False
        db.session.flush()
        if was_default:
            rest = patients_of(owner.id)
            if rest:
                rest[0].is_default = True
        audit.record("patient.unbind", actor_type="patient", actor_id=str(owner.id), target_type="patient",
                     target_id=patient.id)


def set_default(owner: ChannelUser, patient_id: int | str) -> Patient:
    """Make one bound patient the account's default (the others lose the mark)."""
    with unit_of_work():
        patient = owned_patient(owner.id, patient_id)
        db.session.execute(update(Patient).where(Patient.owner_id == owner.id, Patient.id != patient.id)
                           .values(is_default=False).execution_options(synchronize_session=False))
        patient.is_default = True
    return patient


def default_patient(owner_id: int) -> Patient | None:
    """The account's default patient (or its first bound one), None when nothing is bound."""
    bound = patients_of(owner_id)
    return bound[0] if bound else None
