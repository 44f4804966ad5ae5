"""The simulated hospital's records are ones a clinician would sign: items fit the department that billed
them and the patient's sex and age, and a stay's times are in order. The rules are written out here by
hand (not taken from the seed's own tables), and checked over several seeds and seed dates.

Found when the demo was first shown: a 2-year-old boy billed for 宫颈上药 and 黄体酮, 胎心监护 under
乳腺门诊, stays discharged before they were admitted."""

from __future__ import annotations

import datetime as dt
import importlib
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from doubles.his.simulator.models import (BillItemRow, BillRow, CostItemRow, DepositRow, DischargeRow, PatientRow,
                                      ReportRow, StayRow)

seed_module = importlib.import_module("doubles.his.simulator.seed")  # the package exports the function seed()

# who may receive an item: (women only, minimum age in days, maximum age in days)
WOMEN_ONLY = {"宫颈上药", "黄体酮软胶囊", "地屈孕酮片", "HPV分型检测", "妇科B超", "产科B超", "胎心监护",
              "口服葡萄糖耐量试验", "叶酸片", "乳腺B超", "子宫下段剖宫产术", "缩宫素注射液", "会阴擦洗",
              "腹腔镜下子宫肌瘤剔除术"}
ADULT = 14 * 365  # 儿科 sees children under 14
ADULTS_ONLY = WOMEN_ONLY | {"多糖铁复合物胶囊", "碳酸钙D3片", "头孢克洛胶囊", "龈上洁治"}
CHILDREN_ONLY = {"阿莫西林克拉维酸钾干混悬剂", "布洛芬混悬液", "枯草杆菌二联活菌颗粒", "维生素AD滴剂",
                 "儿童髋关节B超", "经皮胆红素测定", "窝沟封闭", "局部涂氟", "注射用阿莫西林钠", "小儿电解质补给注射液"}
MAX_AGE_DAYS = {"儿童髋关节B超": 365, "经皮胆红素测定": 90, "维生素AD滴剂": 3 * 365}
# which departments may bill an item (by the department's name as printed on the bill)
ONLY_UNDER = {
    "胎心监护": {"产科门诊", "高危妊娠门诊"}, "产科B超": {"产科门诊", "高危妊娠门诊"},
    "口服葡萄糖耐量试验": {"产科门诊", "高危妊娠门诊"},
    "宫颈上药": {"妇科门诊", "宫颈疾病门诊", "不孕不育"}, "HPV分型检测": {"妇科门诊", "宫颈疾病门诊", "不孕不育"},
    "乳腺B超": {"乳腺门诊", "哺乳期乳腺"},
    "窝沟封闭": {"儿童口腔"}, "局部涂氟": {"儿童口腔"}, "龈上洁治": {"成人口腔"},
    "口腔全景片": {"儿童口腔", "成人口腔"},
    "雾化吸入": {"儿科门诊", "儿童呼吸"},
}  # fmt: skip
# which patients a department sees
WOMEN_DEPARTMENTS = {"产科门诊", "高危妊娠门诊", "产后复查", "妇科门诊", "宫颈疾病门诊", "不孕不育", "乳腺门诊",
                     "哺乳期乳腺", "计划生育"}
CHILD_DEPARTMENTS = {"儿科门诊", "儿童呼吸", "儿童消化", "儿童生长发育", "儿童心理", "新生儿科", "儿童口腔"}
ADULT_DEPARTMENTS = WOMEN_DEPARTMENTS | {"成人口腔", "生殖健康"}


def _age_days(patient: PatientRow, moment: dt.datetime | dt.date) -> int:
    day = moment.date() if isinstance(moment, dt.datetime) else moment
    return (day - patient.birth_date).days


