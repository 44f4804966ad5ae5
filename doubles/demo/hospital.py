"""The demo hospital: simulator data, staff accounts per role, published content. Idempotent."""

from __future__ import annotations

from flask import current_app

from app import clock
from app.admin.roles import ADMIN, FINANCE, OPERATIONS, SERVICE_DESK
from app.extensions import db
from app.models import ServiceInstruction, SystemSetting
from app.messages.notifications import NOTICE_KINDS
from doubles.demo.timeline import Timeline

# username, password, role, display name: also written in README.md; `flask demo remove-accounts` removes
# app/operations/preflight.py DEMO_USERNAMES, which must name the same accounts
DEMO_ACCOUNTS = [
    ("admin", "admin123", ADMIN, "系统管理员"),
    ("finance", "finance123", FINANCE, "财务"),
    ("ops", "ops123", OPERATIONS, "信息科运维"),
    ("service", "service123", SERVICE_DESK, "服务台"),
]

INSTRUCTIONS = [
    ("booking", "预约挂号须知", 1,
     "1. 可预约 7 天内的号源（每日 08:00 放号），每个就诊人同一医生同一时段只能预约一个号。\n"
     "2. 预约后请在 15 分钟内支付挂号费，超时未支付号源将自动释放。\n"
     "3. 就诊当日请提前 15 分钟到门诊签到候诊；如需取消，请在就诊前 1 小时前操作，挂号费原路退回。\n"
     "4. 医生停诊时，我们将通过服务号/服务窗通知您，挂号费自动退回，可一键改约该医生其他时段。"),
    ("payment", "门诊缴费须知", 2,
     "1. 医生开具处方或检查单后，可在“门诊缴费”中查看待缴费项并在线支付。\n"
     "2. 缴费成功后请按页面导诊提示前往药房取药或到检查科室登记。\n"
     "3. 如需退费，请到门诊收费处办理，退款将原路退回。"),
    ("inpatient", "住院押金须知", 3,
     "住院期间可在线补缴押金、查看每日费用清单。押金余额不足时请及时补缴，出院结算时多退少补。"),
    ("privacy", "隐私说明", 4,
     "本平台仅在为您提供挂号、缴费、查询服务所必需的范围内使用您的个人信息，页面和日志中的身份证号、手机号均脱敏显示。"),
]



def seed_demo() -> list[str]:
    """Bring the demo data to its target state; running it twice changes nothing the second time."""
    report: list[str] = []
    if current_app.config["HIS_MODE"] == "simulator":
        from doubles.his.simulator import seed as seed_simulator

        seed_simulator(current_app.config["HIS_SIMULATOR_URL"])
        report.append("HIS simulator seeded")
    sm = current_app.appbuilder.sm
    sm.sync_hospital_roles()
    created = 0
    for username, password, role_name, display in DEMO_ACCOUNTS:
        if sm.find_user(username=username) is None:
            # staff read the name in the top bar: Chinese, never the role's code
            sm.add_user(username=username, first_name=display, last_name="（演示）",
                        email=f"{username}@demo.hospital.local", role=sm.find_role(role_name),
                        password=password)
            created += 1
    report.append(f"demo accounts created: {created}")
    for slug, title, sort, body in INSTRUCTIONS:
        if db.session.query(ServiceInstruction).filter_by(slug=slug).first() is None:
            db.session.add(ServiceInstruction(slug=slug, title=title, sort=sort, body=body))
    from app.services.settings import DEMO_VALUES, REGISTRY, RETIRED

    for entry in REGISTRY.values():  # every setting at its registered default (or demo value), labelled
        wanted = entry.seeded or entry.key in DEMO_VALUES
        if wanted and db.session.query(SystemSetting).filter_by(key=entry.key).first() is None:
            db.session.add(SystemSetting(key=entry.key, value=DEMO_VALUES.get(entry.key, entry.default),
                                         description=str(entry.label), updated_by="seed"))
    db.session.query(SystemSetting).filter(SystemSetting.key.in_(RETIRED)).delete(synchronize_session=False)
    db.session.commit()
    report.extend(seed_identity_demo())
    for hook in SEED_HOOKS:
        report.extend(hook())
    return report


