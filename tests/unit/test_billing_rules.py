"""The small rules under 门诊缴费 and 住院服务: yuan parsing, quiet hours, visits, 导诊 mapping, the HIS
refund body, and the demo account."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from app.extensions import db
from app.his.interface import Bill, BillItem
from app.models import ChannelUser, GuidanceRule, Patient
from app.billing import bills as billing
from app.services.money import parse_yuan
from app.services.settings import in_window


@pytest.mark.parametrize("text, fen", [("100", 10000), ("99.5", 9950), ("0.01", 1), (" 12.30 ", 1230),
                                       ("-1", None), ("1,000", None), ("1.234", None), ("", None),
                                       ("１００．５", 10050), ("١٠", None), ("1e3", None), (None, None)])
def test_parse_yuan_without_floating_point(text, fen):
    assert parse_yuan(text) == fen


@pytest.mark.parametrize("moment, window, inside", [
    ("23:00", ("22:00", "08:00"), True), ("07:59", ("22:00", "08:00"), True), ("08:00", ("22:00", "08:00"), False),
    ("12:00", ("22:00", "08:00"), False), ("11:00", ("10:00", "12:00"), True), ("12:00", ("10:00", "12:00"), False),
    ("03:00", ("00:00", "00:00"), False),
])
def test_quiet_hours_window_wraps_midnight(moment, window, inside):
    t = dt.time.fromisoformat
    assert in_window(t(moment), (t(window[0]), t(window[1]))) is inside


def _bill(no: str, day: int, dept: str = "产科门诊", doctor: str = "钟雪", fen: int = 100) -> Bill:
    return Bill(no, "8800000001", dept, doctor, dt.datetime(2026, 11, day, 9), fen,
                (BillItem("叶酸片", "西药", "0.4mg", 1, fen, fen),))


def test_bills_group_by_day_department_and_doctor_newest_visit_first():
    visits = billing.group_by_visit([_bill("B1", 24), _bill("B2", 25), _bill("B3", 24, fen=250),
                                     _bill("B4", 24, doctor="李慧")])
    assert [[b.bill_no for b in v.bills] for v in visits] == [["B2"], ["B1", "B3"], ["B4"]]
    totals = {tuple(b.bill_no for b in v.bills): v.total_fen for v in visits}
    assert totals[("B1", "B3")] == 350 and visits[0].day == dt.date(2026, 11, 25)


def test_guidance_rules_match_category_keyword_or_both(ctx):
    db.session.add_all([
        GuidanceRule(sort=3, match_category="检查", guidance="超声检查请到二楼"),
        GuidanceRule(sort=1, match_keyword="葡萄糖", guidance="需空腹"),
        GuidanceRule(sort=2, match_category="化验", match_keyword="血常规", guidance="一楼采血"),
        GuidanceRule(sort=4, guidance="什么都不匹配"),
        GuidanceRule(sort=5, match_category="化验", match_keyword="尿", guidance="留取尿样"),
    ])
    db.session.commit()
    lines = billing.rule_guidance([("口服葡萄糖耐量试验", "化验"), ("血常规", "化验"), ("产科B超", "检查")])
    assert lines == ["需空腹", "一楼采血", "超声检查请到二楼"]
    assert billing.rule_guidance([("叶酸片", "西药")]) == []


@pytest.mark.parametrize("payload", [
    {"request_no": "R" * 49, "bill_no": "B1"},
    {"request_no": "R1", "bill_no": ""},
    {"request_no": "R1", "bill_no": "B1", "amount_fen": True},
    {"request_no": "R1", "bill_no": "B1", "amount_fen": 0},
    {"request_no": "R1", "bill_no": "B1", "reason": "x" * 201},
    {"request_no": "R1", "bill_no": "B1", "items": [{"item_seq": "1", "quantity": 1}]},
])
def test_refund_request_body_is_validated(payload):
    with pytest.raises(billing.HisRefundRefused) as refused:
        billing.parse_refund_request(payload)
    assert refused.value.code == "invalid_request" and refused.value.status == 400


def test_refund_request_items_are_normalised():
    req = billing.parse_refund_request({"request_no": "HIS_1-a", "bill_no": " B1 ",
                                        "items": [{"item_seq": 2, "quantity": 1}, {"item_seq": 1, "quantity": 3}]})
    assert req.items == ((1, 3), (2, 1)) and req.bill_no == "B1" and req.reason == "医院发起退费"


def test_demo_seed_leaves_a_patient_with_pending_bills_and_a_stay(app, ctx, his):
    from doubles.demo.hospital import seed_demo
    from doubles.demo.bills import DEMO_UID

    seed_demo()
    seed_demo()
    users = db.session.scalars(select(ChannelUser).where(ChannelUser.channel_uid == DEMO_UID)).all()
    assert len(users) == 1
    (patient,) = db.session.scalars(select(Patient).where(Patient.owner_id == users[0].id)).all()
    assert his.pending_bills(patient.card_no)
    assert his.inpatient_stay(patient.card_no).status == "in_hospital"
    assert db.session.scalar(select(db.func.count()).select_from(GuidanceRule)) == 3
