"""A month of demo orders for the back-office (statistics, exports, order look-ups). Idempotent.

The orders hang off demo channel users and patients of their own and past-dated schedules, so the
patient H5 pages (which show today onwards) never offer them. Deterministic: the same month every run.
"""

from __future__ import annotations

import datetime as dt
import random

from sqlalchemy import select

from app.extensions import db
from app.models import (AppointmentOrder, ChannelUser, Department, Doctor, Patient, PaymentOrder, Refund,
                        Schedule, ScheduleSlice, StateTransition)
from app.models.base import utcnow

PREFIX = "DEMO"
#: the demo month's patient accounts: history for the back-office, never offered at the sandbox sign-in
ACCOUNT_PREFIX = f"{PREFIX.lower()}-bo-"
DAYS = 30
NAMES = ["陈丽华", "黄美玲", "李晓燕", "王芳", "张小宝", "刘欣怡", "林嘉怡", "吴婷婷", "欧阳娜娜", "郑子涵"]


def _departments_and_doctors() -> list[Doctor]:
    doctors = list(db.session.scalars(select(Doctor).order_by(Doctor.id).limit(6)))
    if doctors:
        return doctors
    dept = Department(code=f"{PREFIX}-OB", name="产科门诊", is_active=False, sort=99)
    db.session.add(dept)
    db.session.flush()
    for i, (name, title, fee) in enumerate([("梁医生", "主任医师", 5000), ("何医生", "副主任医师", 3000)]):
        db.session.add(Doctor(code=f"{PREFIX}-DOC{i}", name=name, title=title, department_id=dept.id, fee_fen=fee,
                              is_active=False))
    db.session.flush()
    return list(db.session.scalars(select(Doctor).where(Doctor.code.startswith(f"{PREFIX}-"))))


def _move(order_type: str, order_id: int, path: list[str], at: dt.datetime, actor: str) -> None:
    for i, (a, b) in enumerate(zip(path, path[1:], strict=False)):
        db.session.add(StateTransition(order_type=order_type, order_id=order_id, from_status=a, to_status=b,
                                       actor=actor, at=at + dt.timedelta(minutes=2 * i + 1)))


