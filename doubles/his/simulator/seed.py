"""Deterministic, idempotent seed of a believable maternal and child health hospital (阳江).

``seed(db_url, today)`` writes the base data once (departments, doctors, patients, bills,
reports, inpatients) and, once, two past registrations of the demo cards (one checked in); then on
every run it only fills what is missing: clinic sessions so that the 14 days from ``today`` exist
(上午 and 下午 from each doctor's timetable, the 儿科夜诊 from its rota), daily cost lists of current
stays up to ``today``, and today's queue. A database seeded by an older version is brought up to date
first (guardians, ``half_day`` wide enough for "evening").
A second run on the same day changes nothing.  All randomness comes from ``random.Random`` seeded
with fixed values (or with stable strings such as a schedule id), so output depends only on inputs.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, replace

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from app.identity.id_numbers import id_number_check_digit

from .db import hospital_now, make_engine
from .gateway import next_number
from .models import (
    AttendanceRow,
    BillItemRow,
    BillRow,
    CostItemRow,
    CounterRow,
    DepartmentRow,
    DepositRow,
    DoctorRow,
    LockRow,
    Meta,
    PatientRow,
    QueueAreaRow,
    QueueTicketRow,
    ReportItemRow,
    ReportRow,
    ScheduleRow,
    SliceRow,
    StayRow,
)

SEED = 20240611
DAYS_AHEAD = 14
PATIENT_BIRTH_REFERENCE = dt.date(2025, 1, 1)  # ages are fixed so patients never change
REGIONS = ("441781", "441781", "441781", "441702", "441704", "441721")  # 阳春市 weighted

# (code, name, parent, location, description, bookable, area)
DEPARTMENTS: tuple[tuple[str, str, str | None, str, str, bool, str | None], ...] = (
    ("OB", "产科", None, "门诊楼二楼产科诊区", "孕期保健、分娩与产后康复", False, "OB"),
    ("OB01", "产科门诊", "OB", "门诊楼二楼产科诊区", "常规产前检查、孕期咨询", True, "OB"),
    ("OB02", "高危妊娠门诊", "OB", "门诊楼二楼产科诊区", "妊娠期高血压、糖尿病、双胎", True, "OB"),
    ("OB03", "产后复查", "OB", "门诊楼二楼产科诊区", "产后42天复查、盆底评估", True, "OB"),
    ("GY", "妇科", None, "门诊楼三楼妇科诊区", "妇科常见病与妇科肿瘤", False, "GY"),
    ("GY01", "妇科门诊", "GY", "门诊楼三楼妇科诊区", "炎症、月经失调、子宫肌瘤", True, "GY"),
    ("GY02", "宫颈疾病门诊", "GY", "门诊楼三楼妇科诊区", "宫颈癌筛查、阴道镜", True, "GY"),
    ("GY03", "不孕不育", "GY", "门诊楼三楼妇科诊区", "不孕症诊治、促排卵监测", True, "GY"),
    ("PD", "儿科", None, "门诊楼一楼儿科诊区", "0-14岁儿童常见病", False, "PD"),
    ("PD01", "儿科门诊", "PD", "门诊楼一楼儿科诊区", "发热、咳嗽、腹泻等常见病", True, "PD"),
    ("PD02", "儿童呼吸", "PD", "门诊楼一楼儿科诊区", "哮喘、反复呼吸道感染", True, "PD"),
    ("PD03", "儿童消化", "PD", "门诊楼一楼儿科诊区", "腹痛、便秘、营养不良", True, "PD"),
    ("CH", "儿童保健", None, "门诊楼四楼儿童保健诊区", "儿童体检与发育评估", False, "CH"),
    ("CH01", "儿童生长发育", "CH", "门诊楼四楼儿童保健诊区", "身高体重、骨龄评估", True, "CH"),
    ("CH02", "儿童心理", "CH", "门诊楼四楼儿童保健诊区", "注意力、情绪与行为问题", True, "CH"),
    ("NB", "新生儿科", None, "门诊楼一楼新生儿诊区", "新生儿黄疸、喂养问题", True, "NB"),
    ("BR", "乳腺科", None, "门诊楼三楼乳腺诊区", "乳腺疾病诊治", False, "BR"),
    ("BR01", "乳腺门诊", "BR", "门诊楼三楼乳腺诊区", "乳腺结节、乳腺增生", True, "BR"),
    ("BR02", "哺乳期乳腺", "BR", "门诊楼三楼乳腺诊区", "乳汁淤积、哺乳期乳腺炎", True, "BR"),
    ("RH", "生殖健康", None, "门诊楼五楼生殖健康诊区", "孕前检查、生殖保健", True, "RH"),
    ("FP", "计划生育", None, "门诊楼五楼生殖健康诊区", "避孕咨询、上环取环", True, "RH"),
    ("DN", "口腔科", None, "门诊楼五楼口腔诊区", "儿童与成人口腔", False, "DN"),
    ("DN01", "儿童口腔", "DN", "门诊楼五楼口腔诊区", "龋齿、窝沟封闭、涂氟", True, "DN"),
    ("DN02", "成人口腔", "DN", "门诊楼五楼口腔诊区", "孕期口腔保健、牙周治疗", True, "DN"),
    ("LB", "检验科", None, "门诊楼一楼检验科", "临床检验（不设挂号）", False, "LAB"),
    ("US", "超声科", None, "门诊楼二楼超声科", "超声检查（不设挂号）", False, "US"),
)
# (area_code, name, kind, prefix, location)
QUEUE_AREAS = (
    ("OB", "产科诊区", "clinic", "A", "门诊楼二楼产科诊区"),
    ("GY", "妇科诊区", "clinic", "B", "门诊楼三楼妇科诊区"),
    ("PD", "儿科诊区", "clinic", "C", "门诊楼一楼儿科诊区"),
    ("CH", "儿童保健诊区", "clinic", "D", "门诊楼四楼儿童保健诊区"),
    ("NB", "新生儿诊区", "clinic", "E", "门诊楼一楼新生儿诊区"),
    ("BR", "乳腺诊区", "clinic", "F", "门诊楼三楼乳腺诊区"),
    ("RH", "生殖健康诊区", "clinic", "G", "门诊楼五楼生殖健康诊区"),
    ("DN", "口腔诊区", "clinic", "K", "门诊楼五楼口腔诊区"),
    ("LAB", "检验科采血处", "lab", "L", "门诊楼一楼检验科采血处"),
    ("US", "超声科候检区", "exam", "U", "门诊楼二楼超声科"),
    ("PH", "门诊西药房", "pharmacy", "P", "门诊楼一楼西药房"),
)
DOCTORS_PER_DEPT = {
    "OB01": 5, "OB02": 3, "OB03": 2, "GY01": 5, "GY02": 3, "GY03": 3, "PD01": 8, "PD02": 3,
    "PD03": 3, "CH01": 4, "CH02": 2, "NB": 4, "BR01": 3, "BR02": 2, "RH": 3, "FP": 2,
    "DN01": 3, "DN02": 2,
}  # fmt: skip
NO_SESSIONS = frozenset({"CH02", "FP"})  # departments without any 号源 in the period
DAY_SESSIONS = (("am", "08:00", "12:00"), ("pm", "14:00", "17:30"))
EVENING_SESSION = ("evening", "18:00", "21:00")
EVENING_DEPTS = frozenset({"PD01"})  # 儿科夜诊: one 儿科门诊 doctor on duty every evening, in turn
ALWAYS_FULL = frozenset({"GY03"})  # departments whose slots are all taken
WEEKEND_DEPTS = frozenset({"PD01", "PD02", "OB01", "NB"})
TITLES = (("主任医师", 5000), ("副主任医师", 3000), ("主治医师", 2000), ("医师", 1000))
STOP_REASONS = ("医生外出会诊", "医生参加学术会议", "临时安排急诊手术", "医生公休")
SPECIALTIES = {
    "OB": ("产前检查与孕期保健", "妊娠期糖尿病管理", "瘢痕子宫再次妊娠", "双胎妊娠", "产后康复"),
    "GY": ("子宫肌瘤", "宫颈癌筛查", "多囊卵巢综合征", "月经失调", "盆腔炎性疾病"),
    "PD": ("小儿呼吸道感染", "小儿哮喘", "小儿腹泻", "儿童过敏性疾病", "小儿发热"),
    "CH": ("儿童生长迟缓", "儿童营养评估", "儿童注意力缺陷", "儿童语言发育"),
    "NB": ("新生儿黄疸", "早产儿随访", "新生儿喂养"),
    "BR": ("乳腺结节", "哺乳期乳腺炎", "乳腺增生"),
    "RH": ("孕前优生检查", "生殖道感染"),
    "FP": ("避孕咨询", "宫内节育器"),
    "DN": ("儿童龋齿防治", "牙周病", "孕期口腔保健"),
}

SURNAMES = "陈李黄张梁林刘吴罗何郑杨谢冯关莫邓许曾彭叶苏卢蔡潘钟余赖朱杜"
FEMALE_CHARS = "丽婷敏静燕芳霞慧玲娟琳雪晓嘉欣颖洁梅秀佩诗雅婉凤倩妍淑"
MALE_CHARS = "伟强俊杰浩明志文斌建华宇鹏健锦荣辉豪"
CHILD_CHARS = "子梓轩涵睿一诺可欣沐宸晨浩悦怡安乐思雨芯"

# name, category, spec, unit price (fen)
CATALOGUE = {
    "西药": (
        ("阿莫西林克拉维酸钾干混悬剂", "0.2285g*6袋", 2860),
        ("布洛芬混悬液", "100ml:2g", 1850),
        ("蒙脱石散", "3g*10袋", 1520),
        ("叶酸片", "0.4mg*31片", 980),
        ("多糖铁复合物胶囊", "150mg*10粒", 3650),
        ("碳酸钙D3片", "600mg*30片", 4200),
        ("黄体酮软胶囊", "100mg*30粒", 8900),
        ("地屈孕酮片", "10mg*20片", 15800),
        ("枯草杆菌二联活菌颗粒", "1g*10袋", 2680),
        ("盐酸氨溴索口服溶液", "100ml:0.6g", 2350),
        ("头孢克洛胶囊", "0.25g*12粒", 2680),
        ("维生素AD滴剂", "1500IU*30粒", 2280),
    ),
    "检查": (
        ("产科B超", "常规", 18000),
        ("妇科B超", "经阴道", 15000),
        ("乳腺B超", "双侧", 12000),
        ("胎心监护", "20分钟", 6000),
        ("儿童髋关节B超", "双侧", 12000),
        ("经皮胆红素测定", "每次", 800),
        ("口腔全景片", "曲面断层", 8000),
        ("腹部B超", "肝胆脾胰肾", 9000),
        ("儿童发育行为评估", "量表", 6000),
    ),
    "化验": (
        ("血常规", "五分类", 2000),
        ("尿常规", "干化学+镜检", 1000),
        ("甲功三项", "FT3/FT4/TSH", 9000),
        ("肝功能", "常规", 6500),
        ("口服葡萄糖耐量试验", "75g", 4500),
        ("C反应蛋白", "超敏", 3500),
        ("HPV分型检测", "23型", 28000),
    ),
    "治疗": (
        ("雾化吸入", "每次", 1500),
        ("静脉输液", "每组", 1200),
        ("宫颈上药", "每次", 3000),
        ("窝沟封闭", "每牙", 5000),
        ("局部涂氟", "全口", 3000),
        ("龈上洁治", "全口", 12000),
    ),
}

# The catalogue the first seed drew from, by size (see _legacy_item_draws).
CATALOGUE_V1 = {"西药": CATALOGUE["西药"][:10], "检查": CATALOGUE["检查"][:5], "化验": CATALOGUE["化验"],
                "治疗": CATALOGUE["治疗"][:3]}

# What each clinic bills (by its top department), so a bill's items belong to the department it comes from.
DEPARTMENT_ITEMS = {
    "OB": ("产科B超", "胎心监护", "叶酸片", "多糖铁复合物胶囊", "碳酸钙D3片", "地屈孕酮片", "血常规", "尿常规",
           "甲功三项", "口服葡萄糖耐量试验"),
    "OB03": ("妇科B超", "血常规", "尿常规", "多糖铁复合物胶囊", "碳酸钙D3片"),  # 产后复查: the mother, not a fetus
    "GY": ("妇科B超", "HPV分型检测", "宫颈上药", "黄体酮软胶囊", "地屈孕酮片", "血常规", "尿常规", "C反应蛋白",
           "静脉输液"),
    "GY02": ("HPV分型检测", "宫颈上药", "妇科B超", "血常规"),  # 宫颈疾病门诊
    "GY03": ("妇科B超", "黄体酮软胶囊", "地屈孕酮片", "甲功三项", "血常规"),  # 不孕不育
    "BR": ("乳腺B超", "血常规", "C反应蛋白", "头孢克洛胶囊", "静脉输液"),
    "RH": ("叶酸片", "妇科B超", "血常规", "尿常规", "甲功三项", "肝功能"),
    "FP": ("妇科B超", "血常规", "尿常规"),
    "PD": ("阿莫西林克拉维酸钾干混悬剂", "布洛芬混悬液", "蒙脱石散", "枯草杆菌二联活菌颗粒", "盐酸氨溴索口服溶液",
           "血常规", "C反应蛋白", "尿常规", "雾化吸入", "静脉输液"),
    "PD02": ("雾化吸入", "盐酸氨溴索口服溶液", "阿莫西林克拉维酸钾干混悬剂", "血常规", "C反应蛋白"),  # 儿童呼吸
    "PD03": ("蒙脱石散", "枯草杆菌二联活菌颗粒", "腹部B超", "血常规", "尿常规"),  # 儿童消化
    "CH": ("维生素AD滴剂", "儿童髋关节B超", "血常规", "尿常规"),
    "CH02": ("儿童发育行为评估",),  # 儿童心理
    "NB": ("经皮胆红素测定", "儿童髋关节B超", "枯草杆菌二联活菌颗粒", "血常规"),
    "DN": ("窝沟封闭", "局部涂氟", "龈上洁治", "口腔全景片"),
}  # fmt: skip
CHILD_AGE = 14  # years: 儿科 sees children under 14 (the 儿科 description says 0-14岁)


def _facts(p: SeedPatient, day: dt.date) -> dict[str, bool]:
    """What an item or a department may ask of a patient on ``day``: sex, age, pregnancy (the seed's
    mothers are the maternity patients)."""
    days = (day - p.birth_date).days
    adult = days >= CHILD_AGE * 365
    return {
        "pregnant": p.group == "mother",
        "woman": p.gender == "F" and adult,
        "adult": adult,
        "child": not adult,
        "infant": days < 365,
        "newborn": days < 90,
        "toddler": days < 3 * 365,
        "tooth": 3 * 365 <= days < CHILD_AGE * 365,  # 窝沟封闭: the permanent molars of children
        "teeth": days >= 365,
        "school": days >= 6 * 365,
    }


# Who an item may be billed to (every rule listed must hold); items not listed suit anyone.
FOR_WHOM = {
    "胎心监护": ("pregnant",), "产科B超": ("pregnant",), "口服葡萄糖耐量试验": ("pregnant",),
    "地屈孕酮片": ("woman",), "黄体酮软胶囊": ("woman",), "叶酸片": ("woman",), "宫颈上药": ("woman",),
    "HPV分型检测": ("woman",), "妇科B超": ("woman",), "乳腺B超": ("woman",),
    "多糖铁复合物胶囊": ("adult",), "碳酸钙D3片": ("adult",), "头孢克洛胶囊": ("adult",), "龈上洁治": ("adult",),
    "阿莫西林克拉维酸钾干混悬剂": ("child",), "布洛芬混悬液": ("child",), "枯草杆菌二联活菌颗粒": ("child",),
    "维生素AD滴剂": ("toddler",), "儿童髋关节B超": ("infant",), "经皮胆红素测定": ("newborn",),
    "窝沟封闭": ("tooth",), "局部涂氟": ("child", "teeth"), "口腔全景片": ("school",),
}  # fmt: skip
# Departments a patient may be seen in: by age (儿科, 新生儿, 儿童口腔 …) and sex (妇产科, 乳腺).
DEPARTMENT_FOR_WHOM = {
    "OB": ("pregnant",), "GY": ("woman",), "BR": ("woman",), "RH": ("adult",), "FP": ("woman",),
    "PD": ("child",), "CH": ("child",), "NB": ("infant",), "DN01": ("child", "teeth"), "DN02": ("adult",),
}  # fmt: skip
_PRICES = {name: (category, spec, price) for category, rows in CATALOGUE.items() for name, spec, price in rows}


def _suits(name: str, facts: dict[str, bool]) -> bool:
    return all(facts[rule] for rule in FOR_WHOM.get(name, ()))


def _sees(department_code: str, facts: dict[str, bool]) -> bool:
    rules = DEPARTMENT_FOR_WHOM.get(department_code) or DEPARTMENT_FOR_WHOM.get(department_code[:2], ())
    return all(facts[rule] for rule in rules)

# name, unit, low, high, decimals  (or qualitative: name, "", "阴性")
LAB_PANELS: dict[str, tuple[tuple[str, str, float, float, int], ...]] = {
    "血常规": (
        ("白细胞计数(WBC)", "10^9/L", 3.5, 9.5, 2),
        ("红细胞计数(RBC)", "10^12/L", 3.8, 5.1, 2),
        ("血红蛋白(HGB)", "g/L", 115, 150, 0),
        ("血小板计数(PLT)", "10^9/L", 125, 350, 0),
        ("中性粒细胞百分比", "%", 40, 75, 1),
        ("淋巴细胞百分比", "%", 20, 50, 1),
    ),
    "甲功三项": (
        ("游离三碘甲状腺原氨酸(FT3)", "pmol/L", 3.1, 6.8, 2),
        ("游离甲状腺素(FT4)", "pmol/L", 12, 22, 2),
        ("促甲状腺激素(TSH)", "mIU/L", 0.27, 4.2, 3),
    ),
    "肝功能": (
        ("丙氨酸氨基转移酶(ALT)", "U/L", 7, 40, 0),
        ("天门冬氨酸氨基转移酶(AST)", "U/L", 13, 35, 0),
        ("总胆红素(TBIL)", "μmol/L", 3.4, 21, 1),
        ("白蛋白(ALB)", "g/L", 40, 55, 1),
    ),
    "口服葡萄糖耐量试验": (
        ("空腹血糖", "mmol/L", 3.9, 5.1, 2),
        ("服糖后1小时血糖", "mmol/L", 4.0, 10.0, 2),
        ("服糖后2小时血糖", "mmol/L", 4.0, 8.5, 2),
    ),
    "C反应蛋白": (("超敏C反应蛋白(hs-CRP)", "mg/L", 0.0, 10.0, 2),),
}
URINE_ITEMS = ("尿蛋白", "尿糖", "酮体", "尿胆原", "亚硝酸盐")
EXAMS = ("产科B超", "妇科B超", "乳腺B超", "儿童髋关节B超")
WARDS = ("产科一病区", "产科二病区", "妇科病区", "儿科病区", "新生儿科病区")


@dataclass(frozen=True)
class SeedPatient:
    """A seeded patient, also used by tests to know who exists."""

    patient_id: str
    card_no: str
    name: str
    id_number: str
    gender: str
    birth_date: dt.date
    phone: str
    group: str  # mother | child | adult
    guardian_id_number: str | None = None  # children: the mother registered with the card


def _make_id_number(rng: random.Random, born: dt.date, gender: str, used: set[str]) -> str:
    while True:
        seq = rng.randint(0, 49) * 2 + (1 if gender == "M" else 0)
        first17 = f"{rng.choice(REGIONS)}{born:%Y%m%d}{rng.randint(0, 9)}{seq:02d}"
        number = first17 + id_number_check_digit(first17)
        if number not in used:
            used.add(number)
            return number


def generate_patients(count: int = 200) -> list[SeedPatient]:
    """The seeded patients, identical on every call: ~60% mothers, ~30% children, some adults."""
    rng = random.Random(SEED)
    used: set[str] = set()
    patients: list[SeedPatient] = []
    ref = PATIENT_BIRTH_REFERENCE
    for i in range(1, count + 1):
        roll = rng.random()
        surname = rng.choice(SURNAMES)
        if roll < 0.6:
            group, gender = "mother", "F"
            born = ref - dt.timedelta(days=rng.randint(20 * 365, 42 * 365))
            given = "".join(rng.sample(FEMALE_CHARS, rng.choice((1, 2))))
        elif roll < 0.9:
            group, gender = "child", rng.choice("MF")
            born = ref - dt.timedelta(days=rng.randint(20, 12 * 365))
            given = "".join(rng.sample(CHILD_CHARS, 2))
        else:
            group, gender = "adult", rng.choice("MF")
            born = ref - dt.timedelta(days=rng.randint(25 * 365, 60 * 365))
            chars = MALE_CHARS if gender == "M" else FEMALE_CHARS
            given = "".join(rng.sample(chars, rng.choice((1, 2))))
        phone = f"1{rng.choice('35789')}{rng.randint(0, 999999999):09d}"
        patients.append(
            SeedPatient(
                patient_id=f"P{i:07d}",
                card_no=f"{8800000000 + i}",
                name=surname + given,
                id_number=_make_id_number(rng, born, gender, used),
                gender=gender,
                birth_date=born,
                phone=phone,
                group=group,
            )
        )
    # Each child's guardian is the nearest mother before it in the list (no extra random draws, so
    # every other seeded value stays as it was).
    mother_id: str | None = None
    with_guardians: list[SeedPatient] = []
    for p in patients:
        if p.group == "mother":
            mother_id = p.id_number
        with_guardians.append(replace(p, guardian_id_number=mother_id) if p.group == "child" else p)
    return with_guardians


def seed(db_url: str, today: dt.date | None = None) -> dict[str, int]:
    """Create the tables and fill what is missing for ``today``; returns rows added per kind.

    Idempotent: a second call with the same ``today`` adds nothing.
    """
    today = today or hospital_now().date()
    engine = make_engine(db_url)
    added: dict[str, int] = {}
    try:
        with Session(engine) as s, s.begin():
            if s.get(Meta, "base_seeded") is None:
                added.update(_seed_base(s, today))
                s.add(Meta(key="base_seeded", value=today.isoformat()))
            added["guardians"] = _backfill_guardians(s)
            added["widened"] = _widen_half_day(s)
            added["sessions"] = _seed_sessions(s, today)
            added["demo_visits"] = _seed_demo_visits(s, today)
            added["cost_days"] = _seed_stay_costs(s, today)
            added["queue_tickets"] = _seed_queues(s, today)
    finally:
        engine.dispose()
    return added


def _backfill_guardians(s: Session) -> int:
    """A simulator database seeded before children's cards carried a guardian gets the column and
    the guardians (the same ones a fresh seed writes); a current one is left as it is."""
    from sqlalchemy import inspect, text

    columns = {c["name"] for c in inspect(s.connection()).get_columns("his_patients")}
    if "guardian_id_number" not in columns:
        s.execute(text("ALTER TABLE his_patients ADD COLUMN guardian_id_number VARCHAR(18)"))
    filled = 0
    for p in generate_patients():
        if p.guardian_id_number:
            filled += s.execute(text("UPDATE his_patients SET guardian_id_number = :g WHERE card_no = :c "
                                     "AND guardian_id_number IS NULL"),
                                {"g": p.guardian_id_number, "c": p.card_no}).rowcount or 0
    return filled


def _widen_half_day(s: Session) -> int:
    """A simulator database created when sessions were only "am"/"pm" (VARCHAR(2)) gets room for
    "evening" before the first evening session is written. SQLite does not enforce the length."""
    from sqlalchemy import inspect, text

    bind = s.connection()
    if bind.dialect.name == "sqlite":
        return 0
    column = next(c for c in inspect(bind).get_columns("his_schedules") if c["name"] == "half_day")
    if (getattr(column["type"], "length", None) or 8) >= 8:
        return 0
    if bind.dialect.name in ("mysql", "mariadb"):
        s.execute(text("ALTER TABLE his_schedules MODIFY half_day VARCHAR(8) NOT NULL"))
    else:
        s.execute(text("ALTER TABLE his_schedules ALTER COLUMN half_day TYPE VARCHAR(8)"))
    return 1


# --- base data ---------------------------------------------------------------------------------


def _seed_base(s: Session, today: dt.date) -> dict[str, int]:
    rng = random.Random(SEED + 1)
    for code, name, parent, location, description, bookable, area in DEPARTMENTS:
        s.add(
            DepartmentRow(code=code, name=name, parent_code=parent, location=location,
                          description=description, bookable=bookable, area_code=area)
        )  # fmt: skip
    for code, name, kind, prefix, location in QUEUE_AREAS:
        s.add(QueueAreaRow(area_code=code, name=name, kind=kind, prefix=prefix, location=location))
    s.flush()

    doctors = _seed_doctors(s, rng)
    patients = generate_patients()
    for p in patients:
        s.add(PatientRow(patient_id=p.patient_id, card_no=p.card_no, name=p.name,
                         id_number=p.id_number, gender=p.gender, birth_date=p.birth_date,
                         phone=p.phone, guardian_id_number=p.guardian_id_number,
                         created_at=dt.datetime(2024, 1, 1, 8, 0)))  # fmt: skip
    s.flush()
    _set_counter(s, "patient", len(patients))
    bills = _seed_bills(s, rng, patients, doctors, today)
    reports = _seed_reports(s, rng, patients, today)
    stays = _seed_stays(s, rng, patients, today)
    return {
        "departments": len(DEPARTMENTS),
        "doctors": len(doctors),
        "patients": len(patients),
        "bills": bills,
        "reports": reports,
        "stays": stays,
    }


def _set_counter(s: Session, name: str, value: int) -> None:
    row = s.get(CounterRow, name)
    if row is None:
        s.add(CounterRow(name=name, value=value))
    else:
        row.value = max(row.value, value)


def _person_name(rng: random.Random, female: bool) -> str:
    chars = FEMALE_CHARS if female else MALE_CHARS
    return rng.choice(SURNAMES) + "".join(rng.sample(chars, rng.choice((1, 2))))


def _seed_doctors(s: Session, rng: random.Random) -> list[DoctorRow]:
    doctors: list[DoctorRow] = []
    n = 0
    for dept_code, count in DOCTORS_PER_DEPT.items():
        top = dept_code[:2]
        for k in range(count):
            n += 1
            # Each department has a senior doctor first; the rest follow a realistic mix.
            title, fee = TITLES[0] if k == 0 else rng.choices(TITLES, weights=(1, 3, 4, 3))[0]
            female = top in ("OB", "GY", "BR", "RH", "FP") or rng.random() < 0.6
            minutes = {"PD": 10, "NB": 15, "DN": 30}.get(top, rng.choice((15, 20)))
            row = DoctorRow(
                code=f"D{n:03d}",
                name=_person_name(rng, female),
                department_code=dept_code,
                title=title,
                fee_fen=fee,
                specialty="、".join(rng.sample(SPECIALTIES[top], 2)),
                slice_minutes=minutes,
            )
            s.add(row)
            doctors.append(row)
    s.flush()
    return doctors


def _doctor_for(rng: random.Random, doctors: list[DoctorRow], p: SeedPatient) -> DoctorRow:
    tops = {"child": ("PD", "CH", "NB", "DN"), "mother": ("OB", "GY", "BR", "RH")}.get(
        p.group, ("GY", "BR", "DN") if p.gender == "F" else ("DN",)
    )
    return rng.choice([d for d in doctors if d.department_code[:2] in tops])


def _legacy_item_draws(rng: random.Random, group: str) -> None:
    """The draws the first seed made for a bill's items (by patient group only): still made, so the
    bills, reports and stays drawn after them stay as they were; the items now come from _bill_items."""
    wanted = {"child": ("西药", "化验", "治疗"), "mother": ("西药", "检查", "化验")}.get(
        group, ("西药", "检查", "化验", "治疗")
    )
    for category in rng.sample(wanted, rng.randint(1, len(wanted))):
        for _name, _spec, _price in rng.sample(CATALOGUE_V1[category], rng.randint(1, 2)):
            if category == "西药":
                rng.randint(1, 3)


def _plausible_doctor(drawn: DoctorRow, doctors: list[DoctorRow], facts: dict[str, bool],
                      own: random.Random) -> DoctorRow:
    """The drawn doctor if the patient may be seen there (no 新生儿科 for a 10-year-old, no 成人口腔 for a
    child), else another doctor of a department that sees the patient."""
    if _sees(drawn.department_code, facts):
        return drawn
    same_top = [d for d in doctors if d.department_code[:2] == drawn.department_code[:2]
                and _sees(d.department_code, facts)]
    return own.choice(same_top or [d for d in doctors if d.department_code[:2] in ("PD", "GY", "DN")
                                   and _sees(d.department_code, facts)])


def _bill_items(rng: random.Random, department_code: str, facts: dict[str, bool]
                ) -> list[tuple[str, str, str, int, int]]:
    """Items the department bills that suit the patient's sex and age."""
    menu = DEPARTMENT_ITEMS.get(department_code) or DEPARTMENT_ITEMS[department_code[:2]]
    names = [n for n in menu if _suits(n, facts)] or ["血常规"]
    items = []
    for name in rng.sample(names, rng.randint(1, min(3, len(names)))):
        category, spec, price = _PRICES[name]
        items.append((name, category, spec, rng.randint(1, 3) if category == "西药" else 1, price))
    return items


