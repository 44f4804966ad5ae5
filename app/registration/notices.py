"""What registration tells the patient: booked, 爽约, 停诊 (each once, by its dedupe key)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from app.extensions import db
from app.links import patient_url
from app.models import (
    AppointmentOrder,
)
from app.registration.rules import HALF_DAY_NAMES, WHAT_TO_BRING, no_show_barred_until
from app.registration.states import AppointmentStatus as A
from app.services.formatting import mask_name
from app.messages.notifications import notify
from app.services.settings import BookingRules


def guidance(his_line: str) -> str:
    return "\n".join(line for line in (his_line, WHAT_TO_BRING) if line)


def notify_booked(order: AppointmentOrder) -> None:
    doctor, dept = order.doctor, order.department
    body = (f"{mask_name(order.patient.name)}，您已成功预约 {order.clinic_date:%Y-%m-%d} "
            f"{HALF_DAY_NAMES.get(order.half_day, '')} {order.start_time}-{order.end_time} {dept.name} "
            f"{doctor.name}（{doctor.title or ''}），候诊号 {order.queue_no or '-'}，地点：{order.location or '-'}。"
            f"{WHAT_TO_BRING}。")
    notify(order.owner_id, "booking_success", "预约成功", body, dedupe_key=f"booked:{order.order_no}",
           link=patient_url("h5.booking_order", order_id=order.id),
           payload={"order_no": order.order_no, "visit_no": order.his_visit_no, "queue_no": order.queue_no})


def notify_attendance(order_id: int, rules: BookingRules, today: dt.date) -> None:
    """Tell the patient an order became 爽约 (with the count and whether booking is now barred), or
    that a 爽约 was corrected to 已就诊; once each (dedupe keys). The caller commits."""
    order = db.session.get(AppointmentOrder, order_id)
    when = f"{order.clinic_date:%Y-%m-%d} {HALF_DAY_NAMES.get(order.half_day, '')} {order.start_time}"
    who = f"{mask_name(order.patient.name)} 预约的 {when} {order.doctor.name}医生"
    link = patient_url("h5.booking_order", order_id=order.id)
    if order.status == A.VISITED:
        notify(order.owner_id, "no_show", "就诊记录更正", f"{who}的就诊记录已更正为已就诊，不计爽约次数。",
               dedupe_key=f"no_show_corrected:{order.order_no}", link=link, payload={"order_no": order.order_no})
        return
    since = today - dt.timedelta(days=rules.no_show_window_days)
    count = db.session.scalar(select(func.count()).select_from(AppointmentOrder).where(
        AppointmentOrder.patient_id == order.patient_id, AppointmentOrder.status == A.NO_SHOW,
        AppointmentOrder.clinic_date >= since)) or 0
    barred = no_show_barred_until(order.patient_id, today, rules)
    then = (f"已暂停网上预约至 {barred:%Y-%m-%d}。" if barred else
            f"累计 {rules.no_show_limit} 次将暂停网上预约 {rules.no_show_bar_days} 天。")
    notify(order.owner_id, "no_show", "爽约提醒",
           f"{who}未按时就诊，已记为爽约（{rules.no_show_window_days} 天内第 {count} 次），{then}"
           "如已就诊请联系服务台更正；不能按时就诊请提前取消预约。",
           dedupe_key=f"no_show:{order.order_no}", link=link,
           payload={"order_no": order.order_no, "no_shows": count,
                    "barred_until": barred.isoformat() if barred else None})


def notify_stopped(order: AppointmentOrder, reason: str, *, paid: bool) -> None:
    notify(order.owner_id, "stop_clinic", "停诊通知",
           f"很抱歉，{order.doctor.name}医生 {order.clinic_date:%Y-%m-%d} {HALF_DAY_NAMES.get(order.half_day, '')} "
           f"停诊（{reason}），您的预约已取消" + ("，挂号费将原路退回。" if paid else "。")
           + "点击可一键改约该医生其他时段。",
           dedupe_key=f"stopped:{order.order_no}", link=patient_url("h5.booking_rebook", order_id=order.id),
           payload={"order_no": order.order_no, "doctor_id": order.doctor_id})
