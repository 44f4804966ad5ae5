"""The demo hospital: simulator data, staff accounts per role, published content. Idempotent."""

from __future__ import annotations

from flask import current_app

from app.admin.roles import ADMIN, FINANCE, OPERATIONS, SERVICE_DESK
from app.extensions import db
from app.models import ServiceInstruction, SystemSetting

# username, password, role, display name: also written in README.md
DEMO_ACCOUNTS = [
    ("admin", "admin123", ADMIN, "系统管理员"),
    ("finance", "finance123", FINANCE, "财务"),
    ("ops", "ops123", OPERATIONS, "信息科运维"),
    ("service", "service123", SERVICE_DESK, "服务台"),
]

INSTRUCTIONS = [
    ("booking", "预约挂号须知", 1,
     "1. 可预约 14 天内的号源，每个就诊人同一医生同一时段只能预约一个号。\n"
     "2. 预约后请在 15 分钟内支付挂号费，超时未支付号源将自动释放。\n"
     "3. 就诊当日请提前 15 分钟到门诊签到候诊；如需取消，请在就诊前一天 17:00 前操作，挂号费原路退回。\n"
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

SETTINGS = [
    ("booking.days_ahead", "14", "可预约天数"),
    ("booking.pay_minutes", "15", "预约后支付时限（分钟）"),
    ("booking.cancel_deadline", "17:00", "就诊前一天取消截止时间"),
    ("reminder.unpaid_hour", "18", "待缴费提醒发送时间（时）"),
]


def seed_demo() -> list[str]:
    """Bring the demo data to its target state; running it twice changes nothing the second time."""
    report: list[str] = []
    if current_app.config["HIS_MODE"] == "simulator":
        from app.his.simulator import seed as seed_simulator

        seed_simulator(current_app.config["HIS_SIMULATOR_URL"])
        report.append("HIS simulator seeded")
    sm = current_app.appbuilder.sm
    sm.sync_hospital_roles()
    created = 0
    for username, password, role_name, display in DEMO_ACCOUNTS:
        if sm.find_user(username=username) is None:
            sm.add_user(username=username, first_name=display, last_name=role_name,
                        email=f"{username}@demo.hospital.local", role=sm.find_role(role_name),
                        password=password)
            created += 1
    report.append(f"demo accounts created: {created}")
    for slug, title, sort, body in INSTRUCTIONS:
        if db.session.query(ServiceInstruction).filter_by(slug=slug).first() is None:
            db.session.add(ServiceInstruction(slug=slug, title=title, sort=sort, body=body))
    for key, value, description in SETTINGS:
        if db.session.query(SystemSetting).filter_by(key=key).first() is None:
            db.session.add(SystemSetting(key=key, value=value, description=description, updated_by="seed"))
    db.session.commit()
    for hook in SEED_HOOKS:
        report.extend(hook())
    return report


# Later domains (schedules sync, demo patients) append callables returning report lines.
SEED_HOOKS: list = []


def remove_demo_accounts() -> int:
    sm = current_app.appbuilder.sm
    removed = 0
    for username, *_ in DEMO_ACCOUNTS:
        user = sm.find_user(username=username)
        if user is not None:
            sm.session.delete(user)
            removed += 1
    sm.session.commit()
    return removed


def _seed_backoffice_demo() -> list[str]:
    """A month of demo orders; tests opt in with DEMO_BACKOFFICE_ORDERS (it takes a moment)."""
    from app.services.backoffice_demo import seed_backoffice_demo

    if not current_app.config.get("DEMO_BACKOFFICE_ORDERS", not current_app.testing):
        return []
    return seed_backoffice_demo()


SEED_HOOKS.append(_seed_backoffice_demo)