def _seed_bills(
    s: Session,
    rng: random.Random,
    patients: list[SeedPatient],
    doctors: list[DoctorRow],
    today: dt.date,
) -> int:
    depts = {code: name for code, name, *_ in DEPARTMENTS}
    n = 0
    for p in patients:
        if rng.random() > 0.45:
            continue
        facts = _facts(p, today)
        for _ in range(rng.randint(1, 2)):
            n += 1
            bill_no = f"B{n:09d}"
            own = random.Random(f"{SEED}:bill:{bill_no}")
            drawn = _doctor_for(rng, doctors, p)
            _legacy_item_draws(rng, p.group)
            # the same stand-in for the same drawn doctor, so a visit's bills stay one visit
            doctor = _plausible_doctor(drawn, doctors, facts, random.Random(f"{SEED}:{p.card_no}:{drawn.code}"))
            items = _bill_items(own, doctor.department_code, facts)
            created = dt.datetime.combine(
                today - dt.timedelta(days=rng.randint(0, 3)),
                dt.time(rng.randint(8, 16), rng.randint(0, 59)),
            )
            s.add(BillRow(bill_no=bill_no, card_no=p.card_no,
                          department_name=depts[doctor.department_code], doctor_name=doctor.name,
                          created_at=created, amount_fen=sum(q * pr for _, _, _, q, pr in items),
                          status="pending", refunded_fen=0))  # fmt: skip
            s.flush()
            for seq, (name, category, spec, qty, price) in enumerate(items, 1):
                s.add(BillItemRow(bill_no=bill_no, seq=seq, name=name, category=category,
                                  spec=spec, quantity=qty, unit_price_fen=price,
                                  amount_fen=qty * price))  # fmt: skip
    _set_counter(s, "bill", n)
    return n