# Later domains (schedules sync, demo patients) append callables returning report lines.
SEED_HOOKS: list = []


def _seed_month_accounts() -> list[str]:
    """The back-office month's accounts first: bound at the month's start, before the accounts bound today."""
    if _month_to_seed():
        from doubles.demo.backoffice import month_accounts

        month_accounts()
        db.session.commit()
    return []


SEED_HOOKS.append(_seed_month_accounts)


def _seed_bills_demo() -> list[str]:
    from doubles.demo.bills import seed_bills_demo

    return seed_bills_demo()


SEED_HOOKS.append(_seed_bills_demo)  # 门诊缴费 / 住院服务 demo account, card and 导诊 rules


# --- identity and messages (issue 4): templates, the satisfaction survey, the patient limit ---------

def demo_template_ids(kind: str) -> tuple[str, str]:
    """The sandbox template ids (WeChat, Alipay) of a notice kind."""
    short = kind.replace("_", "-")
    return f"sbx-wx-{short}", f"sbx-ali-{short}"


FIELD_MAP = '{"thing1": "title", "thing2": "body", "time3": "time"}'
DEMO_SURVEY = ("门诊就诊满意度调查", "visit", [
    ("rating", "您对本次就诊的总体满意度", None, True),
    ("single", "候诊时间是否可以接受", '["可以接受", "稍长", "太长"]', True),
    ("text", "您对医院还有什么意见或建议", None, False),
])


def seed_identity_demo() -> list[str]:
    """Message templates (sandbox ids) for every notice kind, one visit survey, the patient limit."""
    from app.models import MessageTemplate, Survey, SurveyQuestion

    added = 0
    for kind in NOTICE_KINDS:
        wechat_id, alipay_id = demo_template_ids(kind)
        for channel, template_id in (("wechat", wechat_id), ("alipay", alipay_id)):
            if db.session.query(MessageTemplate).filter_by(kind=kind, channel=channel).first() is None:
                db.session.add(MessageTemplate(kind=kind, channel=channel, template_id=template_id,
                                               field_map_json=FIELD_MAP))
                added += 1
    title, trigger, questions = DEMO_SURVEY
    if db.session.query(Survey).filter_by(title=title).first() is None:
        survey = Survey(title=title, trigger=trigger, is_active=True)
        survey.questions = [SurveyQuestion(sort=i, kind=k, text=t, options_json=o, required=r)
                            for i, (k, t, o, r) in enumerate(questions, 1)]
        db.session.add(survey)
    db.session.commit()
    return [f"message templates created: {added}"]


def demo_patient_cards(limit: int = 3) -> list[dict[str, str]]:
    """Seeded HIS patients worth binding in a demo: waiting in a clinic queue today and holding a lab
    report with abnormal values. Shown on the binding page in sandbox mode only (simulator data)."""
    from doubles.his.simulator.seed import generate_patients
    from app.services.his_access import his_gateway

    cfg = current_app.config
    if cfg.get("HIS_MODE") != "simulator" or cfg.get("OAUTH_MODE") != "sandbox" or not cfg.get("SANDBOX_DEMO_CARDS"):
        return []
    his = his_gateway()
    found: list[dict[str, str]] = []
    for p in generate_patients():
        tickets = his.queue_status(p.card_no)
        if not any(t.status == "waiting" and t.ahead_count > 0 for t in tickets):
            continue
        ready_labs = [r for r in his.list_reports(p.card_no) if r.kind == "lab" and r.status == "ready"]
        if not any(any(i.flag for i in his.get_report(r.report_id, p.card_no).items) for r in ready_labs):
            continue
        found.append({"name": p.name, "id_number": p.id_number, "phone": p.phone, "card_no": p.card_no,
                      "group": p.group})
        if len(found) >= limit:
            break
    return found
