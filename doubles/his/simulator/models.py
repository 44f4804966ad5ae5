"""Tables of the simulated hospital. Its own DeclarativeBase: the platform never shares them."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Date, DateTime, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class HisBase(DeclarativeBase):
    """Metadata of the simulator database only."""


class Meta(HisBase):
    __tablename__ = "his_meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(255))


class CounterRow(HisBase):
    """Monotonic counters behind human-readable numbers (cards, bills, deposits...)."""

    __tablename__ = "his_counters"
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[int]


class DepartmentRow(HisBase):
    __tablename__ = "his_departments"
    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    parent_code: Mapped[str | None] = mapped_column(String(16), index=True)
    location: Mapped[str] = mapped_column(String(128))
    description: Mapped[str] = mapped_column(String(255))
    bookable: Mapped[bool]
    area_code: Mapped[str | None] = mapped_column(String(8))


class DoctorRow(HisBase):
    __tablename__ = "his_doctors"
    code: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(32))
    department_code: Mapped[str] = mapped_column(ForeignKey("his_departments.code"), index=True)
    title: Mapped[str] = mapped_column(String(16))
    fee_fen: Mapped[int]
    specialty: Mapped[str] = mapped_column(String(255))
    slice_minutes: Mapped[int]


class ScheduleRow(HisBase):
    __tablename__ = "his_schedules"
    __table_args__ = (Index("ix_his_schedules_date_dept", "clinic_date", "department_code"),)
    schedule_id: Mapped[str] = mapped_column(String(48), primary_key=True)
    doctor_code: Mapped[str] = mapped_column(ForeignKey("his_doctors.code"), index=True)
    department_code: Mapped[str] = mapped_column(String(16))
    clinic_date: Mapped[dt.date] = mapped_column(Date)
    half_day: Mapped[str] = mapped_column(String(8))  # am | pm | evening (夜诊)
    fee_fen: Mapped[int]
    status: Mapped[str] = mapped_column(String(8), default="open")
    stop_reason: Mapped[str | None] = mapped_column(String(255))


class SliceRow(HisBase):
    __tablename__ = "his_slices"
    slice_id: Mapped[str] = mapped_column(String(56), primary_key=True)
    schedule_id: Mapped[str] = mapped_column(ForeignKey("his_schedules.schedule_id"), index=True)
    seq: Mapped[int]
    start: Mapped[str] = mapped_column(String(5))
    end: Mapped[str] = mapped_column(String(5))
    capacity: Mapped[int]
    remaining: Mapped[int]


class PatientRow(HisBase):
    __tablename__ = "his_patients"
    patient_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    card_no: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(32))
    id_number: Mapped[str] = mapped_column(String(18), unique=True)
    gender: Mapped[str] = mapped_column(String(1))
    birth_date: Mapped[dt.date] = mapped_column(Date)
    phone: Mapped[str] = mapped_column(String(20))
    # a child's card is opened with a guardian, whose ID number can verify it (child without an ID)
    guardian_id_number: Mapped[str | None] = mapped_column(String(18), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)


class LockRow(HisBase):
    """A slot lock; becomes a registration when confirmed."""

    __tablename__ = "his_locks"
    lock_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    slice_id: Mapped[str] = mapped_column(ForeignKey("his_slices.slice_id"), index=True)
    card_no: Mapped[str] = mapped_column(String(20), index=True)
    order_no: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(10))  # locked|confirmed|cancelled|expired
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime, index=True)
    paid_fen: Mapped[int | None]
    trade_no: Mapped[str | None] = mapped_column(String(64))
    channel: Mapped[str | None] = mapped_column(String(16))
    visit_no: Mapped[str | None] = mapped_column(String(24))
    queue_no: Mapped[str | None] = mapped_column(String(8))
    location: Mapped[str | None] = mapped_column(String(128))
    guidance: Mapped[str | None] = mapped_column(Text)
    cancel_reason: Mapped[str | None] = mapped_column(String(255))
    ticket_id: Mapped[int | None]


class AttendanceRow(HisBase):
    """A registration checked in at the 分诊台 (签到); no row means the patient has not come.

    A table of its own rather than a column on ``his_locks``: ``make_engine`` creates missing tables,
    so a simulator database seeded before attendance existed gains it without an ALTER.
    """

    __tablename__ = "his_attendance"
    lock_id: Mapped[str] = mapped_column(ForeignKey("his_locks.lock_id"), primary_key=True)
    attended_at: Mapped[dt.datetime] = mapped_column(DateTime)
    source: Mapped[str] = mapped_column(String(16))  # triage (the control, the CLI) | seed (demo)


class BillRow(HisBase):
    __tablename__ = "his_bills"
    bill_no: Mapped[str] = mapped_column(String(24), primary_key=True)
    card_no: Mapped[str] = mapped_column(String(20), index=True)
    department_name: Mapped[str] = mapped_column(String(64))
    doctor_name: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    amount_fen: Mapped[int]
    status: Mapped[str] = mapped_column(String(10), default="pending")  # pending|paid|refunded
    trade_no: Mapped[str | None] = mapped_column(String(64))
    channel: Mapped[str | None] = mapped_column(String(16))
    receipt_no: Mapped[str | None] = mapped_column(String(24))
    settled_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    refunded_fen: Mapped[int] = mapped_column(default=0)
    guidance: Mapped[str | None] = mapped_column(Text)


class BillItemRow(HisBase):
    __tablename__ = "his_bill_items"
    id: Mapped[int] = mapped_column(primary_key=True)
    bill_no: Mapped[str] = mapped_column(ForeignKey("his_bills.bill_no"), index=True)
    seq: Mapped[int]
    name: Mapped[str] = mapped_column(String(64))
    category: Mapped[str] = mapped_column(String(8))
    spec: Mapped[str] = mapped_column(String(64))
    quantity: Mapped[int]
    unit_price_fen: Mapped[int]
    amount_fen: Mapped[int]


class BillRefundRow(HisBase):
    __tablename__ = "his_bill_refunds"
    refund_no: Mapped[str] = mapped_column(String(64), primary_key=True)
    bill_no: Mapped[str] = mapped_column(ForeignKey("his_bills.bill_no"), index=True)
    amount_fen: Mapped[int]
    refunded_at: Mapped[dt.datetime] = mapped_column(DateTime)


class QueueAreaRow(HisBase):
    __tablename__ = "his_queue_areas"
    area_code: Mapped[str] = mapped_column(String(8), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(10))
    prefix: Mapped[str] = mapped_column(String(2))
    location: Mapped[str] = mapped_column(String(128))


class QueueTicketRow(HisBase):
    __tablename__ = "his_queue_tickets"
    __table_args__ = (UniqueConstraint("area_code", "day", "number"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    area_code: Mapped[str] = mapped_column(ForeignKey("his_queue_areas.area_code"))
    day: Mapped[dt.date] = mapped_column(Date)
    number: Mapped[int]
    card_no: Mapped[str] = mapped_column(String(20), index=True)
    department_name: Mapped[str] = mapped_column(String(64))
    doctor_name: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(10))  # waiting|called|done|missed|cancelled


class ReportRow(HisBase):
    __tablename__ = "his_reports"
    report_id: Mapped[str] = mapped_column(String(24), primary_key=True)
    card_no: Mapped[str] = mapped_column(String(20), index=True)
    kind: Mapped[str] = mapped_column(String(4))
    title: Mapped[str] = mapped_column(String(64))
    department_name: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(8))
    requested_at: Mapped[dt.datetime] = mapped_column(DateTime)
    ready_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    findings: Mapped[str] = mapped_column(Text, default="")
    conclusion: Mapped[str] = mapped_column(Text, default="")


class ReportItemRow(HisBase):
    __tablename__ = "his_report_items"
    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[str] = mapped_column(ForeignKey("his_reports.report_id"), index=True)
    seq: Mapped[int]
    name: Mapped[str] = mapped_column(String(64))
    result: Mapped[str] = mapped_column(String(32))
    unit: Mapped[str] = mapped_column(String(16))
    reference: Mapped[str] = mapped_column(String(32))
    flag: Mapped[str] = mapped_column(String(1))


class StayRow(HisBase):
    __tablename__ = "his_stays"
    inpatient_no: Mapped[str] = mapped_column(String(16), primary_key=True)
    card_no: Mapped[str] = mapped_column(String(20), index=True)
    ward: Mapped[str] = mapped_column(String(64))
    bed: Mapped[str] = mapped_column(String(8))
    admitted_at: Mapped[dt.datetime] = mapped_column(DateTime)
    discharged_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    status: Mapped[str] = mapped_column(String(12))  # in_hospital|discharged


class DepositRow(HisBase):
    __tablename__ = "his_deposits"
    deposit_no: Mapped[str] = mapped_column(String(24), primary_key=True)
    inpatient_no: Mapped[str] = mapped_column(ForeignKey("his_stays.inpatient_no"), index=True)
    amount_fen: Mapped[int]
    paid_at: Mapped[dt.datetime] = mapped_column(DateTime)
    trade_no: Mapped[str] = mapped_column(String(64), unique=True)
    channel: Mapped[str] = mapped_column(String(16))


class CostItemRow(HisBase):
    __tablename__ = "his_cost_items"
    __table_args__ = (Index("ix_his_cost_items_stay_day", "inpatient_no", "day"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    inpatient_no: Mapped[str] = mapped_column(ForeignKey("his_stays.inpatient_no"))
    day: Mapped[dt.date] = mapped_column(Date)
    seq: Mapped[int]
    name: Mapped[str] = mapped_column(String(64))
    category: Mapped[str] = mapped_column(String(16))
    quantity: Mapped[int]
    unit_price_fen: Mapped[int]
    amount_fen: Mapped[int]


class NonceRow(HisBase):
    """Request nonces seen by the HTTP server, to refuse replays."""

    __tablename__ = "his_nonces"
    app_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    seen_at: Mapped[dt.datetime] = mapped_column(DateTime, index=True)


class OnlineDepositRow(HisBase):
    """A deposit that came in through the platform's interface (``pay_deposit``), not at the cashier's
    window: only these can go back to the patient's WeChat Pay / Alipay at discharge (原路退回).

    A table of its own rather than a column on ``his_deposits``: ``make_engine`` creates missing
    tables, so a simulator database seeded before it existed gains it without an ALTER.
    """

    __tablename__ = "his_online_deposits"
    deposit_no: Mapped[str] = mapped_column(ForeignKey("his_deposits.deposit_no"), primary_key=True)


class DischargeRow(HisBase):
    """出院结算 of a stay: the final cost against the deposits, 多退少补.

    The surplus goes back through the platform up to what was paid through it (``online_refund_fen``,
    asked for under ``refund_request_no``), the rest at the window; a shortfall is collected there.
    """

    __tablename__ = "his_discharges"
    inpatient_no: Mapped[str] = mapped_column(ForeignKey("his_stays.inpatient_no"), primary_key=True)
    settled_at: Mapped[dt.datetime] = mapped_column(DateTime)
    total_cost_fen: Mapped[int]
    deposit_fen: Mapped[int]           # every deposit of the stay, window and platform
    online_deposit_fen: Mapped[int]    # of which paid through the platform
    online_refund_fen: Mapped[int]     # surplus returned to the original WeChat Pay / Alipay payments
    window_refund_fen: Mapped[int]     # surplus returned at the cashier's window
    due_fen: Mapped[int]               # still owed by the patient (少补), paid at the window
    refund_request_no: Mapped[str | None] = mapped_column(String(48))


class InvoiceRow(HisBase):
    """A 财政电子票据 the simulated 票据 platform issued for a paid trade (one per trade number).

    A table of its own, created by ``make_engine`` on older simulator databases without an ALTER."""

    __tablename__ = "his_invoices"
    trade_no: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    invoice_code: Mapped[str] = mapped_column(String(8))
    invoice_no: Mapped[str] = mapped_column(String(10), unique=True)
    check_code: Mapped[str] = mapped_column(String(6))
    issued_at: Mapped[dt.datetime] = mapped_column(DateTime)
    payer: Mapped[str] = mapped_column(String(32))
    items_json: Mapped[str] = mapped_column(Text)
    total_fen: Mapped[int]
