"""Demo data for 门诊缴费 and 住院服务: a demo account whose card has pending bills and a current stay,
and a few 导诊 rules. Called from doubles.demo.hospital.seed_demo; running it twice changes nothing."""

from __future__ import annotations

from flask import current_app
from sqlalchemy import func, select

from app.extensions import db
from app.his.interface import BillItem
from app.models import ChannelUser, GuidanceRule, Patient
from app.models.base import utcnow
from app.services.his_access import his_gateway

DEMO_UID = "demo-bills-patient"  # the channel uid of the demo account (WeChat sandbox)
DEMO_NICKNAME = "演示患者（门诊缴费/住院）"
GUIDANCE_RULES = [
    (10, "检查", None, "超声检查请提前 10 分钟到门诊楼二楼超声科候检区，妇科超声需憋尿"),
    (20, "化验", "葡萄糖耐量", "葡萄糖耐量试验需空腹 8 小时以上，全程约 2 小时，期间请勿进食"),
    (30, "西药", None, "取药后请核对药品数量，如有疑问请咨询药房窗口药师"),
]


def _demo_card() -> tuple[str, object] | None:
    """The first seeded card with a current stay (the simulator's data is deterministic)."""
    from doubles.his.simulator.seed import generate_patients

    his = his_gateway()
    for seeded in generate_patients():
        stay = his.inpatient_stay(seeded.card_no)
        if stay is not None and stay.status == "in_hospital":
            return seeded.card_no, seeded
    return None


def seed_bills_demo() -> list[str]:
    """Create the demo account and its card (with pending bills and a stay) once; seed 导诊 rules."""
    report: list[str] = []
    if not db.session.scalar(select(func.count()).select_from(GuidanceRule)):
        for sort, category, keyword, text in GUIDANCE_RULES:
            db.session.add(GuidanceRule(sort=sort, match_category=category, match_keyword=keyword, guidance=text))
        report.append(f"guidance rules created: {len(GUIDANCE_RULES)}")
    if current_app.config["HIS_MODE"] != "simulator":
        db.session.commit()
        return report
    user = db.session.scalar(select(ChannelUser).where(ChannelUser.channel == "wechat",
                                                       ChannelUser.channel_uid == DEMO_UID))
    if user is None:
        found = _demo_card()
        if found is None:
            db.session.commit()
            return report + ["no inpatient card in the simulator: demo bills patient skipped"]
        card_no, seeded = found
        user = ChannelUser(channel="wechat", channel_uid=DEMO_UID, nickname=DEMO_NICKNAME)
        db.session.add(user)
        db.session.flush()
        db.session.add(Patient(owner_id=user.id, name=seeded.name, id_number=seeded.id_number, phone=seeded.phone,
                               gender="female" if seeded.gender == "F" else "male", birth_date=seeded.birth_date,
                               relation="self", card_no=card_no, his_patient_id=seeded.patient_id,
                               is_default=True, channel="wechat", bound_at=utcnow()))
        report.append(f"demo bills patient created: wechat uid {DEMO_UID}, card {card_no}")
    patient = db.session.scalar(select(Patient).where(Patient.owner_id == user.id).order_by(Patient.id))
    his = his_gateway()
    if patient is not None and not his.pending_bills(patient.card_no):
        his.add_bill(patient.card_no, [BillItem("叶酸片", "西药", "0.4mg*31片", 2, 980, 1960),
                                       BillItem("血常规", "化验", "五分类", 1, 2000, 2000),
                                       BillItem("产科B超", "检查", "常规", 1, 18000, 18000)],
                     doctor_code="D001")
        report.append(f"pending bill added for demo card {patient.card_no}")
    db.session.commit()
    return report
