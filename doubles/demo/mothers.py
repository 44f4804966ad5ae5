"""The demo's mother and baby (issue 17): on whatever day the demo is seeded, the demo mother is 24 weeks
pregnant with her next 产检 due, and a baby is due for the 6-month 儿保 check. Idempotent on one day; a
later seed moves the dates so that both still hold."""

from __future__ import annotations

import datetime as dt

from flask import current_app
from sqlalchemy import select

from app import clock
from app.extensions import db
from app.maternity import rules
from app.models import ChannelUser, Patient, Pregnancy
from app.identity.id_numbers import id_number_check_digit

DEMO_WEEKS = 24
BABY_NAME = "演示宝宝"
BABY_DUE_IN_DAYS = 3  # the 6-month check falls due three days after the seed day


def baby_birth_date(today: dt.date) -> dt.date:
    """A birth date that makes the 6-month check due ``BABY_DUE_IN_DAYS`` after ``today``."""
    return rules.add_months(today + dt.timedelta(days=BABY_DUE_IN_DAYS), -6)


def _baby_id_number(born: dt.date) -> str:
    first17 = f"441781{born:%Y%m%d}{born.toordinal() % 50 * 2 + 1:03d}"  # 阳春市, odd sequence: a boy
    return first17 + id_number_check_digit(first17)


def seed_mothers_demo() -> list[str]:
    from doubles.demo.hospital import DEMO_PATIENT_ACCOUNTS
    from app.services.his_access import his_gateway

    today = clock.today()
    lmp = today - dt.timedelta(weeks=DEMO_WEEKS)
    born = baby_birth_date(today)
    card = mother_card = None
    if current_app.config["HIS_MODE"] == "simulator":
        card = his_gateway().register_card(BABY_NAME, _baby_id_number(born), "13800000017", "M", born)
    pregnancies = babies = 0
    for channel, uid, _nickname in DEMO_PATIENT_ACCOUNTS:
        user = db.session.scalar(select(ChannelUser).where(ChannelUser.channel == channel,
                                                           ChannelUser.channel_uid == uid))
        if user is None:
            continue
        mother = db.session.scalar(select(Patient).where(Patient.owner_id == user.id, Patient.relation == "self",
                                                         Patient.status == "bound"))
        if mother is not None and mother.gender == "female":
            mother_card = mother
            row = db.session.scalar(select(Pregnancy).where(Pregnancy.patient_id == mother.id))
            if row is None:
                db.session.add(Pregnancy(patient_id=mother.id, lmp_date=lmp, due_date=rules.due_from_lmp(lmp),
                                         given="lmp"))
                pregnancies += 1
            elif row.lmp_date != lmp or row.status != "active":
                row.lmp_date, row.due_date, row.status = lmp, rules.due_from_lmp(lmp), "active"
                pregnancies += 1
        if card is None:
            continue
        earlier = select(Patient).where(Patient.owner_id == user.id, Patient.name == BABY_NAME,
                                        Patient.status == "bound", Patient.card_no != card.card_no)
        for old in db.session.scalars(earlier):
            old.status, old.unbound_at = "unbound", clock.utcnow()  # an earlier day's baby: replaced
        if db.session.scalar(select(Patient).where(Patient.owner_id == user.id,
                                                   Patient.card_no == card.card_no)) is None:
            db.session.add(Patient(owner_id=user.id, name=BABY_NAME, id_number=_baby_id_number(born),
                                   guardian_name=mother_card.name if mother_card else None,
                                   guardian_id_number=mother_card.id_number if mother_card else None,
                                   phone="13800000017", gender="male", birth_date=born, relation="child",
                                   card_no=card.card_no, his_patient_id=card.patient_id, is_default=False,
                                   channel=channel, bound_at=clock.utcnow()))
            babies += 1
    classes = _seed_classes(today)
    db.session.commit()
    return [f"demo classes added: {classes}",
            f"demo mother at {DEMO_WEEKS} weeks (LMP {lmp}): {pregnancies} updated; demo baby born {born}: "
            f"{babies} bound"]


#: 孕妇学校 classes of the demo: (days ahead, hour, title, teacher, capacity, fee in fen, places already taken)
DEMO_CLASSES = (
    (2, 9, "孕期营养与体重管理", "产科 黄丽华", 30, 0, 12),
    (4, 14, "分娩准备与减痛分娩", "产房 陈静", 20, 3000, 20),
    (6, 9, "新生儿护理与母乳喂养", "新生儿科 林小燕", 25, 0, 3),
)


def _seed_classes(today: dt.date) -> int:
    """Three classes in the coming week (free, paid and full, paid), once per seed day."""
    from app.models import PrenatalClass

    added = 0
    for ahead, hour, title, teacher, capacity, fee, taken in DEMO_CLASSES:
        starts = dt.datetime.combine(today + dt.timedelta(days=ahead), dt.time(hour, 0))
        if db.session.scalar(select(PrenatalClass.id).where(PrenatalClass.title == title,
                                                            PrenatalClass.starts_at == starts)) is None:
            db.session.add(PrenatalClass(title=title, teacher=teacher, location="门诊楼五楼孕妇学校教室",
                                         intro="请携带母子健康手册，可由一位家属陪同。", starts_at=starts,
                                         ends_at=starts + dt.timedelta(hours=1, minutes=30), capacity=capacity,
                                         booked=taken, fee_fen=fee, status="open"))
            added += 1
    return added
