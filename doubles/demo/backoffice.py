"""A month of demo orders for the back-office (statistics, exports, order look-ups). Idempotent.

The orders hang off demo channel users and patients of their own and past-dated schedules, so the
patient H5 pages (which show today onwards) never offer them. Deterministic: the same month every run.

The month is coherent, so every page that shows a figure agrees with every other (issue 13 #15): each
account follows the 服务号/服务窗 and binds its card within the month before its first order; a booking
confirmed by the HIS carries ``confirmed_at`` (数据分析 counts bookings by it), is 当天挂号 when made on the
clinic day and 预约挂号 otherwise. Today holds an order in every state a clerk meets (unpaid, paying,
closed, paid and confirming, confirm failed, HIS answer unknown, refunding, refund failed …) and the
day before yesterday a reconciliation run with differences, one already resolved.
"""

from __future__ import annotations

import datetime as dt
import json
import random

from sqlalchemy import select

from app import clock
from app.extensions import db
from app.models import (AppointmentOrder, ChannelUser, Department, Doctor, FollowEvent, Patient, PaymentOrder,
                        ReconciliationItem, ReconciliationRun, Refund, Schedule, ScheduleSlice, StateTransition)
from app.identity.sign_in import ACCOUNT_PREFIX  # the demo month's accounts, never offered at sign-in
from doubles.demo.timeline import Timeline

PREFIX = "DEMO"
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


#: the steps of a patient's order that the platform, the channel or the HIS take, not the patient: who 订单全链路
#: names for them (as the commands record it)
STEP_ACTORS = {
    "payment": {"paid": "channel", "confirmed": "system:his", "confirm_failed": "system:his",
                "confirm_unknown": "system:his", "closed": "system:deadline", "refunded": "system:refund",
                "partially_refunded": "system:refund"},
    "appointment": {"paid": "system:payment", "booked": "system:his", "failed": "system:his",
                    "expired": "system:deadline", "stopped": "system:his", "refunded": "system:refund"},
}


def _move(order_type: str, order_id: int, path: list[str], at: dt.datetime, actor: str,
          until: dt.datetime | None = None) -> None:
    """The order's story, a step every two minutes (never later than ``until``: nothing happens after now);
    the steps of a patient's order the channel, the HIS or the platform take are theirs (``STEP_ACTORS``)."""
    steps = STEP_ACTORS.get(order_type, {}) if actor.startswith("patient:") else {}
    for i, (a, b) in enumerate(zip(path, path[1:], strict=False)):
        when = at + dt.timedelta(minutes=2 * i + 1)
        db.session.add(StateTransition(order_type=order_type, order_id=order_id, from_status=a, to_status=b,
                                       actor=steps.get(b, actor), at=when if until is None else min(when, until)))


def month_seeded() -> bool:
    return db.session.scalar(select(PaymentOrder.id).where(PaymentOrder.order_no.startswith(PREFIX)).limit(1)) \
        is not None


def month_accounts(days: int = DAYS) -> list[Patient]:
    """The month's accounts: in its first hours each follows the 服务号/服务窗, then binds its card. Made
    once; ``flask demo seed`` makes them before the demo's other accounts (bound the day it runs), so that
    就诊人, newest id first, reads newest first by 绑定时间 too."""
    uids = [f"{ACCOUNT_PREFIX}{i}" for i in range(len(NAMES))]  # not the month's followers (month_followers)
    found = list(db.session.scalars(select(Patient).join(ChannelUser, Patient.owner_id == ChannelUser.id)
                                    .where(ChannelUser.channel_uid.in_(uids)).order_by(Patient.id)))
    if found:
        return found
    first_day = clock.beijing_day_start_utc(clock.today() - dt.timedelta(days=days))
    patients = []
    for i, name in enumerate(NAMES):
        channel = "wechat" if i % 3 else "alipay"
        # the first hours of the month: each account follows, then binds its card, before any order
        followed = first_day + dt.timedelta(hours=1, minutes=7 * i)
        user = ChannelUser(channel=channel, channel_uid=f"{ACCOUNT_PREFIX}{i}", nickname=name[0] + "**",
                           created_at=followed)
        db.session.add(user)
        db.session.flush()
        db.session.add(FollowEvent(channel=channel, channel_uid=user.channel_uid, event="subscribe", at=followed))
        patient = Patient(owner_id=user.id, name=name, phone=f"1380000{i:04d}", card_no=f"{PREFIX}{100000 + i}",
                          id_number=f"44178119900101{i:04d}", gender="female" if i % 4 else "male",
                          relation="self", channel=channel, bound_at=followed + dt.timedelta(minutes=3),
                          is_default=True)
        db.session.add(patient)
        patients.append(patient)
    db.session.flush()
    month_followers(days)
    return patients


