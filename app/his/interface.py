"""The one interface through which the platform talks to the hospital information system (HIS).

Every implementation (the stateful simulator, the HTTP adapter) returns the frozen dataclasses
below: plain data, dates as ``datetime.date``/``datetime.datetime`` (hospital local time, naive),
money always as ``int`` fen.  Failures are the typed exceptions of :mod:`app.his.errors`.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

HalfDay = Literal["am", "pm", "evening"]  # 上午, 下午, 晚上 (夜诊)
AreaKind = Literal["clinic", "lab", "exam", "pharmacy"]
ReportKind = Literal["lab", "exam"]


# The HIS's own statuses, as the contract (docs/his-api.md) spells them; the codec decodes each to its
# member and refuses any other value, as it did when they were Literals.

class ScheduleStatus(StrEnum):
    """A session at the HIS (the platform's own copy moves through ``SessionStatus``)."""

    OPEN = "open"
    STOPPED = "stopped"


class ReportStatus(StrEnum):
    PENDING = "pending"
    READY = "ready"


class QueueStatus(StrEnum):
    """A queue ticket at the 分诊台."""

    WAITING = "waiting"
    CALLED = "called"
    DONE = "done"
    MISSED = "missed"


class StayStatus(StrEnum):
    """An inpatient stay (住院)."""

    IN_HOSPITAL = "in_hospital"
    DISCHARGED = "discharged"


class TradeRecordStatus(StrEnum):
    """What became of one thing the HIS did under a payment trade."""

    APPLIED = "applied"
    REVERSED = "reversed"   # taken back at the HIS since (退号, a bill refunded in full)


class InvoiceStatus(StrEnum):
    """A 财政电子票据."""

    ISSUED = "issued"
    VOIDED = "voided"       # 已冲红

LOCK_MINUTES = 15
"""How long a slot lock holds a slice before the HIS releases it."""


@dataclass(frozen=True)
class HisHealth:
    ok: bool
    name: str
    version: str
    server_time: dt.datetime


@dataclass(frozen=True)
class Department:
    code: str
    name: str
    parent_code: str | None
    location: str
    description: str
    bookable: bool


@dataclass(frozen=True)
class Doctor:
    code: str
    name: str
    department_code: str
    title: str
    fee_fen: int
    specialty: str


@dataclass(frozen=True)
class TimeSlice:
    slice_id: str
    start: str
    end: str
    capacity: int
    remaining: int


@dataclass(frozen=True)
class ClinicSession:
    schedule_id: str
    doctor_code: str
    department_code: str
    clinic_date: dt.date
    half_day: HalfDay
    fee_fen: int
    status: ScheduleStatus
    stop_reason: str | None
    slices: tuple[TimeSlice, ...]


@dataclass(frozen=True)
class SlotLock:
    lock_id: str
    slice_id: str
    order_no: str
    expires_at: dt.datetime


@dataclass(frozen=True)
class Registration:
    lock_id: str
    order_no: str
    visit_no: str
    queue_no: str
    location: str
    guidance: str


@dataclass(frozen=True)
class Attendance:
    """Whether a confirmed registration was attended: checked in at the 分诊台 or seen by the doctor.

    ``attended_at`` is the check-in time (hospital local time), None while the patient has not come.
    """

    lock_id: str
    order_no: str
    visit_no: str
    card_no: str
    slice_id: str
    clinic_date: dt.date
    attended: bool
    attended_at: dt.datetime | None


@dataclass(frozen=True)
class Patient:
    patient_id: str
    card_no: str
    name: str
    gender: Literal["M", "F"]
    birth_date: dt.date
    phone: str


@dataclass(frozen=True)
class HospitalCard:
    card_no: str
    patient_id: str
    name: str
    created: bool
    """True when this call opened the card (建档), False when the ID number already had one."""


@dataclass(frozen=True)
class BillItem:
    name: str
    category: str
    spec: str
    quantity: int
    unit_price_fen: int
    amount_fen: int


@dataclass(frozen=True)
class Bill:
    bill_no: str
    card_no: str
    department_name: str
    doctor_name: str
    created_at: dt.datetime
    amount_fen: int
    items: tuple[BillItem, ...]


@dataclass(frozen=True)
class Settlement:
    bill_no: str
    receipt_no: str
    amount_fen: int
    settled_at: dt.datetime
    guidance: tuple[str, ...]


@dataclass(frozen=True)
class BillRefund:
    bill_no: str
    refund_no: str
    amount_fen: int
    refunded_at: dt.datetime


@dataclass(frozen=True)
class QueueTicket:
    queue_no: str
    area_code: str
    area_name: str
    department_name: str
    doctor_name: str
    current_no: str
    ahead_count: int
    status: QueueStatus


@dataclass(frozen=True)
class QueueArea:
    area_code: str
    area_name: str
    kind: AreaKind
    waiting: int
    current_no: str


@dataclass(frozen=True)
class ReportSummary:
    report_id: str
    kind: ReportKind
    title: str
    department_name: str
    status: ReportStatus
    requested_at: dt.datetime
    ready_at: dt.datetime | None


@dataclass(frozen=True)
class LabResult:
    name: str
    result: str
    unit: str
    reference: str
    flag: Literal["", "H", "L"]


@dataclass(frozen=True)
class Report:
    report_id: str
    card_no: str
    patient_name: str
    kind: ReportKind
    title: str
    department_name: str
    status: ReportStatus
    requested_at: dt.datetime
    ready_at: dt.datetime | None
    items: tuple[LabResult, ...] = ()
    findings: str = ""
    conclusion: str = ""


@dataclass(frozen=True)
class InpatientStay:
    inpatient_no: str
    card_no: str
    name: str
    ward: str
    bed: str
    admitted_at: dt.datetime
    discharged_at: dt.datetime | None
    status: StayStatus
    deposit_total_fen: int
    total_cost_fen: int
    balance_fen: int


@dataclass(frozen=True)
class DepositRecord:
    deposit_no: str
    inpatient_no: str
    amount_fen: int
    paid_at: dt.datetime
    trade_no: str
    channel: str


@dataclass(frozen=True)
class CostItem:
    name: str
    category: str
    quantity: int
    unit_price_fen: int
    amount_fen: int


@dataclass(frozen=True)
class DailyCosts:
    inpatient_no: str
    day: dt.date
    items: tuple[CostItem, ...]
    total_fen: int


@dataclass(frozen=True)
class CostSummary:
    inpatient_no: str
    total_fen: int
    by_category: Mapping[str, int] = field(default_factory=dict)
    deposit_fen: int = 0
    balance_fen: int = 0


TradeKind = Literal["registration", "bill", "deposit"]


@dataclass(frozen=True)
class TradeRecord:
    """One thing the HIS did with a payment trade: a registration confirmed, a bill settled, a deposit
    credited. ``reversed``: taken back at the HIS since (退号, the bill refunded in full)."""

    kind: TradeKind
    ref: str                # lock_id / bill_no / deposit_no
    receipt_no: str         # visit_no / receipt_no / deposit_no
    amount_fen: int
    refunded_fen: int
    status: TradeRecordStatus
    applied_at: dt.datetime | None


@dataclass(frozen=True)
class TradeStatus:
    """Whether the HIS holds the money of a payment trade (by the channel's trade number).

    ``applied`` is True while any record is applied. An unknown trade answers ``applied`` False with
    no records: the definite "no" after which the platform may refund the patient.
    """

    trade_no: str
    applied: bool
    applied_fen: int        # what the applied records hold (amount - refunded)
    records: tuple[TradeRecord, ...] = ()
@dataclass(frozen=True)
class CheckIn:
    """A registration checked in by the patient before the visit (诊前签到): the queue number to wait on."""

    lock_id: str
    order_no: str
    visit_no: str
    queue_no: str
    location: str
    checked_in_at: dt.datetime


@dataclass(frozen=True)
class ChildCheck:
    """One 儿童保健 check the HIS recorded: measurements in whole mm and grams, the doctor's words."""

    check_id: str
    card_no: str
    check_date: dt.date
    age_label: str
    height_mm: int
    weight_g: int
    head_mm: int
    doctor_name: str
    conclusion: str


@dataclass(frozen=True)
class InvoiceItem:
    name: str
    amount_fen: int


@dataclass(frozen=True)
class Invoice:
    """A 财政电子票据 (medical e-invoice) issued for one paid trade: 票据代码 (8 digits), 票据号码 (10 digits),
    校验码 (6 characters), payer, items and total in fen; ``qr_text`` is what the QR code carries."""

    trade_no: str
    kind: Literal["registration", "outpatient", "deposit"]
    invoice_code: str
    invoice_no: str
    check_code: str
    issued_at: dt.datetime
    payer: str
    payee: str
    items: tuple[InvoiceItem, ...]
    total_fen: int
    qr_text: str
    status: InvoiceStatus = InvoiceStatus.ISSUED


class HisGateway(ABC):
    """Everything the platform asks the hospital. Implementations hold no Flask state."""

    # --- system -------------------------------------------------------------------------------
    @abstractmethod
    def health(self) -> HisHealth:
        """Return the HIS status; raises HisUnavailable when it cannot be reached."""

    # --- departments, doctors, schedules ------------------------------------------------------
    @abstractmethod
    def list_departments(self) -> tuple[Department, ...]:
        """Every department, parents before children, ordered by code."""

    @abstractmethod
    def list_doctors(self, department_code: str | None = None) -> tuple[Doctor, ...]:
        """Doctors (of one department when given; a parent code includes its children)."""

    @abstractmethod
    def list_schedules(
        self,
        date_from: dt.date,
        date_to: dt.date,
        department_code: str | None = None,
        doctor_code: str | None = None,
    ) -> tuple[ClinicSession, ...]:
        """Clinic sessions with date_from <= clinic_date <= date_to, with live remaining counts."""

    # --- registration -------------------------------------------------------------------------
    @abstractmethod
    def lock_slot(self, slice_id: str, card_no: str, order_no: str) -> SlotLock:
        """Hold one place in a slice for LOCK_MINUTES; never oversells.

        Idempotent on order_no (the same live lock is returned). Raises SlotFull, ScheduleStopped,
        NotFound (slice or card), InvalidRequest (session already over).
        """

    @abstractmethod
    def confirm_registration(
        self, lock_id: str, order_no: str, paid_fen: int, trade_no: str, channel: str
    ) -> Registration:
        """Turn a paid lock into a registration; idempotent for the same lock and order.

        Raises LockExpired (expired or cancelled), AmountMismatch (paid_fen != fee), NotFound,
        InvalidRequest (order_no does not own the lock).
        """

    @abstractmethod
    def cancel_registration(self, lock_id: str, order_no: str, reason: str) -> None:
        """Release a lock or cancel a registration (退号) and free its place; idempotent."""

    @abstractmethod
    def release_lock(self, order_no: str, reason: str) -> None:
        """Release whatever unconfirmed lock ``order_no`` holds (the answer of ``lock_slot`` was lost,
        so the platform never learnt its lock_id). Idempotent: nothing held is no error; a confirmed
        registration is left alone (cancel it with ``cancel_registration``)."""

    @abstractmethod
    def registration_attendance(self, clinic_date: dt.date) -> tuple[Attendance, ...]:
        """Every confirmed registration of one clinic date, attended or not, by visit number.

        Cancelled and expired locks are not registrations and are not listed. The HIS answers for
        sessions still running too (not attended yet); deciding when a session is over is the caller's.
        """

    @abstractmethod
    def check_in(self, lock_id: str, order_no: str) -> CheckIn:
        """诊前签到: the patient checks a confirmed registration in on its clinic day; the queue number
        comes back. Idempotent (the first check-in stays).

        Raises NotFound, InvalidRequest (not confirmed, or not the clinic day).
        """

    # --- for mothers and children -------------------------------------------------------------
    @abstractmethod
    def child_health_records(self, card_no: str) -> tuple[ChildCheck, ...]:
        """The 儿童保健 checks recorded for a child's card, oldest first; NotFound for an unknown card."""

    # --- e-invoices ---------------------------------------------------------------------------
    @abstractmethod
    def invoice(self, trade_no: str) -> Invoice:
        """The 财政电子票据 of a paid trade (registration fee, settled bills, a deposit), issued on the
        first call and the same on every later call. A trade refunded in full comes back ``voided``.

        Raises NotFound (no paid trade with that number).
        """

    # --- cards --------------------------------------------------------------------------------
    @abstractmethod
    def verify_card(self, card_no: str, name: str, id_number: str,
                    guardian_id_number: str | None = None) -> Patient:
        """Return the card's patient if name and ID number match; CardMismatch / NotFound.

        A child without an ID number of their own is verified by name and the guardian's ID number
        (pass ``id_number=""`` and ``guardian_id_number``) as registered at the card's opening."""

    @abstractmethod
    def register_card(
        self,
        name: str,
        id_number: str,
        phone: str,
        gender: str | None = None,
        birth_date: dt.date | None = None,
    ) -> HospitalCard:
        """Open a card (建档), or return the existing card of this ID number.

        Raises InvalidRequest for an invalid ID number and CardMismatch when the ID number's card
        is in another name.
        """

    # --- outpatient bills ---------------------------------------------------------------------
    @abstractmethod
    def pending_bills(self, card_no: str) -> tuple[Bill, ...]:
        """Unpaid outpatient bills of a card, oldest first; NotFound for an unknown card."""

    @abstractmethod
    def settle_bill(self, bill_no: str, amount_fen: int, trade_no: str, channel: str) -> Settlement:
        """Mark a bill paid and say where to go next; idempotent on the same trade_no.

        Raises AmountMismatch, AlreadySettled (paid under another trade or refunded), NotFound.
        """

    # --- payment trades ------------------------------------------------------------------------
    @abstractmethod
    def trade_status(self, trade_no: str) -> TradeStatus:
        """What the HIS did with a payment trade (registration confirmed, bills settled, deposit
        credited), by the channel's trade number. Read-only and idempotent: the platform asks it
        before any refund after a confirmation it did not see succeed, and in reconciliation."""

    @abstractmethod
    def refund_bill(self, bill_no: str, amount_fen: int, refund_no: str) -> BillRefund:
        """Refund (part of) a settled bill; idempotent on refund_no.

        Raises InvalidRequest (bill not paid), AmountMismatch (more than what is left), NotFound.
        """

    # --- queues -------------------------------------------------------------------------------
    @abstractmethod
    def queue_status(self, card_no: str) -> tuple[QueueTicket, ...]:
        """Today's queue tickets of a card (clinic, lab, exam, pharmacy)."""

    @abstractmethod
    def queue_counts(self, kind: str | None = None) -> tuple[QueueArea, ...]:
        """Waiting counts and the number being called, per area (optionally of one kind)."""

    # --- reports ------------------------------------------------------------------------------
    @abstractmethod
    def list_reports(self, card_no: str) -> tuple[ReportSummary, ...]:
        """Lab and exam reports of a card, newest first."""

    @abstractmethod
    def get_report(self, report_id: str, card_no: str) -> Report:
        """One report; NotFound when it does not exist or is not this card's.

        A pending report comes without items, findings or conclusion.
        """

    # --- inpatients ---------------------------------------------------------------------------
    @abstractmethod
    def inpatient_stay(self, card_no: str) -> InpatientStay | None:
        """The current (else the latest) stay of a card, or None when it never stayed."""

    @abstractmethod
    def deposit_records(self, inpatient_no: str) -> tuple[DepositRecord, ...]:
        """Deposits paid for a stay (预交金), oldest first."""

    @abstractmethod
    def pay_deposit(
        self, inpatient_no: str, amount_fen: int, trade_no: str, channel: str
    ) -> DepositRecord:
        """Add a deposit to a current stay; idempotent on trade_no.

        Raises InvalidRequest (discharged, amount <= 0), AmountMismatch (same trade_no, other
        amount), NotFound.
        """

    @abstractmethod
    def daily_costs(self, inpatient_no: str, day: dt.date) -> DailyCosts:
        """The daily list (一日清单) of a stay for one day (empty items when nothing was billed)."""

    @abstractmethod
    def total_cost(self, inpatient_no: str) -> CostSummary:
        """Costs of the whole stay by category, deposits, and balance (deposits - costs)."""

    # --- what a real HIS does on its own (simulator controls for demos and tests) -------------
    @abstractmethod
    def stop_schedule(self, schedule_id: str, reason: str) -> ClinicSession:
        """Stop a clinic session (停诊); new locks are refused with ScheduleStopped. Idempotent."""

    @abstractmethod
    def add_bill(
        self,
        card_no: str,
        items: Sequence[BillItem],
        department_code: str | None = None,
        doctor_code: str | None = None,
    ) -> Bill:
        """Create a pending bill as a doctor would; amount_fen of each item = quantity * price."""

    @abstractmethod
    def mark_report_ready(self, report_id: str) -> ReportSummary:
        """Publish a pending report (idempotent)."""

    @abstractmethod
    def advance_queue(self, area_code: str) -> QueueArea:
        """Finish the ticket being served in an area and call the next waiting one."""

    @abstractmethod
    def mark_attended(self, registration: str, attended_at: dt.datetime | None = None) -> Attendance:
        """Check a registration in at the 分诊台 (by visit number, order number or lock id), as the
        triage nurse does; ``attended_at`` defaults to now. Idempotent: the first check-in stays.

        Raises NotFound (no such registration), InvalidRequest (cancelled or not confirmed, or a
        check-in before the clinic day).
        """
