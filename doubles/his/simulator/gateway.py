"""SimulatorHis: a stateful hospital behind the HisGateway interface, in its own database."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from sqlalchemy import case, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from app.identity.id_numbers import birth_date_of, gender_of, is_valid_id_number

from app.his import errors
from app.his.interface import (
    LOCK_MINUTES,
    Attendance,
    Bill,
    BillItem,
    BillRefund,
    ClinicSession,
    CostItem,
    CostSummary,
    DailyCosts,
    Department,
    DepositRecord,
    Doctor,
    HisGateway,
    HisHealth,
    HospitalCard,
    InpatientStay,
    LabResult,
    Patient,
    QueueArea,
    QueueTicket,
    Registration,
    Report,
    ReportSummary,
    Settlement,
    SlotLock,
    TimeSlice,
    TradeRecord,
    TradeStatus,
)
from .db import DEFAULT_SIMULATOR_URL, hospital_now, make_engine
from .mothers import MothersMixin
from .models import DischargeRow, OnlineDepositRow
from .models import (
    AttendanceRow,
    BillItemRow,
    BillRefundRow,
    BillRow,
    CostItemRow,
    CounterRow,
    DepartmentRow,
    DepositRow,
    DoctorRow,
    LockRow,
    PatientRow,
    QueueAreaRow,
    QueueTicketRow,
    ReportItemRow,
    ReportRow,
    ScheduleRow,
    SliceRow,
    StayRow,
)

VERSION = "1.0"
AREA_KINDS = ("clinic", "lab", "exam", "pharmacy")
BILL_CATEGORIES = ("西药", "中成药", "检查", "化验", "治疗", "材料")
# Where a paid item sends the patient: category -> queue area that serves it.
CATEGORY_AREAS = {"西药": "PH", "中成药": "PH", "化验": "LAB", "检查": "US"}
CATEGORY_GUIDANCE = {"治疗": "请到门诊一楼治疗室执行治疗", "材料": "材料费已结清，无需另行领取"}
LIVE_LOCK = ("locked", "confirmed")
HALF_DAY_NAMES = {"am": "上午", "pm": "下午", "evening": "晚上"}
MAX_SCHEDULE_DAYS = 31


def next_number(s: Session, name: str) -> int:
    """Increment and return a named counter inside the caller's transaction (write-locked first)."""
    res = s.execute(
        update(CounterRow).where(CounterRow.name == name).values(value=CounterRow.value + 1)
    )
    if res.rowcount == 0:
        s.add(CounterRow(name=name, value=1))
        s.flush()
        return 1
    return int(s.scalar(select(CounterRow.value).where(CounterRow.name == name)) or 0)


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise errors.InvalidRequest(message)


def _require_text(value: object, name: str, max_len: int = 64) -> str:
    _require(isinstance(value, str) and 0 < len(value.strip()) <= max_len, f"{name} is required")
    return str(value).strip()


def _require_fen(value: object, name: str) -> int:
    _require(
        isinstance(value, int) and not isinstance(value, bool) and value >= 0,
        f"{name} must be a non-negative integer number of fen",
    )
    return int(value)  # type: ignore[arg-type]