def _lab_items(rng: random.Random, title: str) -> list[tuple[str, str, str, str, str]]:
    if title == "尿常规":
        rows = []
        for name in URINE_ITEMS:
            positive = rng.random() < 0.1
            result, flag = ("弱阳性(±)", "H") if positive else ("阴性", "")
            rows.append((name, result, "", "阴性", flag))
        return rows
    rows = []
    for name, unit, low, high, decimals in LAB_PANELS[title]:
        span = high - low
        value = rng.uniform(low, high)
        roll = rng.random()
        if roll < 0.08:
            value = low - rng.uniform(0.05, 0.3) * span
        elif roll < 0.16:
            value = high + rng.uniform(0.05, 0.3) * span
        value = max(value, 0.0)
        flag = "L" if value < low else "H" if value > high else ""
        text = f"{value:.{decimals}f}"
        rows.append((name, text, unit, f"{low:g}-{high:g}", flag))
    return rows


def _exam_text(rng: random.Random, title: str) -> tuple[str, str]:
    if title == "产科B超":
        weeks = rng.randint(12, 39)
        return (
            (f"宫内单活胎，胎心率 {rng.randint(125, 160)} 次/分，双顶径约 {weeks * 2 + 12}mm，"
            f"股骨长约 {weeks * 2 - 8}mm，羊水指数 {rng.randint(80, 180)}mm，胎盘位于子宫前壁。"),
            f"宫内妊娠，单活胎，超声孕周约 {weeks} 周 {rng.randint(0, 6)} 天。",
        )
    if title == "妇科B超":
        if rng.random() < 0.3:
            size = rng.randint(8, 30)
            return (
                f"子宫前位，肌层内见一低回声结节，大小约 {size}×{size - 3}mm，边界清。",
                "子宫肌瘤（肌壁间）。",
            )
        return ("子宫前位，大小正常，内膜厚约 8mm，双侧附件区未见明显异常回声。",
                "子宫及双附件未见明显异常。")  # fmt: skip
    if title == "乳腺B超":
        if rng.random() < 0.35:
            return (
                f"左乳 {rng.randint(1, 11)} 点钟方向见一低回声结节，大小约 6×4mm，形态规则。",
                "左乳低回声结节（BI-RADS 3 类），建议 6 个月复查。",
            )
        return ("双侧乳腺腺体结构清晰，未见明显占位。", "双侧乳腺未见明显异常（BI-RADS 1 类）。")
    if title == "腹部B超":
        return ("肝、胆、脾、胰及双肾形态大小正常，未见明显异常回声。", "腹部超声未见明显异常。")
    return ("双侧髋关节 α 角约 63°，β 角约 50°，股骨头覆盖良好。", "双侧髋关节 Graf Ia 型。")


