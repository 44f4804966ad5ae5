"""What the simulated hospital does for mothers and children and for e-invoices: 诊前签到, the 儿保
records of a child's card, and 财政电子票据 issued like a provincial 票据 platform would.

Mixed into ``SimulatorHis``; every value is a function of the simulator's rows, its seed and its
clock, never of the day the code happens to run."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random

from sqlalchemy import select

from app.his import errors
from app.his.interface import CheckIn, ChildCheck, Invoice, InvoiceItem
from .models import (AttendanceRow, BillItemRow, BillRow, DepositRow, LockRow, PatientRow, ScheduleRow, SliceRow,
                     StayRow)
from .models import InvoiceRow

PAYEE = "阳春市妇幼保健院"
#: 票据代码: 44 广东 + 17 阳江/阳春 + 票据种类 (04 医疗门诊收费票据, 05 医疗住院收费票据) + year
INVOICE_KIND_CODE = {"registration": "04", "outpatient": "04", "deposit": "05"}
CHARGE_NAMES = {"西药": "西药费", "中成药": "中成药费", "检查": "检查费", "化验": "化验费", "治疗": "治疗费",
                "材料": "卫生材料费"}
#: the checks a 儿童保健 clinic records, by age (days), with the label it prints
CHILD_CHECK_AGES = ((7, "新生儿访视"), (42, "满月（42 天）"), (91, "3 月龄"), (182, "6 月龄"), (243, "8 月龄"),
                    (365, "12 月龄"), (547, "18 月龄"), (730, "24 月龄"), (912, "30 月龄"), (1095, "36 月龄"),
                    (1461, "4 岁"), (1826, "5 岁"), (2191, "6 岁"))
#: WHO-like medians by age in days: (height mm, weight g, head mm), interpolated between points
_GROWTH = ((0, 500, 3300, 345), (42, 560, 4700, 375), (91, 610, 6200, 400), (182, 670, 7900, 430),
           (365, 750, 9600, 455), (730, 870, 12200, 480), (1095, 960, 14300, 490), (2191, 1160, 20500, 510))


def _growth(days: int) -> tuple[int, int, int]:
    for (d0, *v0), (d1, *v1) in zip(_GROWTH, _GROWTH[1:], strict=False):
        if d0 <= days <= d1:
            f = (days - d0) / (d1 - d0)
            return tuple(round(a + (b - a) * f) for a, b in zip(v0, v1, strict=True))  # type: ignore[return-value]
    return tuple(_GROWTH[-1][1:])  # type: ignore[return-value]


class MothersMixin:
    """诊前签到, 儿保 records and e-invoices for ``SimulatorHis`` (uses its ``unit`` and ``now``)."""

    def check_in(self, lock_id: str, order_no: str) -> CheckIn:
        now = self.now()  # type: ignore[attr-defined]
        with self.unit() as s:  # type: ignore[attr-defined]
            lock = s.get(LockRow, lock_id)
            if lock is None or lock.order_no != order_no:
                raise errors.NotFound(f"registration {lock_id} not found")
            if lock.status != "confirmed":
                raise errors.InvalidRequest(f"registration {lock_id} is {lock.status}, not confirmed")
            slc = s.get(SliceRow, lock.slice_id)
            sched = s.get(ScheduleRow, slc.schedule_id) if slc else None
            assert sched is not None
            done = s.get(AttendanceRow, lock.lock_id)
            if done is None:
                if now.date() != sched.clinic_date:
                    raise errors.InvalidRequest("check-in is only possible on the clinic day")
                done = AttendanceRow(lock_id=lock.lock_id, attended_at=now, source="self")
                s.add(done)
                s.flush()
            return CheckIn(lock.lock_id, lock.order_no, lock.visit_no or "", lock.queue_no or "",
                           lock.location or "", done.attended_at)

    def child_health_records(self, card_no: str) -> tuple[ChildCheck, ...]:
        today = self.now().date()  # type: ignore[attr-defined]
        with self.unit() as s:  # type: ignore[attr-defined]
            patient = s.scalar(select(PatientRow).where(PatientRow.card_no == card_no))
            if patient is None:
                raise errors.NotFound(f"card {card_no} not found")
            born = patient.birth_date
        records = []
        for days, label in CHILD_CHECK_AGES:
            rng = random.Random(f"child-check:{card_no}:{days}")
            when = born + dt.timedelta(days=days + rng.randint(0, 5))
            if when >= today:
                break
            height, weight, head = _growth(days)
            height += rng.randint(-15, 15)
            weight += rng.randint(-300, 300)
            head += rng.randint(-6, 6)
            conclusion = rng.choice(("生长发育正常", "生长发育正常", "生长发育正常，注意补充维生素D",
                                     "体重增长稍慢，建议调整喂养，1 个月后复查"))
            records.append(ChildCheck(f"CH{card_no}{days:04d}", card_no, when, label, height, weight, head,
                                      rng.choice(("黄丽华", "陈静", "林小燕")), conclusion))
        return tuple(records)

    def invoice(self, trade_no: str) -> Invoice:
        trade_no = (trade_no or "").strip()
        if not trade_no or len(trade_no) > 64:
            raise errors.InvalidRequest("trade_no is required")
        now = self.now()  # type: ignore[attr-defined]
        with self.unit() as s:  # type: ignore[attr-defined]
            row = s.get(InvoiceRow, trade_no)
            voided = False
            lock = s.scalar(select(LockRow).where(LockRow.trade_no == trade_no))
            bills = s.scalars(select(BillRow).where(BillRow.trade_no == trade_no).order_by(BillRow.bill_no)).all()
            deposit = s.scalar(select(DepositRow).where(DepositRow.trade_no == trade_no))
            if lock is not None:
                kind, card = "registration", lock.card_no
                voided = lock.status == "cancelled"
                slc = s.get(SliceRow, lock.slice_id)
                sched = s.get(ScheduleRow, slc.schedule_id) if slc else None
                items = [("挂号费", lock.paid_fen or (sched.fee_fen if sched else 0))]
            elif bills:
                kind, card = "outpatient", bills[0].card_no
                voided = all(b.status == "refunded" for b in bills)
                lines = s.scalars(select(BillItemRow).where(BillItemRow.bill_no.in_([b.bill_no for b in bills]))
                                  .order_by(BillItemRow.bill_no, BillItemRow.seq)).all()
                by_category: dict[str, int] = {}
                for line in lines:  # a 财政电子票据 lists charges by 收费项目 (category)
                    name = CHARGE_NAMES.get(line.category, line.category)
                    by_category[name] = by_category.get(name, 0) + line.amount_fen
                items = list(by_category.items())
            elif deposit is not None:
                kind = "deposit"
                stay = s.get(StayRow, deposit.inpatient_no)
                card = stay.card_no if stay else ""
                items = [("住院预交金", deposit.amount_fen)]
            else:
                raise errors.NotFound(f"no paid trade {trade_no}")
            if row is None:
                payer = s.scalar(select(PatientRow.name).where(PatientRow.card_no == card)) or ""
                digest = hashlib.sha256(f"invoice:{trade_no}".encode()).hexdigest()
                serial = int(s.scalar(select(InvoiceRow.invoice_no).order_by(InvoiceRow.invoice_no.desc())
                                      .limit(1)) or "0") + 1
                row = InvoiceRow(trade_no=trade_no, kind=kind,
                                 invoice_code=f"4417{INVOICE_KIND_CODE[kind]}{now:%y}",
                                 invoice_no=f"{serial:010d}", check_code=digest[:6], issued_at=now, payer=payer,
                                 items_json=json.dumps(items, ensure_ascii=False),
                                 total_fen=sum(amount for _name, amount in items))
                s.add(row)
                s.flush()
            stored = [InvoiceItem(name, amount) for name, amount in json.loads(row.items_json)]
            qr = (f"财政电子票据|{row.invoice_code}|{row.invoice_no}|{row.check_code}|{row.total_fen / 100:.2f}|"
                  f"{row.issued_at:%Y%m%d}")
            return Invoice(trade_no=row.trade_no, kind=row.kind, invoice_code=row.invoice_code,  # type: ignore[arg-type]
                           invoice_no=row.invoice_no, check_code=row.check_code, issued_at=row.issued_at,
                           payer=row.payer, payee=PAYEE, items=tuple(stored), total_fen=row.total_fen, qr_text=qr,
                           status="voided" if voided else "issued")