def seed_backoffice_demo(days: int = DAYS, per_day: int = 18) -> list[str]:
    """Create ``days`` days of booking, outpatient and deposit payments with some refunds, once."""
    if db.session.scalar(select(PaymentOrder.id).where(PaymentOrder.order_no.startswith(PREFIX)).limit(1)):
        return ["back-office demo orders: already there"]
    rng = random.Random(8)
    attendance = random.Random(9)  # its own draws, so the other demo figures stay as they were
    doctors = _departments_and_doctors()
    now = utcnow()
    users, patients = [], []
    for i, name in enumerate(NAMES):
        channel = "wechat" if i % 3 else "alipay"
        user = ChannelUser(channel=channel, channel_uid=f"{ACCOUNT_PREFIX}{i}", nickname=name[0] + "**")
        db.session.add(user)
        db.session.flush()
        patient = Patient(owner_id=user.id, name=name, phone=f"1380000{i:04d}", card_no=f"{PREFIX}{100000 + i}",
                          id_number=f"44178119900101{i:04d}", gender="female" if i % 4 else "male",
                          relation="self", channel=channel, bound_at=now - dt.timedelta(days=days + 5),
                          is_default=True)
        db.session.add(patient)
        users.append(user)
        patients.append(patient)
    db.session.flush()
    count = 0
    for day_offset in range(days, 0, -1):
        day = (now + dt.timedelta(hours=8)).date() - dt.timedelta(days=day_offset)
        schedules = {}
        for n in range(per_day):
            count += 1
            p = patients[rng.randrange(len(patients))]
            at = dt.datetime.combine(day, dt.time(8 + n % 9, rng.randrange(60))) - dt.timedelta(hours=8)
            kind = rng.choices(["registration", "outpatient", "deposit"], weights=[6, 5, 1])[0]
            fate = rng.choices(["confirmed", "refunded", "partial", "closed"], weights=[14, 2, 1, 2])[0]
            if kind != "deposit" and fate == "partial":
                fate = "confirmed"
            appointment = None
            if kind == "registration":
                doctor = doctors[rng.randrange(len(doctors))]
                schedule = schedules.get(doctor.id)
                if schedule is None:
                    schedule = Schedule(his_schedule_id=f"{PREFIX}-{day:%Y%m%d}-{doctor.id}", doctor_id=doctor.id,
                                        department_id=doctor.department_id, clinic_date=day, half_day="am",
                                        fee_fen=doctor.fee_fen or 1000, status="open")
                    db.session.add(schedule)
                    db.session.flush()
                    slice_ = ScheduleSlice(schedule_id=schedule.id, his_slice_id=f"{schedule.his_schedule_id}-1",
                                           start_time="08:00", end_time="12:00", capacity=per_day, booked=0)
                    db.session.add(slice_)
                    db.session.flush()
                    schedules[doctor.id] = schedule
                    schedule._demo_slice = slice_
                status = {"confirmed": "booked", "refunded": "refunded", "closed": "expired"}[fate]
                came = None
                if status == "booked" and day_offset > 1:  # older visits are over: 已就诊 or 爽约
                    came = attendance.random() >= 0.1
                    status = "visited" if came else "no_show"
                appointment = AppointmentOrder(
                    order_no=f"{PREFIX}GH{day:%Y%m%d}{n:04d}", owner_id=p.owner_id, patient_id=p.id,
                    channel=p.channel, schedule_id=schedule.id, slice_id=schedule._demo_slice.id,
                    department_id=doctor.department_id, doctor_id=doctor.id, clinic_date=day, half_day="am",
                    start_time="08:00", end_time="12:00", fee_fen=schedule.fee_fen, status=status, created_at=at,
                    paid_at=None if fate == "closed" else at + dt.timedelta(minutes=2),
                    cancelled_at=at + dt.timedelta(hours=3) if fate == "refunded" else None,
                    cancel_reason="患者行程变更" if fate == "refunded" else None, location="门诊二楼",
                    attended_at=at + dt.timedelta(minutes=40) if came else None)
                db.session.add(appointment)
                db.session.flush()
                path = {"refunded": ["pending_payment", "paid", "booked", "cancelled", "refunded"],
                        "expired": ["pending_payment", "expired"]}.get(status, ["pending_payment", "paid", "booked"])
                _move("appointment", appointment.id, path, at, f"patient:{p.owner_id}")
                if came is not None:  # the attendance sweep's step, that night
                    _move("appointment", appointment.id, ["booked", status], at + dt.timedelta(hours=14),
                          "system:attendance")
                amount = schedule.fee_fen
            elif kind == "outpatient":
                amount = rng.randrange(2000, 60000)
            else:
                amount = rng.choice([100000, 200000, 300000])
            paid = fate != "closed"
            refunded = {"refunded": amount, "partial": amount // 2}.get(fate, 0)
            status = {"confirmed": "confirmed", "refunded": "refunded", "partial": "partially_refunded",
                      "closed": "closed"}[fate]
            payment = PaymentOrder(
                order_no=f"{PREFIX}{kind[:2].upper()}{day:%Y%m%d}{n:04d}", kind=kind, owner_id=p.owner_id,
                patient_id=p.id, appointment_id=appointment.id if appointment else None,
                business_ref=None if kind == "registration" else f"{kind[:3].upper()}{day:%m%d}{n:03d}",
                channel=p.channel, amount_fen=amount, refunded_fen=refunded,
                description={"registration": "挂号费", "outpatient": "门诊缴费", "deposit": "住院押金"}[kind],
                status=status, created_at=at, paid_at=at + dt.timedelta(minutes=2) if paid else None,
                closed_at=at + dt.timedelta(minutes=15) if not paid else None,
                channel_trade_no=f"{PREFIX}T{day:%Y%m%d}{n:04d}" if paid else None)
            db.session.add(payment)
            db.session.flush()
            path = (["created", "paying", "paid", "confirmed"] if paid else ["created", "paying", "closed"])
            if refunded:
                path += ["refunding", status]
            _move("payment", payment.id, path, at, f"patient:{p.owner_id}")
            if refunded:
                refund = Refund(refund_no=f"{PREFIX}TK{day:%Y%m%d}{n:04d}", payment_id=payment.id,
                                amount_fen=refunded, reason="患者申请退费" if fate == "partial" else "取消预约",
                                status="success", requested_by="staff:service" if fate == "partial" else
                                f"patient:{p.owner_id}", succeeded_at=at + dt.timedelta(hours=4), created_at=at)
                db.session.add(refund)
                db.session.flush()
                _move("refund", refund.id, ["requested", "processing", "success"], at + dt.timedelta(hours=3),
                      "system")
    db.session.commit()
    return [f"back-office demo orders: {count} payments over {days} days"]