def _seed_reports(
    s: Session, rng: random.Random, patients: list[SeedPatient], today: dt.date
) -> int:
    n = 0
    lab_titles = (*LAB_PANELS, "尿常规")
    for p in patients:
        if rng.random() > 0.55:
            continue
        for _ in range(rng.randint(1, 3)):
            n += 1
            is_lab = rng.random() < 0.65 or (p.group == "adult" and p.gender == "M")
            if is_lab:
                title = rng.choice(lab_titles)
            elif p.group == "child":
                title = "儿童髋关节B超"
            else:
                title = rng.choice(EXAMS[:3])
            days_ago = rng.choice((0, 0, 1, 1, 2, *range(3, 31)))
            requested = dt.datetime.combine(
                today - dt.timedelta(days=days_ago),
                dt.time(rng.randint(8, 16), rng.choice((0, 15, 30, 45))),
            )
            pending = days_ago <= 1 and rng.random() < 0.7  # results take a day or two
            report_id = f"RP{n:08d}"
            own = random.Random(f"{SEED}:report:{report_id}")
            facts = _facts(p, requested.date())
            findings, conclusion = ("", "") if is_lab else _exam_text(rng, title)
            hours = None if pending else rng.randint(1, 20)
            lab_rows = _lab_items(rng, title) if is_lab else []
            # What the first seed drew stays drawn (so everything after it stays as it was); what does not
            # suit the patient is redrawn on the report's own generator: the OGTT is a pregnancy screen,
            # the hip ultrasound (Graf) is for babies, an 产科B超 needs a pregnancy.
            if is_lab and not _suits(title, facts):
                title = own.choice([t for t in lab_titles if _suits(t, facts)])
                lab_rows = _lab_items(own, title)
            elif not is_lab and not _suits(title, facts):
                title = "妇科B超" if facts["woman"] else "腹部B超"
                findings, conclusion = _exam_text(own, title)
            if days_ago == 0:
                pending, hours = True, None  # requested today: not back yet
            s.add(ReportRow(report_id=report_id, card_no=p.card_no,
                            kind="lab" if is_lab else "exam", title=title,
                            department_name="检验科" if is_lab else "超声科",
                            status="pending" if pending else "ready", requested_at=requested,
                            ready_at=None if pending else requested + dt.timedelta(hours=hours),
                            findings=findings, conclusion=conclusion))  # fmt: skip
            s.flush()
            for seq, (name, result, unit, ref, flag) in enumerate(lab_rows, 1):
                s.add(ReportItemRow(report_id=report_id, seq=seq, name=name, result=result,
                                    unit=unit, reference=ref, flag=flag))  # fmt: skip
    return n