def _item_problems(name: str, patient: PatientRow, at: dt.datetime | dt.date) -> list[str]:
    age = _age_days(patient, at)
    found = []
    if name in WOMEN_ONLY and patient.gender != "F":
        found.append("a woman's item for a man or boy")
    if name in ADULTS_ONLY and age < ADULT:
        found.append("an adult's item for a child")
    if name in CHILDREN_ONLY and age >= ADULT:
        found.append("a child's item for an adult")
    if name in MAX_AGE_DAYS and age >= MAX_AGE_DAYS[name]:
        found.append(f"too old for it ({age} days)")
    if age < 0:
        found.append("before the patient was born")
    return found


def problems(url: str, today: dt.date) -> list[str]:
    engine = create_engine(url)
    found: list[str] = []
    try:
        with Session(engine) as s:
            patients = {p.card_no: p for p in s.scalars(select(PatientRow))}
            for bill in s.scalars(select(BillRow)):
                p = patients[bill.card_no]
                age = _age_days(p, bill.created_at)
                where = f"bill {bill.bill_no} ({bill.department_name}, {p.gender}, {age} days)"
                if bill.department_name in WOMEN_DEPARTMENTS and (p.gender != "F"
                                                                  or _age_days(p, bill.created_at) < ADULT):
                    found.append(f"{where}: a women's clinic for this patient")
                if bill.department_name in CHILD_DEPARTMENTS and _age_days(p, bill.created_at) >= ADULT:
                    found.append(f"{where}: a children's clinic for an adult")
                if bill.department_name == "新生儿科" and _age_days(p, bill.created_at) >= 365:
                    found.append(f"{where}: 新生儿科 for a child over one")
                if bill.department_name in ADULT_DEPARTMENTS and _age_days(p, bill.created_at) < ADULT:
                    found.append(f"{where}: an adults' clinic for a child")
                if bill.created_at.date() > today:
                    found.append(f"{where}: billed in the future")
                for item in s.scalars(select(BillItemRow).where(BillItemRow.bill_no == bill.bill_no)):
                    found += [f"{where}: {item.name}: {why}" for why in _item_problems(item.name, p, bill.created_at)]
                    if item.name in ONLY_UNDER and bill.department_name not in ONLY_UNDER[item.name]:
                        found.append(f"{where}: {item.name} is not billed by {bill.department_name}")
            for report in s.scalars(select(ReportRow)):
                p = patients[report.card_no]
                age = _age_days(p, report.requested_at)
                where = f"report {report.report_id} ({report.title}, {p.gender}, {age} days)"
                found += [f"{where}: {why}" for why in _item_problems(report.title, p, report.requested_at)]
                if report.requested_at.date() > today:
                    found.append(f"{where}: requested in the future")
                if report.ready_at is not None and not (report.requested_at < report.ready_at
                                                        and report.ready_at.date() <= today):
                    found.append(f"{where}: ready before it was requested, or in the future")
                if report.status == "ready" and report.ready_at is None:
                    found.append(f"{where}: ready without a time")
            for stay in s.scalars(select(StayRow)):
                p = patients[stay.card_no]
                where = f"stay {stay.inpatient_no} ({stay.ward}, {p.gender}, {_age_days(p, stay.admitted_at)} days)"
                if stay.admitted_at.date() >= today:
                    found.append(f"{where}: admitted today or later, yet charged for earlier days")
                if stay.discharged_at is not None and not (stay.admitted_at < stay.discharged_at
                                                           and stay.discharged_at.date() < today):
                    found.append(f"{where}: discharged before it was admitted, or in the future")
                if (stay.status == "discharged") != (stay.discharged_at is not None):
                    found.append(f"{where}: status {stay.status} with discharged_at {stay.discharged_at}")
                if stay.ward == "新生儿科病区" and _age_days(p, stay.admitted_at) >= 90:
                    found.append(f"{where}: 新生儿科病区 for a child of {_age_days(p, stay.admitted_at)} days")
                if stay.ward in ("产科一病区", "产科二病区", "妇科病区") and (p.gender != "F"
                                                                        or _age_days(p, stay.admitted_at) < ADULT):
                    found.append(f"{where}: a women's ward for this patient")
                last = (stay.discharged_at.date() if stay.discharged_at else today)
                for item in s.scalars(select(CostItemRow).where(CostItemRow.inpatient_no == stay.inpatient_no)):
                    if not stay.admitted_at.date() <= item.day <= last:
                        found.append(f"{where}: {item.name} charged on {item.day}, outside the stay")
                    found += [f"{where}: {item.name}: {why}" for why in _item_problems(item.name, p, item.day)]
                    if item.name in ("子宫下段剖宫产术", "缩宫素注射液") and not stay.ward.startswith("产科"):
                        found.append(f"{where}: {item.name} outside the maternity wards")
                for dep in s.scalars(select(DepositRow).where(DepositRow.inpatient_no == stay.inpatient_no)):
                    end = stay.discharged_at or dt.datetime.combine(today, dt.time(9))
                    if not stay.admitted_at <= dep.paid_at < end:
                        found.append(f"{where}: deposit {dep.deposit_no} paid at {dep.paid_at}, outside the stay")
            if s.scalar(select(DischargeRow).limit(1)) is not None:
                found.append("a settled discharge in a fresh seed")
    finally:
        engine.dispose()
    return found