# --- registration (issue 5): the timetable from the HIS and a demo patient account ---------------

DEMO_PATIENT_ACCOUNTS = [("wechat", "demo-patient-wechat", "演示患者（微信）"),
                         ("alipay", "demo-patient-alipay", "演示患者（支付宝）")]


def seed_booking_demo(visits: bool = True) -> list[str]:
    """Sync departments, doctors and sessions from the HIS; one demo account per channel with a
    mother (本人) and a child (家庭成员) whose cards exist in the simulator; with ``visits`` their past
    visits (``_book_demo_visits``). Idempotent."""
    from doubles.his.simulator import generate_patients
    from app.models import ChannelUser, Patient
    from app.models.base import utcnow
    from app.registration.schedules import sync_from_his

    report = sync_from_his().lines() if current_app.config["HIS_MODE"] == "simulator" else []
    seeded = generate_patients()
    mother = next(p for p in seeded if p.group == "mother")
    child = next(p for p in seeded if p.group == "child")
    added = 0
    for channel, uid, nickname in DEMO_PATIENT_ACCOUNTS:
        user = db.session.query(ChannelUser).filter_by(channel=channel, channel_uid=uid).first()
        if user is None:
            user = ChannelUser(channel=channel, channel_uid=uid, nickname=nickname)
            db.session.add(user)
            db.session.flush()
        for person, relation in ((mother, "self"), (child, "child")):
            if db.session.query(Patient).filter_by(owner_id=user.id, card_no=person.card_no).first() is None:
                db.session.add(Patient(owner_id=user.id, name=person.name, id_number=person.id_number,
                                       phone=person.phone, gender="female" if person.gender == "F" else "male",
                                       birth_date=person.birth_date, relation=relation, card_no=person.card_no,
                                       his_patient_id=person.patient_id, is_default=relation == "self",
                                       channel=channel, bound_at=utcnow()))
                added += 1
    db.session.commit()
    report.append(f"demo patients created: {added}")
    if visits and current_app.config["HIS_MODE"] == "simulator":
        report.extend(_book_demo_visits())
    return report


def _book_demo_visits() -> list[str]:
    """The simulator's past registrations of the demo cards (order numbers GHDEMO…, one checked in, one
    not) become booked orders of the WeChat demo account, then the attendance sweep moves them to
    已就诊 and 爽约 exactly as it does every night. Idempotent."""
    timeline = Timeline()
    created = _demo_visit_orders(timeline)
    timeline.run()
    db.session.commit()
    return [_sweep_demo_visits(created)]


def _sweep_demo_visits(created: int) -> str:
    from app.registration.commands import sweep_attendance

    return f"demo past visits booked: {created}; attendance {sweep_attendance().summary()}"