ARREARS_STAY = 7  # ZY00000007: in hospital, its deposit no longer covers its charges (补缴 is due)
ARREARS_DEPOSIT_FEN = 50000


def _seed_stays(
    s: Session, rng: random.Random, patients: list[SeedPatient], today: dt.date
) -> int:
    mothers = [p for p in patients if p.group == "mother"][:7]
    children = [p for p in patients if p.group == "child"][:4]
    n = deposits = 0
    for p in (*mothers, *children):
        n += 1
        ward = rng.choice(WARDS[:3] if p.group == "mother" else WARDS[3:])
        if ward == "新生儿科病区" and not _facts(p, today)["newborn"]:
            ward = "儿科病区"  # the 新生儿科 admits babies of their first weeks only
        admitted = dt.datetime.combine(today, dt.time(rng.randint(8, 20), rng.randint(0, 59)))
        discharged = n in (3, 9)  # two stays already discharged yesterday at 10:00
        # A discharged stay began at least the day before its discharge (never after it).
        admitted -= dt.timedelta(days=rng.randint(1, 8) + (1 if discharged else 0))
        inpatient_no = f"ZY{n:08d}"
        s.add(StayRow(inpatient_no=inpatient_no, card_no=p.card_no, ward=ward,
                      bed=f"{rng.randint(1, 40)}床", admitted_at=admitted,
                      discharged_at=dt.datetime.combine(today - dt.timedelta(days=1), dt.time(10))
                      if discharged else None,
                      status="discharged" if discharged else "in_hospital"))  # fmt: skip
        s.flush()
        for k in range(rng.randint(1, 3)):
            amount = rng.choice((100000, 200000, 300000, 500000))
            channel = rng.choice(("window", "wechat", "alipay"))
            if n == ARREARS_STAY and k:
                continue  # one ¥500.00 deposit that the stay's charges have already used up
            deposits += 1
            s.add(DepositRow(deposit_no=f"D{deposits:09d}", inpatient_no=inpatient_no,
                             amount_fen=ARREARS_DEPOSIT_FEN if n == ARREARS_STAY else amount,
                             paid_at=_deposit_time(admitted, k, today, discharged),
                             trade_no=f"SEED-DEP-{n:03d}-{k}",
                             channel=channel))  # fmt: skip
    _set_counter(s, "deposit", deposits)
    return n