FAN_NAMES = ["周雨桐", "孙静怡", "马晓雯", "朱佳琪", "胡梦瑶", "郭子萱", "何欣然", "高诗涵", "罗一诺", "梁思彤",
             "宋可馨", "谢雨欣", "韩沐晨", "唐若曦", "冯语嫣", "许安琪"]
FAN_PREFIX = f"{ACCOUNT_PREFIX}fan"


def month_followers(days: int = DAYS) -> int:
    """The month's other followers, so 数据分析's 关注用户分析 and 绑卡统计分析 move every day as at a hospital:
    one to five accounts follow each day (more on 服务号), about two in five bind a card within the hour,
    some unfollow or unbind a few days later. None of them orders (the month's orders stay those of its ten
    accounts); they are inserted in the order they happened (ids grow with time). Its own random draws."""
    rng = random.Random(12)
    now, today = clock.utcnow(), clock.today()
    fans: list[tuple] = []
    for offset in range(days - 1, -1, -1):
        day_start = clock.beijing_day_start_utc(today - dt.timedelta(days=offset))
        for _ in range(rng.choice([1, 2, 2, 3, 3, 4, 5])):
            n = len(fans)
            channel = "wechat" if rng.random() < 0.68 else "alipay"
            followed = day_start + dt.timedelta(minutes=rng.randrange(8 * 60, 22 * 60))
            bound = followed + dt.timedelta(minutes=rng.randrange(2, 50)) if rng.random() < 0.4 else None
            left = followed + dt.timedelta(days=rng.randrange(1, 7), minutes=rng.randrange(600)) \
                if rng.random() < 0.12 else None
            unbound = bound + dt.timedelta(days=rng.randrange(1, 9)) if bound and rng.random() < 0.1 else None
            name = FAN_NAMES[rng.randrange(len(FAN_NAMES))]
            if followed <= now:
                fans.append((n, channel, followed, bound if bound and bound <= now else None,
                             left if left and left <= now else None, unbound if unbound and unbound <= now else None,
                             name))
    users = {}
    for n, channel, followed, _bound, left, _unbound, name in fans:  # already in the order they followed
        user = users[n] = ChannelUser(channel=channel, channel_uid=f"{FAN_PREFIX}{n}", nickname=name[0] + "**",
                                      created_at=followed, subscribed=left is None, subscribed_at=followed,
                                      unsubscribed_at=left)
        db.session.add(user)
    db.session.flush()
    events = [(followed, channel, n, "subscribe") for n, channel, followed, *_ in fans]
    events += [(left, channel, n, "unsubscribe") for n, channel, _f, _b, left, *_ in fans if left]
    for at, channel, n, event in sorted(events):
        db.session.add(FollowEvent(channel=channel, channel_uid=users[n].channel_uid, event=event, at=at))
    for n, channel, _followed, bound, _left, unbound, name in sorted((f for f in fans if f[3]), key=lambda f: f[3]):
        db.session.add(Patient(owner_id=users[n].id, name=name, phone=f"1390000{n:04d}",
                               card_no=f"{PREFIX}{200000 + n}", id_number=f"44178119920202{n:04d}",
                               gender="female", relation="self", channel=channel, bound_at=bound, is_default=True,
                               status="unbound" if unbound else "bound", unbound_at=unbound))
    db.session.flush()
    return len(fans)