class SimulatorHis(MothersMixin, HisGateway):
    """A real, stateful hospital: every call reads and writes its own database.

    ``clock`` returns hospital local time (naive); tests move it to expire locks.
    """

    def __init__(
        self,
        db_url: str = DEFAULT_SIMULATOR_URL,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        self.db_url = db_url
        self.engine = make_engine(db_url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.now: Callable[[], dt.datetime] = clock or hospital_now
        self._swept_at: dt.datetime | None = None

    @contextmanager
    def unit(self) -> Iterator[Session]:
        """One unit of work: commits on success, rolls back on any exception."""
        with self._sessions.begin() as s:
            yield s

    def close(self) -> None:
        """Release pooled connections (the database file stays)."""
        self.engine.dispose()

    # --- system -------------------------------------------------------------------------------
    def health(self) -> HisHealth:
        with self.unit() as s:
            s.execute(select(1))
        return HisHealth(ok=True, name="模拟医院 HIS", version=VERSION, server_time=self.now())

    # --- departments, doctors, schedules ------------------------------------------------------
    def list_departments(self) -> tuple[Department, ...]:
        with self.unit() as s:
            rows = s.scalars(select(DepartmentRow).order_by(DepartmentRow.code)).all()
            return tuple(_department(r) for r in rows)

    def list_doctors(self, department_code: str | None = None) -> tuple[Doctor, ...]:
        with self.unit() as s:
            q = select(DoctorRow).order_by(DoctorRow.code)
            if department_code:
                q = q.where(DoctorRow.department_code.in_(_dept_and_children(s, department_code)))
            return tuple(_doctor(r) for r in s.scalars(q))

    def list_schedules(
        self,
        date_from: dt.date,
        date_to: dt.date,
        department_code: str | None = None,
        doctor_code: str | None = None,
    ) -> tuple[ClinicSession, ...]:
        _require(date_from <= date_to, "date_from must not be after date_to")
        _require((date_to - date_from).days <= MAX_SCHEDULE_DAYS, "at most 31 days per query")
        self._release_expired_locks()
        with self.unit() as s:
            q = select(ScheduleRow).where(
                ScheduleRow.clinic_date >= date_from, ScheduleRow.clinic_date <= date_to
            )
            if department_code:
                q = q.where(ScheduleRow.department_code.in_(_dept_and_children(s, department_code)))
            if doctor_code:
                q = q.where(ScheduleRow.doctor_code == doctor_code)
            # in the day's order (上午, 下午, 晚上), not alphabetically ("evening" < "pm")
            half_order = case({"am": 0, "pm": 1, "evening": 2}, value=ScheduleRow.half_day, else_=9)
            q = q.order_by(ScheduleRow.clinic_date, half_order, ScheduleRow.doctor_code)
            schedules = s.scalars(q).all()
            by_schedule: dict[str, list[SliceRow]] = {r.schedule_id: [] for r in schedules}
            ids = list(by_schedule)
            for chunk in range(0, len(ids), 500):
                rows = s.scalars(
                    select(SliceRow)
                    .where(SliceRow.schedule_id.in_(ids[chunk : chunk + 500]))
                    .order_by(SliceRow.schedule_id, SliceRow.seq)
                )
                for row in rows:
                    by_schedule[row.schedule_id].append(row)
            return tuple(_session(r, by_schedule[r.schedule_id]) for r in schedules)

    # --- registration -------------------------------------------------------------------------
    def lock_slot(self, slice_id: str, card_no: str, order_no: str) -> SlotLock:
        order_no = _require_text(order_no, "order_no")
        self._release_expired_locks()
        now = self.now()
        with self.unit() as s:
            existing = s.scalar(
                select(LockRow).where(LockRow.order_no == order_no, LockRow.status.in_(LIVE_LOCK))
            )
            if existing is not None:
                if existing.slice_id != slice_id or existing.card_no != card_no:
                    raise errors.InvalidRequest("order_no already holds another slot")
                return _lock(existing)
            slc = s.get(SliceRow, slice_id)
            if slc is None:
                raise errors.NotFound(f"time slice {slice_id} not found")
            sched = s.get(ScheduleRow, slc.schedule_id)
            assert sched is not None
            if sched.status == "stopped":
                raise errors.ScheduleStopped(sched.stop_reason or "停诊")
            if _find_patient(s, card_no) is None:
                raise errors.NotFound(f"card {card_no} not found")
            _require(_slice_end(sched, slc) > now, "this time slice is already over")
            taken = s.scalar(
                select(func.count())
                .select_from(LockRow)
                .join(SliceRow, SliceRow.slice_id == LockRow.slice_id)
                .where(
                    SliceRow.schedule_id == sched.schedule_id,
                    LockRow.card_no == card_no,
                    LockRow.status.in_(LIVE_LOCK),
                )
            )
            if taken:
                raise errors.AlreadyBooked("this card already holds a number in this clinic session")
            # The guard `remaining > 0` in the UPDATE itself is what makes overselling impossible.
            res = s.execute(
                update(SliceRow)
                .where(SliceRow.slice_id == slice_id, SliceRow.remaining > 0)
                .values(remaining=SliceRow.remaining - 1)
            )
            if res.rowcount != 1:
                raise errors.SlotFull(f"time slice {slc.start}-{slc.end} is full")
            row = LockRow(
                lock_id="L" + uuid.uuid4().hex[:20].upper(),
                slice_id=slice_id,
                card_no=card_no,
                order_no=order_no,
                status="locked",
                created_at=now,
                expires_at=now + dt.timedelta(minutes=LOCK_MINUTES),
            )
            s.add(row)
            return _lock(row)

    def confirm_registration(
        self, lock_id: str, order_no: str, paid_fen: int, trade_no: str, channel: str
    ) -> Registration:
        paid_fen = _require_fen(paid_fen, "paid_fen")
        trade_no = _require_text(trade_no, "trade_no")
        channel = _require_text(channel, "channel", 16)
        self._release_expired_locks()
        now = self.now()
        with self.unit() as s:
            lock = self._own_lock(s, lock_id, order_no)
            if lock.status == "confirmed":
                if lock.trade_no != trade_no:
                    raise errors.AlreadySettled("registration already paid under another trade")
                return _registration(lock)
            if lock.status != "locked" or lock.expires_at <= now:
                raise errors.LockExpired("the slot lock expired or was released")
            slc = s.get(SliceRow, lock.slice_id)
            assert slc is not None
            sched = s.get(ScheduleRow, slc.schedule_id)
            assert sched is not None
            if paid_fen != sched.fee_fen:
                raise errors.AmountMismatch(f"fee is {sched.fee_fen} fen, paid {paid_fen}")
            res = s.execute(
                update(LockRow)
                .where(
                    LockRow.lock_id == lock_id,
                    LockRow.status == "locked",
                    LockRow.expires_at > now,
                )
                .values(status="confirmed")
            )
            if res.rowcount != 1:
                raise errors.LockExpired("the slot lock expired or was released")
            dept = s.get(DepartmentRow, sched.department_code)
            doctor = s.get(DoctorRow, sched.doctor_code)
            assert dept is not None and doctor is not None
            ticket = _issue_ticket(
                s, dept.area_code or "", sched.clinic_date, lock.card_no, dept.name, doctor.name
            )
            lock.paid_fen, lock.trade_no, lock.channel = paid_fen, trade_no, channel
            lock.ticket_id = ticket.id
            lock.visit_no = f"V{sched.clinic_date:%Y%m%d}{next_number(s, 'visit'):06d}"
            lock.queue_no = _queue_no(s, ticket)
            lock.location = dept.location
            half = HALF_DAY_NAMES.get(sched.half_day, "")
            lock.guidance = (
                f"请于{sched.clinic_date:%m月%d日}{half} {slc.start}-{slc.end} 到{dept.location}"
                f"分诊台签到，候诊号 {lock.queue_no}，就诊医生：{doctor.name}（{doctor.title}）"
            )
            return _registration(lock)

    def cancel_registration(self, lock_id: str, order_no: str, reason: str) -> None:
        now = self.now()
        with self.unit() as s:
            lock = self._own_lock(s, lock_id, order_no)
            if lock.status not in LIVE_LOCK:
                return
            slc = s.get(SliceRow, lock.slice_id)
            assert slc is not None
            sched = s.get(ScheduleRow, slc.schedule_id)
            assert sched is not None
            if lock.status == "confirmed":
                _require(_slice_end(sched, slc) > now, "the clinic session is over")
                _require(s.get(AttendanceRow, lock_id) is None, "the patient has already checked in")
            res = s.execute(
                update(LockRow)
                .where(LockRow.lock_id == lock_id, LockRow.status.in_(LIVE_LOCK))
                .values(status="cancelled", cancel_reason=(reason or "")[:255])
            )
            if res.rowcount == 1:
                _free_place(s, lock.slice_id)
                if lock.ticket_id is not None:
                    s.execute(
                        update(QueueTicketRow)
                        .where(QueueTicketRow.id == lock.ticket_id)
                        .values(status="cancelled")
                    )

    def release_lock(self, order_no: str, reason: str) -> None:
        order_no = _require_text(order_no, "order_no")
        with self.unit() as s:
            for lock in s.scalars(select(LockRow).where(LockRow.order_no == order_no, LockRow.status == "locked")):
                res = s.execute(
                    update(LockRow)
                    .where(LockRow.lock_id == lock.lock_id, LockRow.status == "locked")
                    .values(status="cancelled", cancel_reason=(reason or "")[:255])
                )
                if res.rowcount == 1:
                    _free_place(s, lock.slice_id)

    def registration_attendance(self, clinic_date: dt.date) -> tuple[Attendance, ...]:
        with self.unit() as s:
            rows = s.execute(
                select(LockRow, ScheduleRow.clinic_date, AttendanceRow.attended_at)
                .join(SliceRow, SliceRow.slice_id == LockRow.slice_id)
                .join(ScheduleRow, ScheduleRow.schedule_id == SliceRow.schedule_id)
                .outerjoin(AttendanceRow, AttendanceRow.lock_id == LockRow.lock_id)
                .where(ScheduleRow.clinic_date == clinic_date, LockRow.status == "confirmed")
                .order_by(LockRow.visit_no, LockRow.lock_id)
            ).all()
            return tuple(_attendance(lock, day, at) for lock, day, at in rows)

    def _own_lock(self, s: Session, lock_id: str, order_no: str) -> LockRow:
        lock = s.get(LockRow, lock_id)
        if lock is None:
            raise errors.NotFound(f"lock {lock_id} not found")
        if lock.order_no != order_no:
            raise errors.InvalidRequest("order_no does not own this lock")
        return lock

    def _release_expired_locks(self) -> int:
        """Give back the places of locks past expiry; returns how many were released.

        Runs at most once per clock second per gateway: the clock has whole seconds and a lock made
        after a sweep expires LOCK_MINUTES later, so a second sweep in the same second finds nothing
        the first did not (under load this saves a transaction on every HIS call).
        """
        now = self.now()
        if now == self._swept_at:
            return 0
        released = 0
        with self.unit() as s:
            stale = s.execute(
                select(LockRow.lock_id, LockRow.slice_id).where(
                    LockRow.status == "locked", LockRow.expires_at <= now
                )
            ).all()
            for lock_id, slice_id in stale:
                res = s.execute(
                    update(LockRow)
                    .where(LockRow.lock_id == lock_id, LockRow.status == "locked")
                    .values(status="expired")
                )
                if res.rowcount == 1:
                    _free_place(s, slice_id)
                    released += 1
        self._swept_at = now
        return released

    # --- cards --------------------------------------------------------------------------------
    def verify_card(self, card_no: str, name: str, id_number: str,
                    guardian_id_number: str | None = None) -> Patient:
        id_number = (id_number or "").strip().upper()
        guardian = (guardian_id_number or "").strip().upper()
        _require(bool(id_number or guardian), "id_number or guardian_id_number is required")
        with self.unit() as s:
            row = _find_patient(s, card_no)
            if row is None:
                raise errors.NotFound(f"card {card_no} not found")
            if row.name != (name or "").strip():
                raise errors.CardMismatch("name or ID number does not match this card")
            if id_number:
                if row.id_number != id_number:
                    raise errors.CardMismatch("name or ID number does not match this card")
            elif not row.guardian_id_number or row.guardian_id_number != guardian:
                raise errors.CardMismatch("name or guardian ID number does not match this card")
            return _patient(row)

    def register_card(
        self,
        name: str,
        id_number: str,
        phone: str,
        gender: str | None = None,
        birth_date: dt.date | None = None,
    ) -> HospitalCard:
        name = _require_text(name, "name", 32)
        id_number = (id_number or "").strip().upper()
        _require(is_valid_id_number(id_number), "invalid resident ID number")
        phone = (phone or "").strip()
        _require(len(phone) == 11 and phone.isdigit() and phone[0] == "1", "invalid phone")
        _require(gender in (None, gender_of(id_number)), "gender does not match the ID number")
        _require(birth_date in (None, birth_date_of(id_number)), "birth date differs from ID")
        with self.unit() as s:
            row = s.scalar(select(PatientRow).where(PatientRow.id_number == id_number))
            if row is not None:
                if row.name != name:
                    raise errors.CardMismatch("this ID number has a card in another name")
                return HospitalCard(row.card_no, row.patient_id, row.name, created=False)
            seq = next_number(s, "patient")
            born = birth_date_of(id_number)
            assert born is not None
            row = PatientRow(
                patient_id=f"P{seq:07d}",
                card_no=f"{8800000000 + seq}",
                name=name,
                id_number=id_number,
                gender=gender_of(id_number),
                birth_date=born,
                phone=phone,
                created_at=self.now(),
            )
            s.add(row)
            return HospitalCard(row.card_no, row.patient_id, row.name, created=True)

    # --- outpatient bills ---------------------------------------------------------------------
    def pending_bills(self, card_no: str) -> tuple[Bill, ...]:
        with self.unit() as s:
            _patient_or_404(s, card_no)
            rows = s.scalars(
                select(BillRow)
                .where(BillRow.card_no == card_no, BillRow.status == "pending")
                .order_by(BillRow.created_at, BillRow.bill_no)
            ).all()
            return tuple(_bill(s, r) for r in rows)

    def settle_bill(self, bill_no: str, amount_fen: int, trade_no: str, channel: str) -> Settlement:
        amount_fen = _require_fen(amount_fen, "amount_fen")
        trade_no = _require_text(trade_no, "trade_no")
        channel = _require_text(channel, "channel", 16)
        now = self.now()
        with self.unit() as s:
            bill = s.get(BillRow, bill_no)
            if bill is None:
                raise errors.NotFound(f"bill {bill_no} not found")
            if bill.status != "pending":
                if bill.status == "paid" and bill.trade_no == trade_no:
                    return _settlement(bill)
                raise errors.AlreadySettled(f"bill {bill_no} is already {bill.status}")
            if amount_fen != bill.amount_fen:
                raise errors.AmountMismatch(f"bill is {bill.amount_fen} fen, paid {amount_fen}")
            res = s.execute(
                update(BillRow)
                .where(BillRow.bill_no == bill_no, BillRow.status == "pending")
                .values(status="paid")
            )
            if res.rowcount != 1:
                raise errors.AlreadySettled(f"bill {bill_no} was settled meanwhile")
            bill.trade_no, bill.channel, bill.settled_at = trade_no, channel, now
            bill.receipt_no = f"R{next_number(s, 'receipt'):09d}"
            bill.guidance = "\n".join(_settle_guidance(s, bill, now.date()))
            return _settlement(bill)

    def trade_status(self, trade_no: str) -> TradeStatus:
        trade_no = _require_text(trade_no, "trade_no")
        records: list[TradeRecord] = []
        with self.unit() as s:
            for lock in s.scalars(select(LockRow).where(LockRow.trade_no == trade_no).order_by(LockRow.lock_id)):
                if lock.status in ("confirmed", "cancelled"):
                    records.append(TradeRecord(
                        "registration", lock.lock_id, lock.visit_no or "", lock.paid_fen or 0, 0,
                        "applied" if lock.status == "confirmed" else "reversed", None))
            for bill in s.scalars(select(BillRow).where(BillRow.trade_no == trade_no).order_by(BillRow.bill_no)):
                if bill.status in ("paid", "refunded"):
                    records.append(TradeRecord(
                        "bill", bill.bill_no, bill.receipt_no or "", bill.amount_fen, bill.refunded_fen,
                        "applied" if bill.status == "paid" else "reversed", bill.settled_at))
            for dep in s.scalars(select(DepositRow).where(DepositRow.trade_no == trade_no)):
                records.append(TradeRecord("deposit", dep.deposit_no, dep.deposit_no, dep.amount_fen, 0, "applied",
                                           dep.paid_at))
        applied = [r for r in records if r.status == "applied"]
        return TradeStatus(trade_no, bool(applied), sum(r.amount_fen - r.refunded_fen for r in applied),
                           tuple(records))

    def refund_bill(self, bill_no: str, amount_fen: int, refund_no: str) -> BillRefund:
        amount_fen = _require_fen(amount_fen, "amount_fen")
        refund_no = _require_text(refund_no, "refund_no")
        _require(amount_fen > 0, "amount_fen must be positive")
        with self.unit() as s:
            done = s.get(BillRefundRow, refund_no)
            if done is not None:
                if done.bill_no != bill_no or done.amount_fen != amount_fen:
                    raise errors.AmountMismatch("refund_no was used for another refund")
                return _refund(done)
            bill = s.get(BillRow, bill_no)
            if bill is None:
                raise errors.NotFound(f"bill {bill_no} not found")
            _require(bill.status != "pending", "bill is not paid")
            res = s.execute(
                update(BillRow)
                .where(
                    BillRow.bill_no == bill_no,
                    BillRow.refunded_fen + amount_fen <= BillRow.amount_fen,
                )
                .values(refunded_fen=BillRow.refunded_fen + amount_fen)
            )
            if res.rowcount != 1:
                raise errors.AmountMismatch("refund exceeds what is left on the bill")
            s.refresh(bill)
            if bill.refunded_fen == bill.amount_fen:
                bill.status = "refunded"
            row = BillRefundRow(
                refund_no=refund_no, bill_no=bill_no, amount_fen=amount_fen, refunded_at=self.now()
            )
            s.add(row)
            return _refund(row)

    # --- queues -------------------------------------------------------------------------------
    def queue_status(self, card_no: str) -> tuple[QueueTicket, ...]:
        today = self.now().date()
        with self.unit() as s:
            _patient_or_404(s, card_no)
            rows = s.scalars(
                select(QueueTicketRow)
                .where(
                    QueueTicketRow.card_no == card_no,
                    QueueTicketRow.day == today,
                    QueueTicketRow.status != "cancelled",
                )
                .order_by(QueueTicketRow.id)
            ).all()
            return tuple(_ticket(s, r) for r in rows)

    def queue_counts(self, kind: str | None = None) -> tuple[QueueArea, ...]:
        _require(kind in (None, "", *AREA_KINDS), f"kind must be one of {AREA_KINDS}")
        today = self.now().date()
        with self.unit() as s:
            q = select(QueueAreaRow).order_by(QueueAreaRow.area_code)
            if kind:
                q = q.where(QueueAreaRow.kind == kind)
            return tuple(_area(s, a, today) for a in s.scalars(q))

    def advance_queue(self, area_code: str) -> QueueArea:
        today = self.now().date()
        with self.unit() as s:
            area = s.get(QueueAreaRow, area_code)
            if area is None:
                raise errors.NotFound(f"queue area {area_code} not found")
            s.execute(
                update(QueueTicketRow)
                .where(
                    QueueTicketRow.area_code == area_code,
                    QueueTicketRow.day == today,
                    QueueTicketRow.status == "called",
                )
                .values(status="done")
            )
            nxt = s.scalar(
                select(func.min(QueueTicketRow.number)).where(
                    QueueTicketRow.area_code == area_code,
                    QueueTicketRow.day == today,
                    QueueTicketRow.status == "waiting",
                )
            )
            if nxt is not None:
                s.execute(
                    update(QueueTicketRow)
                    .where(
                        QueueTicketRow.area_code == area_code,
                        QueueTicketRow.day == today,
                        QueueTicketRow.number == nxt,
                    )
                    .values(status="called")
                )
            return _area(s, area, today)

    # --- reports ------------------------------------------------------------------------------
    def list_reports(self, card_no: str) -> tuple[ReportSummary, ...]:
        with self.unit() as s:
            _patient_or_404(s, card_no)
            rows = s.scalars(
                select(ReportRow)
                .where(ReportRow.card_no == card_no)
                .order_by(ReportRow.requested_at.desc(), ReportRow.report_id.desc())
            )
            return tuple(_report_summary(r) for r in rows)

    def get_report(self, report_id: str, card_no: str) -> Report:
        with self.unit() as s:
            row = s.get(ReportRow, report_id)
            # Someone else's report is answered exactly like a missing one: nothing leaks.
            if row is None or row.card_no != card_no:
                raise errors.NotFound(f"report {report_id} not found for this card")
            patient = _patient_or_404(s, card_no)
            ready = row.status == "ready"
            items: tuple[LabResult, ...] = ()
            if ready:
                items = tuple(
                    LabResult(i.name, i.result, i.unit, i.reference, i.flag)  # type: ignore[arg-type]
                    for i in s.scalars(
                        select(ReportItemRow)
                        .where(ReportItemRow.report_id == report_id)
                        .order_by(ReportItemRow.seq)
                    )
                )
            return Report(
                report_id=row.report_id,
                card_no=row.card_no,
                patient_name=patient.name,
                kind=row.kind,  # type: ignore[arg-type]
                title=row.title,
                department_name=row.department_name,
                status=row.status,  # type: ignore[arg-type]
                requested_at=row.requested_at,
                ready_at=row.ready_at,
                items=items,
                findings=row.findings if ready else "",
                conclusion=row.conclusion if ready else "",
            )

    def mark_report_ready(self, report_id: str) -> ReportSummary:
        with self.unit() as s:
            row = s.get(ReportRow, report_id)
            if row is None:
                raise errors.NotFound(f"report {report_id} not found")
            if row.status != "ready":
                row.status, row.ready_at = "ready", self.now()
            return _report_summary(row)

    # --- inpatients ---------------------------------------------------------------------------
    def inpatient_stay(self, card_no: str) -> InpatientStay | None:
        with self.unit() as s:
            patient = _patient_or_404(s, card_no)
            row = s.scalar(
                select(StayRow)
                .where(StayRow.card_no == card_no)
                .order_by((StayRow.status == "in_hospital").desc(), StayRow.admitted_at.desc())
                .limit(1)
            )
            return None if row is None else _stay(s, row, patient.name)

    def deposit_records(self, inpatient_no: str) -> tuple[DepositRecord, ...]:
        with self.unit() as s:
            _stay_or_404(s, inpatient_no)
            rows = s.scalars(
                select(DepositRow)
                .where(DepositRow.inpatient_no == inpatient_no)
                .order_by(DepositRow.paid_at, DepositRow.deposit_no)
            )
            return tuple(_deposit(r) for r in rows)

    def pay_deposit(
        self, inpatient_no: str, amount_fen: int, trade_no: str, channel: str
    ) -> DepositRecord:
        amount_fen = _require_fen(amount_fen, "amount_fen")
        _require(amount_fen > 0, "amount_fen must be positive")
        trade_no = _require_text(trade_no, "trade_no")
        channel = _require_text(channel, "channel", 16)
        try:
            with self.unit() as s:
                done = s.scalar(select(DepositRow).where(DepositRow.trade_no == trade_no))
                if done is not None:
                    return _same_deposit(done, inpatient_no, amount_fen)
                stay = _stay_or_404(s, inpatient_no)
                _require(stay.status == "in_hospital", "the patient is already discharged")
                row = DepositRow(
                    deposit_no=f"D{next_number(s, 'deposit'):09d}",
                    inpatient_no=inpatient_no,
                    amount_fen=amount_fen,
                    paid_at=self.now(),
                    trade_no=trade_no,
                    channel=channel,
                )
                s.add(row)
                s.flush()
                s.add(OnlineDepositRow(deposit_no=row.deposit_no))  # the platform calls this, not the window
                return _deposit(row)
        except IntegrityError:
            # The same trade arrived twice at once: the other call won, answer with its record.
            with self.unit() as s:
                done = s.scalar(select(DepositRow).where(DepositRow.trade_no == trade_no))
                if done is None:
                    raise
                return _same_deposit(done, inpatient_no, amount_fen)

    def daily_costs(self, inpatient_no: str, day: dt.date) -> DailyCosts:
        with self.unit() as s:
            _stay_or_404(s, inpatient_no)
            rows = s.scalars(
                select(CostItemRow)
                .where(CostItemRow.inpatient_no == inpatient_no, CostItemRow.day == day)
                .order_by(CostItemRow.seq)
            ).all()
            items = tuple(
                CostItem(r.name, r.category, r.quantity, r.unit_price_fen, r.amount_fen)
                for r in rows
            )
            return DailyCosts(inpatient_no, day, items, sum(i.amount_fen for i in items))

    def total_cost(self, inpatient_no: str) -> CostSummary:
        with self.unit() as s:
            _stay_or_404(s, inpatient_no)
            by_category = {
                cat: int(total)
                for cat, total in s.execute(
                    select(CostItemRow.category, func.sum(CostItemRow.amount_fen))
                    .where(CostItemRow.inpatient_no == inpatient_no)
                    .group_by(CostItemRow.category)
                    .order_by(CostItemRow.category)
                )
            }
            total = sum(by_category.values())
            deposits = _deposit_total(s, inpatient_no)
            return CostSummary(inpatient_no, total, by_category, deposits, deposits - total)

    # --- simulator controls -------------------------------------------------------------------
    def stop_schedule(self, schedule_id: str, reason: str) -> ClinicSession:
        reason = _require_text(reason, "reason", 255)
        with self.unit() as s:
            row = s.get(ScheduleRow, schedule_id)
            if row is None:
                raise errors.NotFound(f"schedule {schedule_id} not found")
            if row.status != "stopped":
                row.status, row.stop_reason = "stopped", reason
            slices = s.scalars(
                select(SliceRow).where(SliceRow.schedule_id == schedule_id).order_by(SliceRow.seq)
            ).all()
            return _session(row, list(slices))

    def mark_attended(self, registration: str, attended_at: dt.datetime | None = None) -> Attendance:
        ref = _require_text(registration, "registration")
        now = self.now()
        with self.unit() as s:
            matches = s.scalars(
                select(LockRow)
                .where(or_(LockRow.visit_no == ref, LockRow.order_no == ref, LockRow.lock_id == ref))
                .order_by((LockRow.status == "confirmed").desc(), LockRow.created_at.desc())
            ).all()
            if not matches:
                raise errors.NotFound(f"registration {ref} not found")
            lock = matches[0]
            _require(lock.status == "confirmed", f"registration {ref} is {lock.status}, not confirmed")
            slc = s.get(SliceRow, lock.slice_id)
            assert slc is not None
            sched = s.get(ScheduleRow, slc.schedule_id)
            assert sched is not None
            done = s.get(AttendanceRow, lock.lock_id)
            if done is None:
                _require(now.date() >= sched.clinic_date, "the clinic day has not come yet")
                if attended_at is None:
                    # entered on the day: now; entered afterwards (from the paper list): the slice's start
                    hour, minute = (int(p) for p in slc.start.split(":"))
                    attended_at = now if now.date() == sched.clinic_date else dt.datetime.combine(
                        sched.clinic_date, dt.time(hour, minute))
                _require(attended_at.date() == sched.clinic_date, "a check-in happens on the clinic day")
                done = AttendanceRow(lock_id=lock.lock_id, attended_at=attended_at, source="triage")
                s.add(done)
                s.flush()
            return _attendance(lock, sched.clinic_date, done.attended_at)

    def add_bill(
        self,
        card_no: str,
        items: Sequence[BillItem],
        department_code: str | None = None,
        doctor_code: str | None = None,
    ) -> Bill:
        _require(len(items) > 0, "a bill needs at least one item")
        for item in items:
            _require_text(item.name, "item name")
            _require(item.category in BILL_CATEGORIES, f"category must be one of {BILL_CATEGORIES}")
            _require(
                isinstance(item.quantity, int) and item.quantity > 0, "quantity must be positive"
            )
            _require_fen(item.unit_price_fen, "unit_price_fen")
            _require(
                item.amount_fen == item.quantity * item.unit_price_fen,
                "amount_fen must equal quantity * unit_price_fen",
            )
        now = self.now()
        with self.unit() as s:
            _patient_or_404(s, card_no)
            dept_name, doctor_name = "门诊", ""
            if doctor_code:
                doctor = s.get(DoctorRow, doctor_code)
                if doctor is None:
                    raise errors.NotFound(f"doctor {doctor_code} not found")
                doctor_name = doctor.name
                department_code = department_code or doctor.department_code
            if department_code:
                dept = s.get(DepartmentRow, department_code)
                if dept is None:
                    raise errors.NotFound(f"department {department_code} not found")
                dept_name = dept.name
            bill = BillRow(
                bill_no=f"B{next_number(s, 'bill'):09d}",
                card_no=card_no,
                department_name=dept_name,
                doctor_name=doctor_name,
                created_at=now,
                amount_fen=sum(i.amount_fen for i in items),
                status="pending",
                refunded_fen=0,
            )
            s.add(bill)
            s.flush()
            for seq, item in enumerate(items, 1):
                s.add(
                    BillItemRow(
                        bill_no=bill.bill_no,
                        seq=seq,
                        name=item.name,
                        category=item.category,
                        spec=item.spec,
                        quantity=item.quantity,
                        unit_price_fen=item.unit_price_fen,
                        amount_fen=item.amount_fen,
                    )
                )
            s.flush()
            return _bill(s, bill)


# --- helpers (rows -> dataclasses) ------------------------------------------------------------


def _dept_and_children(s: Session, code: str) -> list[str]:
    children = s.scalars(select(DepartmentRow.code).where(DepartmentRow.parent_code == code)).all()
    return [code, *children]


def _department(r: DepartmentRow) -> Department:
    return Department(r.code, r.name, r.parent_code, r.location, r.description, r.bookable)


def _doctor(r: DoctorRow) -> Doctor:
    return Doctor(r.code, r.name, r.department_code, r.title, r.fee_fen, r.specialty)


def _session(r: ScheduleRow, slices: list[SliceRow]) -> ClinicSession:
    return ClinicSession(
        schedule_id=r.schedule_id,
        doctor_code=r.doctor_code,
        department_code=r.department_code,
        clinic_date=r.clinic_date,
        half_day=r.half_day,  # type: ignore[arg-type]
        fee_fen=r.fee_fen,
        status=r.status,  # type: ignore[arg-type]
        stop_reason=r.stop_reason,
        slices=tuple(
            TimeSlice(x.slice_id, x.start, x.end, x.capacity, x.remaining) for x in slices
        ),
    )


def _slice_end(sched: ScheduleRow, slc: SliceRow) -> dt.datetime:
    hour, minute = (int(p) for p in slc.end.split(":"))
    return dt.datetime.combine(sched.clinic_date, dt.time(hour, minute))


def _free_place(s: Session, slice_id: str) -> None:
    s.execute(
        update(SliceRow)
        .where(SliceRow.slice_id == slice_id, SliceRow.remaining < SliceRow.capacity)
        .values(remaining=SliceRow.remaining + 1)
    )


def _lock(r: LockRow) -> SlotLock:
    return SlotLock(r.lock_id, r.slice_id, r.order_no, r.expires_at)


def _registration(r: LockRow) -> Registration:
    return Registration(
        lock_id=r.lock_id,
        order_no=r.order_no,
        visit_no=r.visit_no or "",
        queue_no=r.queue_no or "",
        location=r.location or "",
        guidance=r.guidance or "",
    )


def _attendance(r: LockRow, clinic_date: dt.date, attended_at: dt.datetime | None) -> Attendance:
    return Attendance(
        lock_id=r.lock_id,
        order_no=r.order_no,
        visit_no=r.visit_no or "",
        card_no=r.card_no,
        slice_id=r.slice_id,
        clinic_date=clinic_date,
        attended=attended_at is not None,
        attended_at=attended_at,
    )


def _find_patient(s: Session, card_no: str) -> PatientRow | None:
    return s.scalar(select(PatientRow).where(PatientRow.card_no == card_no))


def _patient_or_404(s: Session, card_no: str) -> PatientRow:
    row = _find_patient(s, card_no)
    if row is None:
        raise errors.NotFound(f"card {card_no} not found")
    return row


def _patient(r: PatientRow) -> Patient:
    return Patient(r.patient_id, r.card_no, r.name, r.gender, r.birth_date, r.phone)  # type: ignore[arg-type]


def _bill(s: Session, r: BillRow) -> Bill:
    items = s.scalars(
        select(BillItemRow).where(BillItemRow.bill_no == r.bill_no).order_by(BillItemRow.seq)
    )
    return Bill(
        bill_no=r.bill_no,
        card_no=r.card_no,
        department_name=r.department_name,
        doctor_name=r.doctor_name,
        created_at=r.created_at,
        amount_fen=r.amount_fen,
        items=tuple(
            BillItem(i.name, i.category, i.spec, i.quantity, i.unit_price_fen, i.amount_fen)
            for i in items
        ),
    )


def _settlement(r: BillRow) -> Settlement:
    assert r.receipt_no is not None and r.settled_at is not None
    guidance = tuple(g for g in (r.guidance or "").split("\n") if g)
    return Settlement(r.bill_no, r.receipt_no, r.amount_fen, r.settled_at, guidance)


def _settle_guidance(s: Session, bill: BillRow, today: dt.date) -> list[str]:
    """Where each paid category sends the patient; lab, exam and pharmacy issue a queue number."""
    categories = s.scalars(
        select(BillItemRow.category).where(BillItemRow.bill_no == bill.bill_no).distinct()
    ).all()
    lines: list[str] = []
    seen_areas: set[str] = set()
    for category in sorted(categories, key=BILL_CATEGORIES.index):
        area_code = CATEGORY_AREAS.get(category)
        if area_code and area_code not in seen_areas:
            seen_areas.add(area_code)
            area = s.get(QueueAreaRow, area_code)
            if area is None:
                continue
            ticket = _issue_ticket(
                s, area_code, today, bill.card_no, bill.department_name, bill.doctor_name
            )
            verb = {"pharmacy": "取药", "lab": "采血/留取标本", "exam": "检查"}.get(area.kind, "")
            lines.append(f"请到{area.location}{verb}，排队号 {_queue_no(s, ticket)}")
        elif category in CATEGORY_GUIDANCE:
            lines.append(CATEGORY_GUIDANCE[category])
    return lines


def _refund(r: BillRefundRow) -> BillRefund:
    return BillRefund(r.bill_no, r.refund_no, r.amount_fen, r.refunded_at)


def _issue_ticket(
    s: Session, area_code: str, day: dt.date, card_no: str, dept_name: str, doctor_name: str
) -> QueueTicketRow:
    """Append a waiting ticket with the next number of the area for that day."""
    last = s.scalar(
        select(func.max(QueueTicketRow.number)).where(
            QueueTicketRow.area_code == area_code, QueueTicketRow.day == day
        )
    )
    row = QueueTicketRow(
        area_code=area_code,
        day=day,
        number=(last or 0) + 1,
        card_no=card_no,
        department_name=dept_name,
        doctor_name=doctor_name,
        status="waiting",
    )
    s.add(row)
    s.flush()
    return row


def _queue_no(s: Session, t: QueueTicketRow) -> str:
    area = s.get(QueueAreaRow, t.area_code)
    return f"{area.prefix if area else ''}{t.number:03d}"


def _current_no(s: Session, area: QueueAreaRow, day: dt.date) -> str:
    number = s.scalar(
        select(func.max(QueueTicketRow.number)).where(
            QueueTicketRow.area_code == area.area_code,
            QueueTicketRow.day == day,
            QueueTicketRow.status.in_(("called", "done", "missed")),
        )
    )
    return "" if number is None else f"{area.prefix}{number:03d}"


def _area(s: Session, a: QueueAreaRow, day: dt.date) -> QueueArea:
    waiting = s.scalar(
        select(func.count())
        .select_from(QueueTicketRow)
        .where(
            QueueTicketRow.area_code == a.area_code,
            QueueTicketRow.day == day,
            QueueTicketRow.status == "waiting",
        )
    )
    return QueueArea(a.area_code, a.name, a.kind, int(waiting or 0), _current_no(s, a, day))  # type: ignore[arg-type]


def _ticket(s: Session, t: QueueTicketRow) -> QueueTicket:
    area = s.get(QueueAreaRow, t.area_code)
    assert area is not None
    ahead = 0
    if t.status == "waiting":
        ahead = int(
            s.scalar(
                select(func.count())
                .select_from(QueueTicketRow)
                .where(
                    QueueTicketRow.area_code == t.area_code,
                    QueueTicketRow.day == t.day,
                    QueueTicketRow.status == "waiting",
                    QueueTicketRow.number < t.number,
                )
            )
            or 0
        )
    return QueueTicket(
        queue_no=_queue_no(s, t),
        area_code=t.area_code,
        area_name=area.name,
        department_name=t.department_name,
        doctor_name=t.doctor_name,
        current_no=_current_no(s, area, t.day),
        ahead_count=ahead,
        status=t.status,  # type: ignore[arg-type]
    )


def _report_summary(r: ReportRow) -> ReportSummary:
    return ReportSummary(
        r.report_id, r.kind, r.title, r.department_name, r.status, r.requested_at, r.ready_at  # type: ignore[arg-type]
    )


def _stay_or_404(s: Session, inpatient_no: str) -> StayRow:
    row = s.get(StayRow, inpatient_no)
    if row is None:
        raise errors.NotFound(f"inpatient {inpatient_no} not found")
    return row


def _deposit_total(s: Session, inpatient_no: str) -> int:
    """Deposits of the stay, net of the surplus returned at discharge (出院结算退押金)."""
    paid = int(
        s.scalar(
            select(func.coalesce(func.sum(DepositRow.amount_fen), 0)).where(
                DepositRow.inpatient_no == inpatient_no
            )
        )
        or 0
    )
    settled = s.get(DischargeRow, inpatient_no)
    return paid if settled is None else paid - settled.online_refund_fen - settled.window_refund_fen


def _stay(s: Session, r: StayRow, name: str) -> InpatientStay:
    deposits = _deposit_total(s, r.inpatient_no)
    costs = int(
        s.scalar(
            select(func.coalesce(func.sum(CostItemRow.amount_fen), 0)).where(
                CostItemRow.inpatient_no == r.inpatient_no
            )
        )
        or 0
    )
    return InpatientStay(
        inpatient_no=r.inpatient_no,
        card_no=r.card_no,
        name=name,
        ward=r.ward,
        bed=r.bed,
        admitted_at=r.admitted_at,
        discharged_at=r.discharged_at,
        status=r.status,  # type: ignore[arg-type]
        deposit_total_fen=deposits,
        total_cost_fen=costs,
        balance_fen=deposits - costs,
    )


def _deposit(r: DepositRow) -> DepositRecord:
    return DepositRecord(
        r.deposit_no, r.inpatient_no, r.amount_fen, r.paid_at, r.trade_no, r.channel
    )


def _same_deposit(done: DepositRow, inpatient_no: str, amount_fen: int) -> DepositRecord:
    if done.inpatient_no != inpatient_no or done.amount_fen != amount_fen:
        raise errors.AmountMismatch("trade_no was already used for another deposit")
    return _deposit(done)