def _deposit_time(admitted: dt.datetime, k: int, today: dt.date, discharged: bool) -> dt.datetime:
    """The k-th deposit: on admission, then about every 30 hours, always before the stay ended (or, in
    hospital, before 08:00 today)."""
    end = dt.datetime.combine(today - dt.timedelta(days=1), dt.time(10)) if discharged else \
        dt.datetime.combine(today, dt.time(8))
    at = min(admitted + dt.timedelta(hours=k * 30, minutes=20), admitted + (end - admitted) * (k + 1) / 4)
    return at.replace(second=0, microsecond=0)


def _stay_day_items(stay: StayRow, day: dt.date) -> list[tuple[str, str, int, int]]:
    """A day's charges of a stay, drawn from the stay and the day's place in it (its 1st, 2nd ... day),
    not from the calendar: a stay seeded on any date costs the same, so its balance never depends on
    the day the seed ran."""
    rng = random.Random(f"{stay.inpatient_no}:day{(day - stay.admitted_at.date()).days}")
    child = stay.ward in WARDS[3:]
    maternity = stay.ward in WARDS[:2]
    items = [("床位费", "床位费", 1, 6000), ("二级护理", "护理费", 1, 2400),
             ("住院诊查费", "诊查费", 1, 1000)]  # fmt: skip
    if day == stay.admitted_at.date():
        items.append(("血常规", "化验费", 1, 2000))
        if not child and rng.random() < 0.6:
            items.append(("子宫下段剖宫产术", "手术费", 1, 250000) if maternity
                         else ("腹腔镜下子宫肌瘤剔除术", "手术费", 1, 320000))
            items.append(("一次性手术包", "材料费", 1, 18000))
    drugs = (
        (("注射用头孢呋辛钠", 1850), ("葡萄糖氯化钠注射液", 560),
         ("缩宫素注射液", 320) if maternity else ("氨甲环酸注射液", 860))
        if not child
        else (("注射用阿莫西林钠", 1260), ("小儿电解质补给注射液", 890), ("布地奈德混悬液", 1340))
    )
    for name, price in rng.sample(drugs, rng.randint(1, 3)):
        items.append((name, "西药费", rng.randint(1, 3), price))
    if rng.random() < 0.3:
        treatment = ("蓝光治疗" if stay.ward == "新生儿科病区" else "雾化吸入") if child else "会阴擦洗"
        items.append((treatment, "治疗费", rng.randint(1, 2), 1500))
    return items