def seed_backoffice_demo(days: int = DAYS, per_day: int = 18, timeline: Timeline | None = None,
                         worklist: bool = False) -> list[str]:
    """Create ``days`` days of booking, outpatient and deposit payments with some refunds, once.

    The rows go in oldest first (``Timeline``), among any ``timeline`` already holds (the demo cards' past
    visits); with ``worklist`` the worklist's orders (``seed_worklist_demo``) go among them too, so that the
    lists, newest id first, read newest first by 下单时间 as in production."""
    if month_seeded():
        return ["back-office demo orders: already there"] + (seed_worklist_demo() if worklist else [])
    timeline = Timeline() if timeline is None else timeline
    rng = random.Random(8)
    attendance = random.Random(9)  # its own draws, so the other demo figures stay as they were
    kinds = random.Random(10)  # how far ahead each booking was made: its own draws too
    doctors = _departments_and_doctors()
    now = clock.utcnow()
    today = clock.today()
    patients = month_accounts(days)
    count = 0
    for day_offset in range(days, 0, -1):
        day = today - dt.timedelta(days=day_offset)
        schedules = {}
        for n in range(per_day):
            count += 1
            p = patients[rng.randrange(len(patients))]
            actor = f"patient:{p.owner_id}"
            at = clock.to_utc(dt.datetime.combine(day, dt.time(8 + n % 9, rng.randrange(60))))
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
                if status == "booked":  # every day of the month is over by its evening sweep: 已就诊 or 爽约
                    came = attendance.random() >= 0.1
                    status = "visited" if came else "no_show"
                # booked the clinic morning (当天挂号) or up to six days ahead (预约挂号), never before the month
                ahead = min(kinds.choice([0, 0, 1, 2, 3, 6]), days - day_offset)
                at = at - dt.timedelta(days=ahead) if ahead else clock.to_utc(
                    dt.datetime.combine(day, dt.time(7, rng.randrange(60))))
                appointment = AppointmentOrder(
                    order_no=f"{PREFIX}GH{day:%Y%m%d}{n:04d}", owner_id=p.owner_id, patient_id=p.id,
                    channel=p.channel, schedule_id=schedule.id, slice_id=schedule._demo_slice.id,
                    department_id=doctor.department_id, doctor_id=doctor.id, clinic_date=day, half_day="am",
                    start_time="08:00", end_time="12:00", fee_fen=schedule.fee_fen, status=status, created_at=at,
                    registration_kind="advance" if ahead else "same_day",
                    his_visit_no=None if fate == "closed" else f"V{day:%Y%m%d}{n:04d}",
                    confirmed_at=None if fate == "closed" else at + dt.timedelta(minutes=2, seconds=20),
                    paid_at=None if fate == "closed" else at + dt.timedelta(minutes=2),
                    cancelled_at=at + dt.timedelta(hours=3) if fate == "refunded" else None,
                    cancel_reason="患者行程变更" if fate == "refunded" else None, location="门诊二楼",
                    attended_at=clock.to_utc(dt.datetime.combine(day, dt.time(8, 40 + n % 20))) if came else None)
                path = {"refunded": ["pending_payment", "paid", "booked", "cancelled", "refunded"],
                        "expired": ["pending_payment", "expired"]}.get(status, ["pending_payment", "paid", "booked"])
                # the attendance sweep's step that night, if the visit is over
                swept = clock.to_utc(dt.datetime.combine(day, dt.time(22, 0))) if came is not None else None

                def booking_story(row, path=path, at=at, actor=actor, status=status, swept=swept) -> None:
                    _move("appointment", row.id, path, at, actor)
                    if swept is not None:
                        _move("appointment", row.id, ["booked", status], swept, "system:attendance")

                timeline.insert(at, appointment, then=booking_story)
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
                patient_id=p.id, channel=p.channel, amount_fen=amount, refunded_fen=refunded,
                business_ref=None if kind == "registration" else f"{kind[:3].upper()}{day:%m%d}{n:03d}",
                description={"registration": "挂号费", "outpatient": "门诊缴费", "deposit": "住院押金"}[kind],
                status=status, created_at=at, paid_at=at + dt.timedelta(minutes=2) if paid else None,
                closed_at=at + dt.timedelta(minutes=15) if not paid else None,
                channel_trade_no=f"{PREFIX}T{day:%Y%m%d}{n:04d}" if paid else None,
                his_receipt_no=f"SJ{day:%Y%m%d}{n:04d}" if paid else None)  # the HIS confirmed it: its receipt
            path = (["created", "paying", "paid", "confirmed"] if paid else ["created", "paying", "closed"])
            if refunded:
                path += ["refunding", status]
            timeline.insert(at, payment, links={"appointment_id": appointment},
                            then=lambda row, path=path, at=at, actor=actor: _move("payment", row.id, path, at, actor))
            if refunded:
                asked = at + dt.timedelta(hours=3)  # when the booking was cancelled, after paying
                refund = Refund(refund_no=f"{PREFIX}TK{day:%Y%m%d}{n:04d}", amount_fen=refunded,
                                reason="患者申请退费" if fate == "partial" else {
                                    "registration": "取消预约", "outpatient": "医生调整处方，退还未执行项目",
                                    "deposit": "出院结算，退还押金余额"}[kind],
                                status="success", requested_by="staff:service" if fate == "partial" else
                                actor, succeeded_at=at + dt.timedelta(hours=4), created_at=asked)
                timeline.insert(asked, refund, links={"payment_id": payment}, then=lambda row, at=asked: _move(
                    "refund", row.id, ["requested", "processing", "success"], at, "system"))
    db.session.flush()
    live = _seed_every_state(patients, doctors, now, timeline)
    listed = _worklist_orders(patients[0], now, timeline) if worklist and not _worklist_seeded() else None
    timeline.run()
    differences = 0
    for back in range(2, days + 1):  # the latest day (before yesterday's, still to run) with enough orders
        differences = _seed_reconciliation(today - dt.timedelta(days=back))
        if differences:
            break
    lines = [f"back-office demo orders: {count} payments over {days} days, {live} open today in every state, "
             f"{differences} reconciliation differences"]
    if listed is not None:
        _worklist_long_payment(now)
        lines.append(listed)
    db.session.commit()
    if worklist and listed is None:
        lines += seed_worklist_demo()
    return lines