DATES = (dt.date(2026, 12, 1), dt.date(2027, 1, 1), dt.date(2027, 2, 28), dt.date(2027, 7, 15))


@pytest.mark.parametrize("seed_value,today", [(seed_module.SEED, d) for d in DATES] +
                         [(n, DATES[n % len(DATES)]) for n in (1, 7, 2024, 99991)])
def test_seeded_records_are_clinically_plausible(tmp_path: Path, monkeypatch, seed_value: int, today: dt.date):
    monkeypatch.setattr(seed_module, "SEED", seed_value)
    url = f"sqlite:///{tmp_path / 'his.db'}"
    seed_module.seed(url, today)
    assert problems(url, today) == []


def test_the_rules_see_what_was_found_in_the_demo(tmp_path: Path):
    """The checker itself: the records reported in the issue are each refused."""
    url = f"sqlite:///{tmp_path / 'his.db'}"
    today = dt.date(2026, 12, 1)
    seed_module.seed(url, today)
    engine = create_engine(url)
    with Session(engine) as s, s.begin():
        boy = s.scalars(select(PatientRow).where(PatientRow.gender == "M")
                        .order_by(PatientRow.birth_date.desc())).first()
        s.add(BillRow(bill_no="BX1", card_no=boy.card_no, department_name="儿科门诊", doctor_name="x",
                      created_at=dt.datetime(2026, 12, 1, 9), amount_fen=1, status="pending", refunded_fen=0))
        s.add(BillItemRow(bill_no="BX1", seq=1, name="宫颈上药", category="治疗", spec="", quantity=1,
                          unit_price_fen=1, amount_fen=1))
        woman = s.scalars(select(PatientRow).where(PatientRow.gender == "F").order_by(PatientRow.birth_date)).first()
        s.add(BillRow(bill_no="BX2", card_no=woman.card_no, department_name="乳腺门诊", doctor_name="x",
                      created_at=dt.datetime(2026, 12, 1, 9), amount_fen=1, status="pending", refunded_fen=0))
        s.add(BillItemRow(bill_no="BX2", seq=1, name="胎心监护", category="检查", spec="", quantity=1,
                          unit_price_fen=1, amount_fen=1))
        stay = s.scalars(select(StayRow).where(StayRow.status == "discharged")).first()
        stay.discharged_at = stay.admitted_at - dt.timedelta(hours=2)
        stay_no = stay.inpatient_no
    engine.dispose()
    found = "\n".join(problems(url, today))
    assert "BX1" in found and "宫颈上药: a woman's item for a man or boy" in found
    assert "胎心监护 is not billed by 乳腺门诊" in found
    assert f"stay {stay_no}" in found and "discharged before it was admitted" in found