def _seed_stay_costs(s: Session, today: dt.date) -> int:
    """Fill daily cost lists from admission (to discharge or today) where a day has none yet."""
    added = 0
    for stay in s.scalars(select(StayRow).order_by(StayRow.inpatient_no)).all():
        added += post_stay_costs(s, stay, stay.discharged_at.date() if stay.discharged_at else today)
    s.flush()
    return added


def post_stay_costs(s: Session, stay: StayRow, last: dt.date) -> int:
    """Charge one stay's days from admission to ``last`` that have no charges yet; returns the days."""
    added = 0
    have = set(
        s.scalars(select(CostItemRow.day).where(CostItemRow.inpatient_no == stay.inpatient_no)).all()
    )
    day = stay.admitted_at.date()
    while day <= last:
        if day not in have:
            for seq, (name, category, qty, price) in enumerate(_stay_day_items(stay, day), 1):
                s.add(CostItemRow(inpatient_no=stay.inpatient_no, day=day, seq=seq, name=name,
                                  category=category, quantity=qty, unit_price_fen=price,
                                  amount_fen=qty * price))  # fmt: skip
            added += 1
        day += dt.timedelta(days=1)
    return added


# --- clinic sessions -----------------------------------------------------------------------------


def _slices(start: str, end: str, minutes: int) -> list[tuple[str, str]]:
    h, m = (int(x) for x in start.split(":"))
    eh, em = (int(x) for x in end.split(":"))
    t, stop, out = h * 60 + m, eh * 60 + em, []
    while t < stop:
        nxt = min(t + minutes, stop)
        out.append((f"{t // 60:02d}:{t % 60:02d}", f"{nxt // 60:02d}:{nxt % 60:02d}"))
        t = nxt
    return out


def _works(doctor: DoctorRow, day: dt.date, half: str) -> bool:
    """The doctor's weekly timetable: stable per doctor (3-6 half-days a week)."""
    rng = random.Random(f"timetable:{doctor.code}")
    days = 7 if doctor.department_code in WEEKEND_DEPTS else 5
    slots = [(d, h) for d in range(days) for h in ("am", "pm")]
    chosen = set(rng.sample(slots, rng.randint(3, 6)))
    return (day.weekday(), half) in chosen


def _on_evening_duty(doctor: DoctorRow, day: dt.date, rota: dict[str, list[str]]) -> bool:
    """The 夜诊 rota: the department's doctors take the evenings in turn, every day of the week."""
    team = rota.get(doctor.department_code)
    return bool(team) and team[day.toordinal() % len(team)] == doctor.code


def _session_rows(
    doctor: DoctorRow, day: dt.date, half: str, start: str, end: str
) -> tuple[dict[str, object], list[dict[str, object]]]:
    """One session and its slices, as the seed writes them; stable per schedule id."""
    schedule_id = f"S{day:%Y%m%d}{doctor.code}{half}"
    rng = random.Random(schedule_id)
    stopped = rng.random() < 0.03
    schedule: dict[str, object] = {
        "schedule_id": schedule_id, "doctor_code": doctor.code,
        "department_code": doctor.department_code, "clinic_date": day,
        "half_day": half, "fee_fen": doctor.fee_fen,
        "status": "stopped" if stopped else "open",
        "stop_reason": rng.choice(STOP_REASONS) if stopped else None,
    }  # fmt: skip
    full_session = doctor.department_code in ALWAYS_FULL or rng.random() < 0.05
    slices: list[dict[str, object]] = []
    for seq, (a, b) in enumerate(_slices(start, end, doctor.slice_minutes), 1):
        short = doctor.slice_minutes <= 10
        capacity = rng.randint(1, 2) if short else rng.randint(2, 4)
        full = full_session or rng.random() < 0.15
        slices.append({
            "slice_id": f"{schedule_id}-{seq:02d}", "schedule_id": schedule_id,
            "seq": seq, "start": a, "end": b, "capacity": capacity,
            "remaining": 0 if full else capacity,
        })  # fmt: skip
    return schedule, slices


def _seed_sessions(s: Session, today: dt.date) -> int:
    """Add the clinic sessions missing among the 14 days starting today (day sessions from each
    doctor's weekly timetable, evening sessions from the 夜诊 rota)."""
    last = today + dt.timedelta(days=DAYS_AHEAD - 1)
    existing = set(
        s.scalars(
            select(ScheduleRow.schedule_id).where(
                ScheduleRow.clinic_date >= today, ScheduleRow.clinic_date <= last
            )
        ).all()
    )
    doctors = s.scalars(select(DoctorRow).order_by(DoctorRow.code)).all()
    rota = {dept: [d.code for d in doctors if d.department_code == dept] for dept in EVENING_DEPTS}
    schedules: list[dict[str, object]] = []
    slices: list[dict[str, object]] = []
    for offset in range(DAYS_AHEAD):
        day = today + dt.timedelta(days=offset)
        for doctor in doctors:
            if doctor.department_code in NO_SESSIONS:
                continue
            for half, start, end in (*DAY_SESSIONS, EVENING_SESSION):
                schedule_id = f"S{day:%Y%m%d}{doctor.code}{half}"
                works = (_on_evening_duty(doctor, day, rota) if half == "evening"
                         else _works(doctor, day, half))
                if schedule_id in existing or not works:
                    continue
                schedule, rows = _session_rows(doctor, day, half, start, end)
                schedules.append(schedule)
                slices.extend(rows)
    if schedules:
        s.execute(insert(ScheduleRow), schedules)
        s.execute(insert(SliceRow), slices)
    return len(schedules)