#: today's orders, one per state a clerk meets: (payment kind, payment state, appointment state, refund state)
LIVE_STATES = [
    ("registration", "created", "pending_payment", None), ("registration", "paying", "pending_payment", None),
    ("registration", "closed", "expired", None), ("registration", "paid", "paid", None),
    ("registration", "confirmed", "booked", None), ("registration", "refunding", "failed", "processing"),
    ("registration", "refunded", "stopped", "success"), ("registration", None, "holding", None),
    ("registration", None, "lock_failed", None), ("registration", "refunding", "cancelled", "requested"),
    ("outpatient", "confirm_unknown", None, None), ("outpatient", "confirm_failed", None, "failed"),
    ("outpatient", "refunding", None, "abnormal"), ("deposit", "paid", None, None),
    ("deposit", "partially_refunded", None, "success"),
]


def _seed_every_state(patients: list[Patient], doctors: list[Doctor], now: dt.datetime, timeline: Timeline) -> int:
    """An order in every state, made in the last hours (a payment still open expires as it would); the
    schedule at once, the orders in their turn on ``timeline``."""
    today = clock.today()
    day_start = clock.beijing_day_start_utc(today)
    doctor = doctors[0]
    schedule = Schedule(his_schedule_id=f"{PREFIX}-{today:%Y%m%d}-live", doctor_id=doctor.id,
                        department_id=doctor.department_id, clinic_date=today, half_day="pm",
                        fee_fen=doctor.fee_fen or 1000, status="open")
    db.session.add(schedule)
    db.session.flush()
    slice_ = ScheduleSlice(schedule_id=schedule.id, his_slice_id=f"{schedule.his_schedule_id}-1", start_time="14:30",
                           end_time="17:00", capacity=len(LIVE_STATES), booked=0)
    db.session.add(slice_)
    db.session.flush()
    for n, (kind, pay_state, booking_state, refund_state) in enumerate(LIVE_STATES):
        p = patients[n % len(patients)]
        # within today (Beijing) even just after midnight; the open payments the most recent
        at = now - min(dt.timedelta(minutes=3 + 2 * n) if pay_state in ("created", "paying") else
                       dt.timedelta(hours=1, minutes=5 * n), (now - day_start) * (len(LIVE_STATES) - n) /
                       (len(LIVE_STATES) + 1))
        paid = pay_state not in (None, "created", "paying", "closed")

        def soon(minutes: float, at=at) -> dt.datetime:  # a later step of today's order, but never after now
            return min(at + dt.timedelta(minutes=minutes), now)

        appointment = None
        if booking_state is not None:
            confirmed = booking_state in ("booked", "cancelled", "stopped")
            appointment = AppointmentOrder(
                order_no=f"{PREFIX}GH{today:%Y%m%d}L{n:03d}", owner_id=p.owner_id, patient_id=p.id, channel=p.channel,
                schedule_id=schedule.id, slice_id=slice_.id, department_id=doctor.department_id, doctor_id=doctor.id,
                clinic_date=today, half_day="pm", start_time="14:30", end_time="17:00", fee_fen=schedule.fee_fen,
                status=booking_state, created_at=at, registration_kind="same_day", location="门诊二楼",
                expires_at=at + dt.timedelta(minutes=14), paid_at=soon(1) if paid else None,
                confirmed_at=soon(1.5) if confirmed else None,
                his_visit_no=f"V{today:%Y%m%d}L{n:03d}" if confirmed else None,
                cancelled_at=soon(20) if booking_state in ("cancelled", "stopped") else None,
                cancel_reason={"cancelled": "患者行程变更", "stopped": "医生停诊"}.get(booking_state),
                active_key=f"{p.id}:{schedule.id}:{n}" if booking_state in ("holding", "pending_payment", "paid",
                                                                            "booked") else None)
            path = {"pending_payment": ["holding", "pending_payment"], "expired": ["holding", "pending_payment",
                                                                                     "expired"],
                    "paid": ["holding", "pending_payment", "paid"], "booked": ["holding", "pending_payment", "paid",
                                                                               "booked"],
                    "failed": ["holding", "pending_payment", "paid", "failed"],
                    "stopped": ["holding", "pending_payment", "paid", "booked", "stopped"],
                    "lock_failed": ["holding", "lock_failed"],
                    "cancelled": ["holding", "pending_payment", "paid", "booked", "cancelled"]}.get(booking_state, [])
            timeline.insert(at, appointment, then=lambda row, path=path, at=at, p=p: _move(
                "appointment", row.id, path, at, f"patient:{p.owner_id}", now))
        if pay_state is None:
            continue
        amount = schedule.fee_fen if kind == "registration" else {"outpatient": 12850, "deposit": 200000}[kind]
        refunded = {"refunded": amount, "partially_refunded": amount // 2}.get(pay_state, 0)
        # a refund in flight holds its amount on the payment, as request_refund reserves it
        held = amount if refund_state in ("requested", "processing", "abnormal") and not refunded else refunded
        payment = PaymentOrder(
            order_no=f"{PREFIX}{kind[:2].upper()}{today:%Y%m%d}L{n:03d}", kind=kind, owner_id=p.owner_id,
            patient_id=p.id, business_ref=None if kind == "registration" else f"{kind[:3].upper()}{today:%m%d}L{n:02d}",
            channel=p.channel, amount_fen=amount, refunded_fen=held,
            description={"registration": "挂号费", "outpatient": "门诊缴费", "deposit": "住院押金"}[kind],
            status=pay_state, created_at=at, expires_at=at + dt.timedelta(minutes=14),
            paid_at=soon(1) if paid else None, closed_at=soon(15) if pay_state == "closed" else None,
            channel_trade_no=f"{PREFIX}T{today:%Y%m%d}L{n:03d}" if paid else None,
            his_attempts=3 if pay_state in ("confirm_failed", "confirm_unknown") else (1 if paid else 0),
            his_receipt_no=f"R{today:%Y%m%d}L{n:03d}" if pay_state == "confirmed" else None,
            his_error={"confirm_failed": "号源已被占用（HIS 拒绝确认）", "confirm_unknown": "医院 HIS 超时未答复"}.get(
                "confirm_failed" if booking_state == "failed" else pay_state))
        path = {"created": ["created"], "paying": ["created", "paying"], "closed": ["created", "paying", "closed"],
                "paid": ["created", "paying", "paid"], "confirmed": ["created", "paying", "paid", "confirmed"],
                "confirm_failed": ["created", "paying", "paid", "confirm_failed"],
                "confirm_unknown": ["created", "paying", "paid", "confirm_unknown"],
                "refunding": ["created", "paying", "paid", "confirmed", "refunding"],
                "refunded": ["created", "paying", "paid", "confirmed", "refunding", "refunded"],
                "partially_refunded": ["created", "paying", "paid", "confirmed", "refunding",
                                       "partially_refunded"]}[pay_state]
        if booking_state == "failed":  # the HIS refused the booking: refunded from 确认失败, as _confirm_failed does
            path = ["created", "paying", "paid", "confirm_failed", "refunding"]
        timeline.insert(at, payment, links={"appointment_id": appointment}, then=lambda row, path=path, at=at, p=p:
                        _move("payment", row.id, path, at, f"patient:{p.owner_id}", now))
        if refund_state is not None:
            refused = pay_state == "confirm_failed" or booking_state == "failed"
            refund = Refund(refund_no=f"{PREFIX}TK{today:%Y%m%d}L{n:03d}",
                            amount_fen=refunded or amount, reason={"stopped": "医生停诊，挂号费原路退回"}.get(
                                booking_state or "", "医院未能确认，原路退回" if refused else "患者申请退费"),
                            status=refund_state, requested_by="system:confirm_failed" if refused else
                            f"patient:{p.owner_id}", created_at=soon(20),
                            succeeded_at=soon(22) if refund_state == "success" else None,
                            attempts=3 if refund_state in ("failed", "abnormal") else 1,
                            failure_reason={"failed": "渠道退款失败：原支付账户已注销",
                                            "abnormal": "渠道退款异常：银行处理中"}.get(refund_state))
            refund_path = {"requested": ["requested"], "processing": ["requested", "processing"],
                           "success": ["requested", "processing", "success"],
                           "failed": ["requested", "processing", "failed"],
                           "abnormal": ["requested", "processing", "abnormal"]}[refund_state]
            timeline.insert(soon(20), refund, links={"payment_id": payment},
                            then=lambda row, path=refund_path, at=soon(20): _move("refund", row.id, path, at, "system",
                                                                                  now))
    return len(LIVE_STATES)


def _seed_reconciliation(bill_date: dt.date) -> int:
    """The WeChat bill of ``bill_date`` compared with that day's demo orders: a payment the bill lacks, one
    the bill has at another amount, a payment only the bill has, a trade the HIS never booked (with both
    sides' records) and one difference finance has already resolved."""
    start, end = clock.beijing_day_bounds_utc(bill_date)
    day_orders = list(db.session.scalars(select(PaymentOrder).where(
        PaymentOrder.channel == "wechat", PaymentOrder.paid_at >= start, PaymentOrder.paid_at < end,
        PaymentOrder.order_no.startswith(PREFIX)).order_by(PaymentOrder.id)))
    # the month's own order (day, then number), not the ids: the differences stay the ones the demo always had
    day_orders.sort(key=lambda o: o.order_no[len(PREFIX) + 2:])
    confirmed = [o for o in day_orders if o.status == "confirmed"]
    if len(confirmed) < 4:
        return 0
    run = ReconciliationRun(channel="wechat", bill_date=bill_date, status="done", progress=100,
                            channel_count=len(day_orders), local_count=len(day_orders),
                            channel_total_fen=sum(o.amount_fen for o in day_orders),
                            local_total_fen=sum(o.amount_fen for o in day_orders),
                            created_at=end + dt.timedelta(hours=2), finished_at=end + dt.timedelta(hours=2, seconds=40))
    db.session.add(run)
    db.session.flush()
    missing, differs, unbooked, resolved = confirmed[:4]
    platform = {"order_no": unbooked.order_no, "status": unbooked.status, "amount_fen": unbooked.amount_fen,
                "refunded_fen": 0, "his_receipt_no": None, "his_error": None}
    items = [
        ReconciliationItem(run_id=run.id, kind="local_only", order_no=missing.order_no,
                           channel_trade_no=missing.channel_trade_no, local_amount_fen=missing.amount_fen,
                           note="本地已收款，渠道账单无此笔"),
        ReconciliationItem(run_id=run.id, kind="amount_mismatch", order_no=differs.order_no,
                           channel_trade_no=differs.channel_trade_no, local_amount_fen=differs.amount_fen,
                           channel_amount_fen=differs.amount_fen - 100, note="金额不一致"),
        ReconciliationItem(run_id=run.id, kind="channel_only", order_no=f"{PREFIX}MZ{bill_date:%Y%m%d}9999",
                           channel_trade_no=f"{PREFIX}T{bill_date:%Y%m%d}9999", channel_amount_fen=3550,
                           note="渠道有收款，本地无订单"),
        ReconciliationItem(run_id=run.id, kind="his_missing", source="his", order_no=unbooked.order_no,
                           channel_trade_no=unbooked.channel_trade_no, local_amount_fen=unbooked.amount_fen,
                           channel_amount_fen=0, note="平台已确认，医院无此笔入账",
                           evidence=json.dumps({"platform": platform, "his": {
                               "trade_no": unbooked.channel_trade_no, "applied": False, "applied_fen": 0,
                               "records": []}}, ensure_ascii=False)),
        ReconciliationItem(run_id=run.id, kind="amount_mismatch", order_no=resolved.order_no,
                           channel_trade_no=resolved.channel_trade_no, local_amount_fen=resolved.amount_fen,
                           channel_amount_fen=resolved.amount_fen + 1,
                           note="金额不一致；已处理：微信次日更正账单（财务 张会计）",
                           resolved_at=end + dt.timedelta(hours=5), resolved_by="finance"),
    ]
    db.session.add_all(items)
    run.mismatch_count = len(items)
    return len(items)


WORKLIST_PREFIX = f"{PREFIX}WL"


def _worklist_seeded() -> bool:
    return db.session.scalar(select(PaymentOrder.id).where(PaymentOrder.order_no.startswith(WORKLIST_PREFIX))
                             .limit(1)) is not None


def seed_worklist_demo() -> list[str]:
    """A few orders in the states a person must act on, so every demo role's home page has a worklist
    and 订单全链路 has a failed payment to diagnose: a payment the HIS refused (its notice not pushed),
    one the HIS has not answered, a refund the channel closed, a refund without an answer for hours,
    a payment paid but not confirmed for two hours, an open 长款, and today's first orders. Idempotent.

    ``seed_backoffice_demo(worklist=True)`` puts the same orders among the month's, in time order."""
    if _worklist_seeded():
        return ["worklist demo: already there"]
    patient = db.session.scalar(select(Patient).join(ChannelUser, Patient.owner_id == ChannelUser.id)
                                .where(ChannelUser.channel_uid.startswith(ACCOUNT_PREFIX)).order_by(Patient.id))
    if patient is None:
        return ["worklist demo: no back-office demo patients"]
    now = clock.utcnow()
    timeline = Timeline()
    line = _worklist_orders(patient, now, timeline)
    timeline.run()
    _worklist_long_payment(now)
    db.session.commit()
    return [line]


def _worklist_orders(patient: Patient, now: dt.datetime, timeline: Timeline) -> str:
    """The worklist's orders, refunds and notice, each in its turn on ``timeline``."""
    from app.models import ChannelNotification, HisCheck, MessagePush, Notification

    today = clock.today()

    def payment(n: int, status: str, path: list[str], at: dt.datetime, amount: int = 8650, then=None,
                **extra) -> PaymentOrder:
        order = PaymentOrder(order_no=f"{WORKLIST_PREFIX}MZ{today:%Y%m%d}{n:02d}", kind="outpatient",
                             owner_id=patient.owner_id, patient_id=patient.id, business_ref=f"CF{today:%m%d}{n:03d}",
                             channel=patient.channel, amount_fen=amount, description="门诊缴费", status=status,
                             created_at=at, paid_at=at + dt.timedelta(minutes=1) if "paid" in path else None,
                             channel_trade_no=f"{WORKLIST_PREFIX}T{today:%Y%m%d}{n:02d}" if "paid" in path else None,
                             expires_at=at + dt.timedelta(minutes=15), **extra)

        def story(order: PaymentOrder) -> None:
            _move("payment", order.id, path, at, f"patient:{patient.owner_id}")
            if "paid" in path:
                db.session.add(ChannelNotification(channel=order.channel, kind="payment",
                                                   notify_id=f"{order.order_no}-N", order_no=order.order_no,
                                                   outcome="applied",
                                                   received_at=at + dt.timedelta(minutes=1, seconds=5)))
            if then is not None:
                then(order)

        timeline.insert(at, order, then=story)
        return order

    def refused_by_his(order: PaymentOrder) -> None:
        db.session.flush()
        refusal = db.session.scalar(select(StateTransition).where(
            StateTransition.order_type == "payment", StateTransition.order_id == order.id,
            StateTransition.to_status == "confirm_failed"))
        refusal.actor, refusal.reason = "system:his", "HIS refused: 处方已失效，不能收费"

    yesterday = now - dt.timedelta(days=1)
    refused = payment(1, "confirm_failed", ["created", "paying", "paid", "confirm_failed"], yesterday,
                      his_error="处方已失效，不能收费", his_attempts=1, updated_at=yesterday + dt.timedelta(minutes=8),
                      then=refused_by_his)
    notice = Notification(owner_id=patient.owner_id, channel=patient.channel, kind="bill_failed", title="缴费失败",
                          body="医院未能确认您的门诊缴费，款项将原路退回。",
                          dedupe_key=f"bill_failed:{refused.order_no}",
                          status="failed", attempts=3, last_error="43004 用户未关注服务号",
                          created_at=yesterday + dt.timedelta(minutes=8))
    timeline.insert(notice.created_at, notice)
    pushed_at = yesterday + dt.timedelta(minutes=9)
    timeline.insert(pushed_at, MessagePush(channel=patient.channel, ok=False, error_code="43004",
                                           error_message="require subscribe", at=pushed_at),
                    links={"notification_id": notice})
    asked_at = yesterday + dt.timedelta(hours=1, minutes=20)
    check = HisCheck(why="确认超时后核实是否已入账", answer="unavailable", detail="HIS timeout after 10s",
                     actor="system:his_recheck", asked_at=asked_at)

    def unanswered(order: PaymentOrder) -> None:
        check.payment_id, check.trade_no = order.id, order.channel_trade_no
        db.session.add(check)

    payment(2, "confirm_unknown", ["created", "paying", "paid", "confirm_unknown"],
            yesterday + dt.timedelta(hours=1), his_error="医院接口超时", his_attempts=5, then=unanswered)
    closed = payment(3, "confirmed", ["created", "paying", "paid", "confirmed"], yesterday + dt.timedelta(hours=2),
                     his_receipt_no=f"SJ{today:%m%d}003", flag="refund_failed")
    failed = Refund(refund_no=f"{WORKLIST_PREFIX}TK{today:%Y%m%d}03", amount_fen=closed.amount_fen,
                    reason="患者申请退费", status="failed", requested_by="staff:finance", attempts=1,
                    failure_reason="channel notification: closed",
                    created_at=yesterday + dt.timedelta(hours=3))
    timeline.insert(failed.created_at, failed, links={"payment_id": closed}, then=lambda row: _move(
        "refund", row.id, ["requested", "processing", "failed"], yesterday + dt.timedelta(hours=3), "channel"))
    slow = payment(4, "refunding", ["created", "paying", "paid", "confirmed", "refunding"],
                   now - dt.timedelta(hours=5), his_receipt_no=f"SJ{today:%m%d}004")
    slow.refunded_fen = slow.amount_fen
    pending = Refund(refund_no=f"{WORKLIST_PREFIX}TK{today:%Y%m%d}04", amount_fen=slow.amount_fen,
                     reason="医生开错处方", status="processing", requested_by="his", attempts=1,
                     created_at=now - dt.timedelta(hours=3), updated_at=now - dt.timedelta(hours=3))
    timeline.insert(pending.created_at, pending, links={"payment_id": slow}, then=lambda row: _move(
        "refund", row.id, ["requested", "processing"], now - dt.timedelta(hours=3), "his"))
    payment(5, "paid", ["created", "paying", "paid"], now - dt.timedelta(hours=2), next_his_attempt_at=None)
    for n in range(6, 9):  # today's first payments, for 今日概况
        payment(n, "confirmed", ["created", "paying", "paid", "confirmed"], now - dt.timedelta(minutes=20 * n),
                amount=3000 + 1250 * n, his_receipt_no=f"SJ{today:%m%d}{n:03d}")
    return "worklist demo: 9 orders in states to act on, 1 open 长款"


def _worklist_long_payment(now: dt.datetime) -> None:
    """Yesterday's WeChat bill (its run made if the month has none) with a trade no order matches: a 长款."""
    bill_day = clock.today() - dt.timedelta(days=1)
    run = db.session.scalar(select(ReconciliationRun).where(ReconciliationRun.channel == "wechat",
                                                            ReconciliationRun.bill_date == bill_day))
    if run is None:
        run = ReconciliationRun(channel="wechat", bill_date=bill_day, status="done", progress=100, channel_count=1,
                                channel_total_fen=12000, local_count=0, local_total_fen=0, mismatch_count=1,
                                finished_at=now - dt.timedelta(hours=6))
        db.session.add(run)
        db.session.flush()
    db.session.add(ReconciliationItem(run_id=run.id, kind="channel_only", order_no=None,
                                      channel_trade_no=f"{WORKLIST_PREFIX}X{bill_day:%Y%m%d}01", local_amount_fen=None,
                                      channel_amount_fen=12000, note="渠道有此笔，本地无订单"))


def register_refunds_with_the_sandbox() -> list[str]:
    """The sandbox channels learn the demo's payments whose refunds are in flight or failed, as the real channels know
    every trade they took: the refund sweep of ``make run`` asks them, and a trade the channel does not know
    is a refund refused (订单不存在, 退款失败 on the worklist within a minute). A refund the channel is
    processing is there (WeChat: 处理中, completed when asked; Alipay: done), one WeChat holds as 退款异常
    stays so, one never sent (requested) is not: the sweep sends it. Idempotent; nothing without a sandbox."""
    from flask import current_app

    from app.payments.states import REFUND_IN_FLIGHT, RefundStatus
    from doubles.channels.core import KnownTrade

    sandbox = current_app.extensions.get("payment_sandbox")
    if sandbox is None:
        return []
    rows = db.session.execute(
        select(Refund.refund_no, Refund.amount_fen, Refund.reason, Refund.status, PaymentOrder.order_no,
               PaymentOrder.channel, PaymentOrder.amount_fen.label("total"), PaymentOrder.description,
               PaymentOrder.channel_trade_no, ChannelUser.channel_uid)
        .join(PaymentOrder, Refund.payment_id == PaymentOrder.id)
        .join(ChannelUser, PaymentOrder.owner_id == ChannelUser.id)
        # a failed one's payment too: finance's 重试 asks the channel about it first
        .where(Refund.status.in_(REFUND_IN_FLIGHT | {RefundStatus.FAILED}), PaymentOrder.channel_trade_no.is_not(None),
               PaymentOrder.order_no.startswith(PREFIX))  # the worklist's (DEMOWL…) too
        .order_by(Refund.id)).all()
    for r in rows:
        sent = r.status not in ("requested", "failed")  # a failed one never reached it: 重试 sends it again
        sandbox.know_paid_trade(r.channel, KnownTrade(
            order_no=r.order_no, trade_no=r.channel_trade_no, total_fen=r.total, description=r.description,
            payer_uid=r.channel_uid, refund_no=r.refund_no if sent else None, refund_fen=r.amount_fen,
            refund_reason=r.reason, refund_abnormal=r.status == "abnormal"))
    return [f"sandbox channels: {len(rows)} demo refunds in flight or failed known to them"]