def _demo_visit_orders(timeline: Timeline) -> int:
    """Hand the demo cards' past visits not yet booked to ``timeline`` (each at the evening before its
    clinic day, when it was booked); the day's sessions are copied from the HIS at once."""
    import datetime as dt

    from sqlalchemy import select

    from doubles.his.simulator.seed import DEMO_ORDER_PREFIX
    from app.models import AppointmentOrder, ChannelUser, Patient, ScheduleSlice, StateTransition
    from app.registration.rules import hospital_now, WHAT_TO_BRING
    from app.services.settings import booking_rules
    from app.services.his_access import his_gateway
    from app.registration.schedules import sync_from_his

    channel, uid, _nickname = DEMO_PATIENT_ACCOUNTS[0]
    user = db.session.scalar(select(ChannelUser).where(ChannelUser.channel == channel, ChannelUser.channel_uid == uid))
    patients = {p.card_no: p for p in db.session.scalars(select(Patient).where(Patient.owner_id == user.id))}
    today = hospital_now().date()
    created = 0
    for back in range(1, booking_rules().attendance_lookback_days + 1):
        day = today - dt.timedelta(days=back)
        visits = [r for r in his_gateway().registration_attendance(day) if r.order_no.startswith(DEMO_ORDER_PREFIX)
                  and r.card_no in patients and db.session.scalar(
                      select(AppointmentOrder.id).where(AppointmentOrder.order_no == r.order_no)) is None]
        if not visits:
            continue
        sync_from_his(days=0, today=day)  # the past day's sessions, which the booking window never copied
        for visit in visits:
            slc = db.session.scalar(select(ScheduleSlice).where(ScheduleSlice.his_slice_id == visit.slice_id))
            if slc is None:
                continue
            sched = slc.schedule
            booked_at = clock.to_utc(dt.datetime.combine(day - dt.timedelta(days=1), dt.time(20, 0)))
            order = AppointmentOrder(
                order_no=visit.order_no, owner_id=user.id, patient_id=patients[visit.card_no].id, channel=channel,
                schedule_id=sched.id, slice_id=slc.id, department_id=sched.department_id, doctor_id=sched.doctor_id,
                clinic_date=day, half_day=sched.half_day, start_time=slc.start_time, end_time=slc.end_time,
                fee_fen=sched.fee_fen, status="booked", his_lock_id=visit.lock_id, his_visit_no=visit.visit_no,
                location=sched.department.location, created_at=booked_at, paid_at=booked_at + dt.timedelta(minutes=1),
                confirmed_at=booked_at + dt.timedelta(minutes=2), guidance=WHAT_TO_BRING)

            def story(order: AppointmentOrder, booked_at: dt.datetime = booked_at) -> None:
                for k, (a, b) in enumerate((("holding", "pending_payment"), ("pending_payment", "paid"),
                                            ("paid", "booked"))):
                    db.session.add(StateTransition(order_type="appointment", order_id=order.id, from_status=a,
                                                   to_status=b, actor="seed", at=booked_at + dt.timedelta(minutes=k)))

            timeline.insert(booked_at, order, then=story)
            created += 1
        db.session.commit()
    return created


def _month_wanted() -> bool:
    """The back-office month is ``make run``'s; tests opt in with DEMO_BACKOFFICE_ORDERS (it takes a moment)."""
    return bool(current_app.config.get("DEMO_BACKOFFICE_ORDERS", not current_app.testing))


def _month_to_seed() -> bool:
    from doubles.demo.backoffice import month_seeded

    return _month_wanted() and not month_seeded()


def _seed_booking_demo() -> list[str]:
    return seed_booking_demo(visits=not _month_to_seed())  # else the month books them among its own orders


SEED_HOOKS.append(_seed_booking_demo)


def _seed_backoffice_demo() -> list[str]:
    """A month of demo orders and the worklist's, in time order with the demo cards' past visits: the
    lists, newest id first, read newest first by time."""
    from doubles.demo.backoffice import seed_backoffice_demo

    if not _month_wanted():
        return []
    if not _month_to_seed() or current_app.config["HIS_MODE"] != "simulator":
        return seed_backoffice_demo(worklist=True)
    timeline = Timeline()
    created = _demo_visit_orders(timeline)
    month = seed_backoffice_demo(timeline=timeline, worklist=True)
    return [_sweep_demo_visits(created)] + month


SEED_HOOKS.append(_seed_backoffice_demo)


def _seed_mothers_demo() -> list[str]:
    from doubles.demo.mothers import seed_mothers_demo

    return seed_mothers_demo()


SEED_HOOKS.append(_seed_mothers_demo)  # a mother at 24 weeks, a baby due for the 6-month check (issue 17)


def _register_demo_refunds() -> list[str]:
    from doubles.demo.backoffice import register_refunds_with_the_sandbox

    return register_refunds_with_the_sandbox()


SEED_HOOKS.append(_register_demo_refunds)  # last: every demo order is written