# --- past registrations of the demo cards (the attendance feed) ---------------------------------

DEMO_ORDER_PREFIX = "GHDEMO"
# (patient group, days before the first seed, department, session, checked in at the 分诊台)
DEMO_VISITS = (
    ("mother", 1, "OB01", "am", True),  # 已就诊
    ("child", 2, "PD01", "evening", False),  # 爽约, at the 儿科夜诊
)


def _seed_demo_visits(s: Session, today: dt.date) -> int:
    """Once per database: past registrations of the demo cards (the first mother and the first child,
    whom the platform's demo accounts bind), one checked in and one not, so that the attendance feed
    shows both outcomes. Order numbers start with GHDEMO; the platform's demo seed books them."""
    if s.get(Meta, "demo_visits") is not None:
        return 0
    s.add(Meta(key="demo_visits", value=today.isoformat()))
    patients = generate_patients()
    doctors = s.scalars(select(DoctorRow).order_by(DoctorRow.code)).all()
    rota = {dept: [d.code for d in doctors if d.department_code == dept] for dept in EVENING_DEPTS}
    times = {half: (start, end) for half, start, end in (*DAY_SESSIONS, EVENING_SESSION)}
    added = 0
    for n, (group, back, dept_code, half, came) in enumerate(DEMO_VISITS, 1):
        card_no = next(p.card_no for p in patients if p.group == group)
        day = today - dt.timedelta(days=back)
        team = [d for d in doctors if d.department_code == dept_code
                and (half != "evening" or _on_evening_duty(d, day, rota))]  # fmt: skip
        found = _take_past_place(s, team, day, half, *times[half])
        if found is None:
            continue
        sched, slc = found
        dept = s.get(DepartmentRow, dept_code)
        area = s.get(QueueAreaRow, dept.area_code or "") if dept else None
        order_no = f"{DEMO_ORDER_PREFIX}{day:%Y%m%d}{n:02d}"
        booked_at = dt.datetime.combine(day - dt.timedelta(days=1), dt.time(20, 0))
        queue_no = f"{area.prefix if area else ''}{n:03d}"
        s.add(LockRow(lock_id=f"LDEMO{day:%Y%m%d}{n:02d}", slice_id=slc.slice_id, card_no=card_no,
                      order_no=order_no, status="confirmed", created_at=booked_at,
                      expires_at=booked_at + dt.timedelta(minutes=15), paid_fen=sched.fee_fen,
                      trade_no=f"DEMO-{order_no}", channel="wechat",
                      visit_no=f"V{day:%Y%m%d}{next_number(s, 'visit'):06d}", queue_no=queue_no,
                      location=dept.location if dept else "",
                      guidance=f"请于{day:%m月%d日} {slc.start}-{slc.end} 到{dept.location if dept else ''}"
                               f"分诊台签到，候诊号 {queue_no}"))  # fmt: skip
        s.flush()
        if came:
            hour, minute = (int(p) for p in slc.start.split(":"))
            s.add(AttendanceRow(lock_id=f"LDEMO{day:%Y%m%d}{n:02d}", source="seed",
                                attended_at=dt.datetime.combine(day, dt.time(hour, minute))
                                - dt.timedelta(minutes=10)))  # fmt: skip
        added += 1
    s.flush()
    return added


def _take_past_place(
    s: Session, team: list[DoctorRow], day: dt.date, half: str, start: str, end: str
) -> tuple[ScheduleRow, SliceRow] | None:
    """A place in one of ``team``'s sessions on a past ``day``, the session written when missing."""
    for doctor in team:
        sched = s.get(ScheduleRow, f"S{day:%Y%m%d}{doctor.code}{half}")
        if sched is None:
            schedule, slices = _session_rows(doctor, day, half, start, end)
            schedule.update(status="open", stop_reason=None)
            for row in slices:
                row["remaining"] = row["capacity"]
            s.execute(insert(ScheduleRow), [schedule])
            s.execute(insert(SliceRow), slices)
            sched = s.get(ScheduleRow, schedule["schedule_id"])
        if sched is None or sched.status != "open":
            continue
        slc = s.scalar(select(SliceRow).where(SliceRow.schedule_id == sched.schedule_id,
                                              SliceRow.remaining > 0).order_by(SliceRow.seq).limit(1))  # fmt: skip
        if slc is not None:
            slc.remaining -= 1
            return sched, slc
    return None


# --- today's queues ------------------------------------------------------------------------------


def _seed_queues(s: Session, today: dt.date) -> int:
    """Give each queue area a believable state for today, once per day."""
    key = f"queues:{today.isoformat()}"
    if s.get(Meta, key) is not None:
        return 0
    s.add(Meta(key=key, value="1"))
    rng = random.Random(f"queues:{today.isoformat()}")
    patients = generate_patients()
    groups = {
        g: [p.card_no for p in patients if p.group == g] for g in ("mother", "child", "adult")
    }
    doctors = s.scalars(select(DoctorRow).order_by(DoctorRow.code)).all()
    depts = {d.code: d for d in s.scalars(select(DepartmentRow))}
    added = 0
    for area_code, _name, kind, _prefix, _loc in QUEUE_AREAS:
        start = int(
            s.scalar(
                select(func.coalesce(func.max(QueueTicketRow.number), 0)).where(
                    QueueTicketRow.area_code == area_code, QueueTicketRow.day == today
                )
            )
            or 0
        )
        total = rng.randint(8, 25) if kind == "clinic" else rng.randint(15, 35)
        served = rng.randint(0, total // 2)
        area_doctors = [d for d in doctors if depts[d.department_code].area_code == area_code]
        pool = groups["child"] if area_code in ("PD", "CH", "NB") else groups["mother"]
        for k in range(1, total + 1):
            status = "done" if k < served else "called" if k == served else "waiting"
            if kind == "clinic" and area_doctors:
                doctor = rng.choice(area_doctors)
                dept_name, doctor_name = depts[doctor.department_code].name, doctor.name
            else:
                dept_name, doctor_name = "门诊", ""
            s.add(QueueTicketRow(area_code=area_code, day=today, number=start + k,
                                 card_no=rng.choice(pool), department_name=dept_name,
                                 doctor_name=doctor_name, status=status))  # fmt: skip
            added += 1
    s.flush()
    return added
