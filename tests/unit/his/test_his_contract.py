"""The HisGateway contract, run against the simulator and against HttpHis over a real socket."""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from app import clock
from app.his import errors
from app.his.interface import (
    LOCK_MINUTES,
    Bill,
    BillItem,
    ClinicSession,
    HisGateway,
    Registration,
    SlotLock,
    TradeStatus,
)
from doubles.his.simulator import SeedPatient, SimulatorHis
from doubles.his.simulator.models import ReportRow, StayRow
from tests.helpers.his import card_with_bills, open_slice, walk_money

TITLE_FEES = {"主任医师": 5000, "副主任医师": 3000, "主治医师": 2000, "医师": 1000}


def remaining_of(his: HisGateway, session: ClinicSession, slice_id: str) -> int:
    fresh = his.list_schedules(session.clinic_date, session.clinic_date,
                               doctor_code=session.doctor_code)  # fmt: skip
    return next(s.remaining for x in fresh for s in x.slices if s.slice_id == slice_id)


# --- system, departments, doctors, schedules ------------------------------------------------------


def test_health(gateway: HisGateway) -> None:
    health = gateway.health()
    assert health.ok is True
    assert isinstance(health.server_time, dt.datetime)


def test_departments_form_a_tree(gateway: HisGateway) -> None:
    depts = gateway.list_departments()
    assert 22 <= len(depts) <= 30
    codes = {d.code for d in depts}
    assert all(d.parent_code is None or d.parent_code in codes for d in depts)
    by_name = {d.name: d for d in depts}
    for child, parent in (("产科门诊", "产科"), ("高危妊娠门诊", "产科"), ("宫颈疾病门诊", "妇科"),
                          ("儿童呼吸", "儿科"), ("儿童心理", "儿童保健")):  # fmt: skip
        assert by_name[child].parent_code == by_name[parent].code
    for name in ("新生儿科", "乳腺科", "生殖健康", "计划生育", "口腔科", "检验科", "超声科"):
        assert name in by_name
    assert by_name["检验科"].bookable is False


def test_doctors_have_titles_and_fees(gateway: HisGateway) -> None:
    doctors = gateway.list_doctors()
    assert 50 <= len(doctors) <= 70
    for d in doctors:
        assert d.fee_fen == TITLE_FEES[d.title]
    walk_money(doctors)
    obstetrics = gateway.list_doctors("OB")  # a parent includes its children
    assert obstetrics and {d.department_code for d in obstetrics} <= {"OB", "OB01", "OB02", "OB03"}
    assert len({d.department_code for d in obstetrics}) == 3
    assert gateway.list_doctors("NOPE") == ()


def test_schedules_cover_fourteen_days(gateway: HisGateway, seed_today: dt.date) -> None:
    last = seed_today + dt.timedelta(days=13)
    sessions = gateway.list_schedules(seed_today, last)
    assert {s.clinic_date for s in sessions} == {
        seed_today + dt.timedelta(days=k) for k in range(14)
    }
    assert not gateway.list_schedules(last + dt.timedelta(days=1), last + dt.timedelta(days=3))
    walk_money(sessions)
    windows = {"am": ("08:00", "12:00"), "pm": ("14:00", "17:30"), "evening": ("18:00", "21:00")}
    for s in sessions:
        assert s.half_day in windows and s.slices
        window = windows[s.half_day]
        assert s.slices[0].start == window[0] and s.slices[-1].end == window[1]
        for slc in s.slices:
            assert 0 <= slc.remaining <= slc.capacity
        if s.status == "stopped":
            assert s.stop_reason
    assert any(s.status == "stopped" for s in sessions)
    assert any(slc.remaining == 0 for s in sessions for slc in s.slices)
    # Departments deliberately without 号源, and one whose slots are all taken.
    assert gateway.list_schedules(seed_today, last, department_code="CH02") == ()
    assert gateway.list_schedules(seed_today, last, department_code="FP") == ()
    infertility = gateway.list_schedules(seed_today, last, department_code="GY03")
    assert infertility and all(x.remaining == 0 for s in infertility for x in s.slices)
    one_doctor = gateway.list_schedules(seed_today, last, doctor_code=sessions[0].doctor_code)
    assert {s.doctor_code for s in one_doctor} == {sessions[0].doctor_code}


def test_paediatrics_has_an_evening_clinic_every_day(
    gateway: HisGateway, seed_today: dt.date, patients: list[SeedPatient]
) -> None:
    """儿科夜诊: one 儿科门诊 doctor each evening, 18:00-21:00 in 10-minute slices, listed after the
    day's afternoon sessions and booked like any other (the guidance says 晚上)."""
    last = seed_today + dt.timedelta(days=13)
    evenings = [s for s in gateway.list_schedules(seed_today, last) if s.half_day == "evening"]
    assert {s.clinic_date for s in evenings} == {seed_today + dt.timedelta(days=k) for k in range(14)}
    assert {s.department_code for s in evenings} == {"PD01"}
    assert len({s.doctor_code for s in evenings}) > 1  # a rota, not one doctor every night
    assert all(len([e for e in evenings if e.clinic_date == s.clinic_date]) == 1 for s in evenings)
    for s in evenings:
        assert [(x.start, x.end) for x in s.slices][:2] == [("18:00", "18:10"), ("18:10", "18:20")]
    day = gateway.list_schedules(seed_today + dt.timedelta(days=1), seed_today + dt.timedelta(days=1),
                                 department_code="PD01")  # fmt: skip
    halves = [s.half_day for s in day]
    assert halves == sorted(halves, key=["am", "pm", "evening"].index) and halves[-1] == "evening"

    session, slc = next((s, x) for s in evenings if s.status == "open" and s.clinic_date > seed_today
                        for x in s.slices if x.remaining > 0)  # fmt: skip
    child = next(p for p in patients if p.group == "child")
    lock = gateway.lock_slot(slc.slice_id, child.card_no, "ORD-EVENING")
    reg = gateway.confirm_registration(lock.lock_id, "ORD-EVENING", session.fee_fen, "T-EVE", "wechat")
    assert f"晚上 {slc.start}-{slc.end}" in reg.guidance and "下午" not in reg.guidance


def test_schedule_range_is_checked(gateway: HisGateway, seed_today: dt.date) -> None:
    with pytest.raises(errors.InvalidRequest):
        gateway.list_schedules(seed_today, seed_today - dt.timedelta(days=1))


# --- registration ------------------------------------------------------------------------------


def test_lock_confirm_cancel_roundtrip(
    gateway: HisGateway, seed_today: dt.date, patients: list[SeedPatient]
) -> None:
    session, slc = open_slice(gateway, seed_today)
    card = patients[0].card_no
    lock = gateway.lock_slot(slc.slice_id, card, "ORD-1")
    assert isinstance(lock, SlotLock) and lock.slice_id == slc.slice_id
    assert lock.expires_at > clock.utcnow() - dt.timedelta(days=1)
    assert remaining_of(gateway, session, slc.slice_id) == slc.remaining - 1
    assert gateway.lock_slot(slc.slice_id, card, "ORD-1") == lock  # idempotent on order_no

    with pytest.raises(errors.AmountMismatch):
        gateway.confirm_registration(lock.lock_id, "ORD-1", session.fee_fen + 1, "T1", "wechat")
    with pytest.raises(errors.InvalidRequest):
        gateway.confirm_registration(lock.lock_id, "ORD-OTHER", session.fee_fen, "T1", "wechat")
    reg = gateway.confirm_registration(lock.lock_id, "ORD-1", session.fee_fen, "T1", "wechat")
    assert isinstance(reg, Registration)
    assert reg.visit_no and reg.queue_no and reg.location and reg.guidance
    assert gateway.confirm_registration(lock.lock_id, "ORD-1", session.fee_fen, "T1",
                                        "wechat") == reg  # fmt: skip
    with pytest.raises(errors.AlreadySettled):
        gateway.confirm_registration(lock.lock_id, "ORD-1", session.fee_fen, "T2", "wechat")

    gateway.cancel_registration(lock.lock_id, "ORD-1", "患者退号")
    assert remaining_of(gateway, session, slc.slice_id) == slc.remaining
    gateway.cancel_registration(lock.lock_id, "ORD-1", "患者退号")  # idempotent
    assert remaining_of(gateway, session, slc.slice_id) == slc.remaining
    with pytest.raises(errors.LockExpired):
        gateway.confirm_registration(lock.lock_id, "ORD-1", session.fee_fen, "T3", "wechat")


def test_lock_until_full_never_oversells(
    gateway: HisGateway, seed_today: dt.date, patients: list[SeedPatient]
) -> None:
    session, slc = open_slice(gateway, seed_today, min_remaining=2)
    for k in range(slc.remaining):
        gateway.lock_slot(slc.slice_id, patients[k].card_no, f"FULL-{k}")
    with pytest.raises(errors.SlotFull) as caught:
        gateway.lock_slot(slc.slice_id, patients[50].card_no, "FULL-X")
    assert caught.value.code == "slot_full"
    assert remaining_of(gateway, session, slc.slice_id) == 0


def test_concurrent_locks_never_oversell(
    gateway: HisGateway, seed_today: dt.date, patients: list[SeedPatient]
) -> None:
    session, slc = open_slice(gateway, seed_today, min_remaining=2)

    def attempt(k: int) -> str:
        try:
            gateway.lock_slot(slc.slice_id, patients[k].card_no, f"RACE-{k}")
            return "locked"
        except errors.SlotFull:
            return "full"

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(attempt, range(12)))
    assert outcomes.count("locked") == slc.remaining
    assert outcomes.count("full") == 12 - slc.remaining
    assert remaining_of(gateway, session, slc.slice_id) == 0


def test_one_card_one_number_per_session(
    gateway: HisGateway, seed_today: dt.date, patients: list[SeedPatient]
) -> None:
    session, slc = open_slice(gateway, seed_today)
    gateway.lock_slot(slc.slice_id, patients[1].card_no, "ONE-1")
    other = next((x for x in session.slices if x.slice_id != slc.slice_id and x.remaining), slc)
    with pytest.raises(errors.AlreadyBooked) as caught:
        gateway.lock_slot(other.slice_id, patients[1].card_no, "ONE-2")
    assert caught.value.code == "already_booked"


def test_lock_refusals(
    gateway: HisGateway, seed_today: dt.date, patients: list[SeedPatient]
) -> None:
    session, slc = open_slice(gateway, seed_today)
    with pytest.raises(errors.NotFound):
        gateway.lock_slot("NO-SUCH-SLICE", patients[0].card_no, "R-1")
    with pytest.raises(errors.NotFound):
        gateway.lock_slot(slc.slice_id, "0000000000", "R-2")
    stopped = gateway.stop_schedule(session.schedule_id, "医生外出会诊")
    assert stopped.status == "stopped" and stopped.stop_reason == "医生外出会诊"
    assert gateway.stop_schedule(session.schedule_id, "另一个原因").stop_reason == "医生外出会诊"
    with pytest.raises(errors.ScheduleStopped):
        gateway.lock_slot(slc.slice_id, patients[0].card_no, "R-3")
    with pytest.raises(errors.NotFound):
        gateway.stop_schedule("NO-SUCH-SCHEDULE", "x")
    with pytest.raises(errors.NotFound):
        gateway.confirm_registration("NO-SUCH-LOCK", "R", 100, "T", "wechat")


def test_locks_expire_and_free_the_slot(
    gateway: HisGateway, sim: SimulatorHis, seed_today: dt.date, patients: list[SeedPatient]
) -> None:
    session, slc = open_slice(gateway, seed_today)
    lock = gateway.lock_slot(slc.slice_id, patients[2].card_no, "EXP-1")
    real_now = sim.now
    later = real_now() + dt.timedelta(minutes=LOCK_MINUTES + 1)
    sim.now = lambda: later  # the HIS's own clock moves on (the HTTP server shares it)
    try:
        assert remaining_of(gateway, session, slc.slice_id) == slc.remaining
        with pytest.raises(errors.LockExpired):
            gateway.confirm_registration(lock.lock_id, "EXP-1", session.fee_fen, "T", "alipay")
        gateway.cancel_registration(lock.lock_id, "EXP-1", "超时")  # harmless after expiry
        assert remaining_of(gateway, session, slc.slice_id) == slc.remaining
    finally:
        sim.now = real_now


# --- attendance (签到) ---------------------------------------------------------------------------


def test_attendance_lists_confirmed_registrations_and_records_check_ins(
    gateway: HisGateway, sim: SimulatorHis, seed_today: dt.date, patients: list[SeedPatient]
) -> None:
    session, slc = open_slice(gateway, seed_today, min_remaining=4)
    day = session.clinic_date
    regs = {}
    for k, name in enumerate(("came", "stayed_away", "unpaid", "cancelled")):
        lock = gateway.lock_slot(slc.slice_id, patients[20 + k].card_no, f"ATT-{name}")
        if name != "unpaid":
            regs[name] = gateway.confirm_registration(lock.lock_id, f"ATT-{name}", session.fee_fen,
                                                      f"T-{name}", "wechat")  # fmt: skip
    gateway.cancel_registration(regs["cancelled"].lock_id, "ATT-cancelled", "患者退号")

    listed = gateway.registration_attendance(day)
    mine = [a for a in listed if a.order_no.startswith("ATT-")]
    assert [a.order_no for a in mine] == ["ATT-came", "ATT-stayed_away"]  # confirmed only, by visit no
    assert all(not a.attended and a.attended_at is None and a.clinic_date == day for a in mine)
    assert mine[0].lock_id == regs["came"].lock_id and mine[0].visit_no == regs["came"].visit_no
    assert mine[0].slice_id == slc.slice_id and mine[0].card_no == patients[20].card_no
    assert gateway.registration_attendance(day + dt.timedelta(days=30)) == ()

    with pytest.raises(errors.InvalidRequest):  # nobody checks in before the clinic day
        gateway.mark_attended(regs["came"].visit_no)
    real_now = sim.now
    hour, minute = (int(p) for p in slc.start.split(":"))
    at_triage = dt.datetime.combine(day, dt.time(hour, minute)) + dt.timedelta(minutes=1)
    sim.now = lambda: at_triage  # the HIS's own clock (the HTTP server shares it)
    try:
        came = gateway.mark_attended(regs["came"].visit_no)
        assert came.attended and came.attended_at == at_triage and came.order_no == "ATT-came"
        assert gateway.mark_attended("ATT-came", at_triage + dt.timedelta(hours=1)) == came  # first stays
        with pytest.raises(errors.InvalidRequest):  # a patient seen by the doctor cannot 退号
            gateway.cancel_registration(regs["came"].lock_id, "ATT-came", "患者退号")
        with pytest.raises(errors.InvalidRequest):  # check-in on the clinic day only
            gateway.mark_attended("ATT-stayed_away", at_triage + dt.timedelta(days=1))
        for refused in ("ATT-unpaid", "ATT-cancelled", regs["cancelled"].visit_no):
            with pytest.raises(errors.InvalidRequest):
                gateway.mark_attended(refused)
        with pytest.raises(errors.NotFound):
            gateway.mark_attended("V-NO-SUCH-VISIT")
        listed = {a.order_no: a for a in gateway.registration_attendance(day)}
        assert listed["ATT-came"].attended and listed["ATT-came"].attended_at == at_triage
        assert not listed["ATT-stayed_away"].attended and "ATT-unpaid" not in listed
        walk_money(listed)
        # entered the next morning from the paper list: the check-in is dated at the slice's start
        sim.now = lambda: at_triage + dt.timedelta(days=1)
        late = gateway.mark_attended(regs["stayed_away"].lock_id)
        assert late.attended_at == dt.datetime.combine(day, dt.time(hour, minute))
    finally:
        sim.now = real_now


# --- cards -------------------------------------------------------------------------------------


def test_verify_card(gateway: HisGateway, patients: list[SeedPatient]) -> None:
    p = patients[3]
    patient = gateway.verify_card(p.card_no, p.name, p.id_number)
    assert (patient.card_no, patient.name, patient.birth_date, patient.gender) == (
        p.card_no, p.name, p.birth_date, p.gender)  # fmt: skip
    assert gateway.verify_card(p.card_no, p.name, p.id_number.lower()) == patient
    with pytest.raises(errors.CardMismatch):
        gateway.verify_card(p.card_no, p.name + "某", p.id_number)
    with pytest.raises(errors.CardMismatch):
        gateway.verify_card(p.card_no, p.name, patients[4].id_number)
    with pytest.raises(errors.NotFound):
        gateway.verify_card("0000000000", p.name, p.id_number)


def test_verify_a_child_without_an_id_number_by_the_guardian(gateway: HisGateway,
                                                            patients: list[SeedPatient]) -> None:
    child = next(p for p in patients if p.group == "child" and p.guardian_id_number)
    patient = gateway.verify_card(child.card_no, child.name, "", guardian_id_number=child.guardian_id_number)
    assert (patient.card_no, patient.gender, patient.birth_date) == (child.card_no, child.gender, child.birth_date)
    other_mother = next(p for p in patients if p.group == "mother" and p.id_number != child.guardian_id_number)
    with pytest.raises(errors.CardMismatch):
        gateway.verify_card(child.card_no, child.name, "", guardian_id_number=other_mother.id_number)
    adult = next(p for p in patients if p.group == "adult")
    with pytest.raises(errors.CardMismatch):  # nobody registered a guardian with an adult's card
        gateway.verify_card(adult.card_no, adult.name, "", guardian_id_number=other_mother.id_number)
    with pytest.raises(errors.InvalidRequest):
        gateway.verify_card(child.card_no, child.name, "")


def test_register_card(gateway: HisGateway, patients: list[SeedPatient]) -> None:
    id_number = "441781201903050026"  # valid: 阳春市, 2019-03-05, female
    card = gateway.register_card("梁小满", id_number, "13800138000")
    assert card.created is True and card.card_no
    again = gateway.register_card("梁小满", id_number, "13800138000")
    assert again.card_no == card.card_no and again.created is False
    patient = gateway.verify_card(card.card_no, "梁小满", id_number)
    assert patient.gender == "F" and patient.birth_date == dt.date(2019, 3, 5)
    existing = gateway.register_card(patients[5].name, patients[5].id_number, patients[5].phone)
    assert existing.card_no == patients[5].card_no and existing.created is False
    with pytest.raises(errors.CardMismatch):
        gateway.register_card("别人", patients[5].id_number, patients[5].phone)
    with pytest.raises(errors.InvalidRequest):
        gateway.register_card("梁小满", "441781201903050027", "13800138000")  # bad check digit
    with pytest.raises(errors.InvalidRequest):
        gateway.register_card("梁小满", id_number, "12345")


# --- outpatient bills ----------------------------------------------------------------------------


def test_pending_bills_and_settlement(gateway: HisGateway, sim: SimulatorHis) -> None:
    card = card_with_bills(sim)
    bills = gateway.pending_bills(card)
    assert bills and all(isinstance(b, Bill) and b.card_no == card for b in bills)
    walk_money(bills)
    bill = bills[0]
    assert bill.amount_fen == sum(i.amount_fen for i in bill.items)
    assert all(i.amount_fen == i.quantity * i.unit_price_fen for i in bill.items)

    with pytest.raises(errors.AmountMismatch):
        gateway.settle_bill(bill.bill_no, bill.amount_fen - 1, "PAY-1", "wechat")
    settled = gateway.settle_bill(bill.bill_no, bill.amount_fen, "PAY-1", "wechat")
    assert settled.receipt_no and settled.amount_fen == bill.amount_fen and settled.guidance
    assert all(isinstance(g, str) and g.startswith("请") or "无需" in g for g in settled.guidance)
    assert gateway.settle_bill(bill.bill_no, bill.amount_fen, "PAY-1", "wechat") == settled
    with pytest.raises(errors.AlreadySettled):
        gateway.settle_bill(bill.bill_no, bill.amount_fen, "PAY-2", "alipay")
    assert bill.bill_no not in {b.bill_no for b in gateway.pending_bills(card)}
    with pytest.raises(errors.NotFound):
        gateway.settle_bill("NO-SUCH-BILL", 100, "PAY-3", "wechat")
    with pytest.raises(errors.NotFound):
        gateway.pending_bills("0000000000")


def test_refunds(gateway: HisGateway, patients: list[SeedPatient]) -> None:
    card = patients[6].card_no
    item = BillItem("布洛芬混悬液", "西药", "100ml:2g", 2, 1850, 3700)
    bill = gateway.add_bill(card, [item], doctor_code="D001")
    assert bill.amount_fen == 3700 and bill.doctor_name and bill.department_name
    with pytest.raises(errors.InvalidRequest):
        gateway.refund_bill(bill.bill_no, 1000, "RF-0")  # not paid yet
    gateway.settle_bill(bill.bill_no, 3700, "PAY-R", "wechat")
    part = gateway.refund_bill(bill.bill_no, 1850, "RF-1")
    assert part.amount_fen == 1850 and part.refund_no == "RF-1"
    assert gateway.refund_bill(bill.bill_no, 1850, "RF-1") == part  # idempotent
    with pytest.raises(errors.AmountMismatch):
        gateway.refund_bill(bill.bill_no, 1851, "RF-2")  # more than is left
    gateway.refund_bill(bill.bill_no, 1850, "RF-3")
    with pytest.raises(errors.AlreadySettled):
        gateway.settle_bill(bill.bill_no, 3700, "PAY-R2", "wechat")


def test_add_bill_validates_items(gateway: HisGateway, patients: list[SeedPatient]) -> None:
    with pytest.raises(errors.InvalidRequest):
        gateway.add_bill(patients[0].card_no, [BillItem("血常规", "化验", "", 1, 2000, 1999)])
    with pytest.raises(errors.InvalidRequest):
        gateway.add_bill(patients[0].card_no, [])
    with pytest.raises(errors.NotFound):
        gateway.add_bill("0000000000", [BillItem("血常规", "化验", "", 1, 2000, 2000)])


# --- queues ------------------------------------------------------------------------------------


def test_queue_counts_and_advance(gateway: HisGateway) -> None:
    areas = gateway.queue_counts()
    assert {a.kind for a in areas} == {"clinic", "lab", "exam", "pharmacy"}
    assert all(a.waiting >= 0 for a in areas)
    labs = gateway.queue_counts("lab")
    assert labs and all(a.kind == "lab" for a in labs)
    busy = next(a for a in areas if a.waiting > 0)
    after = gateway.advance_queue(busy.area_code)
    assert after.waiting == busy.waiting - 1 and after.current_no != busy.current_no
    with pytest.raises(errors.InvalidRequest):
        gateway.queue_counts("canteen")
    with pytest.raises(errors.NotFound):
        gateway.advance_queue("NOPE")


def test_settling_issues_pharmacy_ticket(
    gateway: HisGateway, patients: list[SeedPatient]
) -> None:
    card = patients[7].card_no
    before = gateway.queue_status(card)
    items = [BillItem("叶酸片", "西药", "0.4mg*31片", 1, 980, 980),
             BillItem("血常规", "化验", "五分类", 1, 2000, 2000)]  # fmt: skip
    bill = gateway.add_bill(card, items, department_code="OB01")
    assert bill in gateway.pending_bills(card)
    settled = gateway.settle_bill(bill.bill_no, 2980, "PAY-Q", "alipay")
    assert any("西药房" in g for g in settled.guidance)
    assert any("检验科" in g for g in settled.guidance)
    tickets = gateway.queue_status(card)
    assert len(tickets) == len(before) + 2
    new = [t for t in tickets if t not in before]
    assert {t.area_code for t in new} == {"PH", "LAB"}
    for t in new:
        assert t.status == "waiting" and t.queue_no and t.ahead_count >= 0
    with pytest.raises(errors.NotFound):
        gateway.queue_status("0000000000")


# --- reports -----------------------------------------------------------------------------------


def _reports(sim: SimulatorHis, kind: str, status: str) -> ReportRow:
    with sim.unit() as s:
        row = s.scalars(
            select(ReportRow)
            .where(ReportRow.kind == kind, ReportRow.status == status)
            .order_by(ReportRow.report_id)
        ).first()
        assert row is not None
        return row


def test_reports(gateway: HisGateway, sim: SimulatorHis) -> None:
    lab = _reports(sim, "lab", "ready")
    summaries = gateway.list_reports(lab.card_no)
    assert lab.report_id in {r.report_id for r in summaries}
    report = gateway.get_report(lab.report_id, lab.card_no)
    assert report.kind == "lab" and report.status == "ready" and report.items
    assert all(i.flag in ("", "H", "L") and i.name for i in report.items)

    exam = _reports(sim, "exam", "ready")
    report = gateway.get_report(exam.report_id, exam.card_no)
    assert report.findings and report.conclusion and not report.items

    pending = _reports(sim, "lab", "pending")
    report = gateway.get_report(pending.report_id, pending.card_no)
    assert report.status == "pending" and report.ready_at is None and not report.items
    ready = gateway.mark_report_ready(pending.report_id)
    assert ready.status == "ready" and ready.ready_at is not None
    assert gateway.mark_report_ready(pending.report_id) == ready
    assert gateway.get_report(pending.report_id, pending.card_no).items


def test_report_of_another_card_is_refused(
    gateway: HisGateway, sim: SimulatorHis, patients: list[SeedPatient]
) -> None:
    lab = _reports(sim, "lab", "ready")
    stranger = next(p.card_no for p in patients if p.card_no != lab.card_no)
    with pytest.raises(errors.NotFound):
        gateway.get_report(lab.report_id, stranger)
    with pytest.raises(errors.NotFound):
        gateway.get_report("NO-SUCH-REPORT", lab.card_no)


# --- inpatients --------------------------------------------------------------------------------


def _stay(sim: SimulatorHis, status: str) -> StayRow:
    with sim.unit() as s:
        row = s.scalars(select(StayRow).where(StayRow.status == status)).first()
        assert row is not None
        return row


def test_inpatient_stay_and_costs(
    gateway: HisGateway, sim: SimulatorHis, seed_today: dt.date, patients: list[SeedPatient]
) -> None:
    with sim.unit() as s:
        assert 8 <= s.scalar(select(func.count()).select_from(StayRow)) <= 14
    row = _stay(sim, "in_hospital")
    stay = gateway.inpatient_stay(row.card_no)
    assert stay is not None and stay.inpatient_no == row.inpatient_no and stay.name
    walk_money(stay)
    deposits = gateway.deposit_records(stay.inpatient_no)
    assert deposits and sum(d.amount_fen for d in deposits) == stay.deposit_total_fen
    summary = gateway.total_cost(stay.inpatient_no)
    assert summary.total_fen == stay.total_cost_fen == sum(summary.by_category.values())
    assert summary.balance_fen == summary.deposit_fen - summary.total_fen == stay.balance_fen
    assert "床位费" in summary.by_category
    days = (seed_today - stay.admitted_at.date()).days + 1
    lists = [gateway.daily_costs(stay.inpatient_no, stay.admitted_at.date() + dt.timedelta(d))
             for d in range(days)]  # fmt: skip
    assert sum(x.total_fen for x in lists) == summary.total_fen
    assert all(x.total_fen == sum(i.amount_fen for i in x.items) for x in lists)
    empty = gateway.daily_costs(stay.inpatient_no, seed_today + dt.timedelta(days=30))
    assert empty.items == () and empty.total_fen == 0

    outpatient = next(p for p in patients if p.card_no not in _stay_cards(sim))
    assert gateway.inpatient_stay(outpatient.card_no) is None
    with pytest.raises(errors.NotFound):
        gateway.total_cost("ZY-NOPE")


def _stay_cards(sim: SimulatorHis) -> set[str]:
    with sim.unit() as s:
        return set(s.scalars(select(StayRow.card_no)))


def test_pay_deposit_is_idempotent(gateway: HisGateway, sim: SimulatorHis) -> None:
    row = _stay(sim, "in_hospital")
    before = gateway.inpatient_stay(row.card_no)
    assert before is not None
    record = gateway.pay_deposit(row.inpatient_no, 200000, "DEP-TRADE-1", "wechat")
    assert record.amount_fen == 200000 and record.deposit_no and record.channel == "wechat"
    assert gateway.pay_deposit(row.inpatient_no, 200000, "DEP-TRADE-1", "wechat") == record
    with pytest.raises(errors.AmountMismatch):
        gateway.pay_deposit(row.inpatient_no, 300000, "DEP-TRADE-1", "wechat")
    after = gateway.inpatient_stay(row.card_no)
    assert after is not None
    assert after.deposit_total_fen == before.deposit_total_fen + 200000
    assert after.balance_fen == before.balance_fen + 200000
    assert record in gateway.deposit_records(row.inpatient_no)
    with pytest.raises(errors.InvalidRequest):
        gateway.pay_deposit(row.inpatient_no, 0, "DEP-TRADE-2", "wechat")
    gone = _stay(sim, "discharged")
    with pytest.raises(errors.InvalidRequest):
        gateway.pay_deposit(gone.inpatient_no, 100000, "DEP-TRADE-3", "wechat")
    with pytest.raises(errors.NotFound):
        gateway.pay_deposit("ZY-NOPE", 100000, "DEP-TRADE-4", "wechat")


def test_errors_carry_stable_codes(gateway: HisGateway, patients: list[SeedPatient]) -> None:
    with pytest.raises(errors.HisBusinessError) as caught:
        gateway.verify_card("0000000000", "x", patients[0].id_number)
    assert caught.value.code == "not_found" and caught.value.message


# --- payment trades and lost answers (issue 14) ------------------------------------------------------


def test_trade_status_of_an_unknown_trade_is_a_definite_no(gateway: HisGateway) -> None:
    status = gateway.trade_status("4200000000000000NEVER")
    assert status == TradeStatus("4200000000000000NEVER", False, 0, ())


def test_trade_status_follows_a_registration_from_confirmed_to_cancelled(
    gateway: HisGateway, seed_today: dt.date, patients: list[SeedPatient]
) -> None:
    session, slc = open_slice(gateway, seed_today)
    lock = gateway.lock_slot(slc.slice_id, patients[3].card_no, "TS-REG-1")
    assert not gateway.trade_status("TS-TRADE-1").applied  # locked, not paid: nothing applied
    reg = gateway.confirm_registration(lock.lock_id, "TS-REG-1", session.fee_fen, "TS-TRADE-1", "wechat")
    status = gateway.trade_status("TS-TRADE-1")
    assert status.applied and status.applied_fen == session.fee_fen
    (record,) = status.records
    assert (record.kind, record.ref, record.receipt_no, record.status) == (
        "registration", lock.lock_id, reg.visit_no, "applied")
    gateway.cancel_registration(lock.lock_id, "TS-REG-1", "退号")
    status = gateway.trade_status("TS-TRADE-1")
    assert not status.applied and status.records[0].status == "reversed"


def test_trade_status_of_settled_bills_and_a_credited_deposit(
    gateway: HisGateway, sim: SimulatorHis, patients: list[SeedPatient]
) -> None:
    card = patients[6].card_no
    one = gateway.add_bill(card, [BillItem("叶酸片", "西药", "0.4mg", 1, 1200, 1200)], doctor_code="D001")
    two = gateway.add_bill(card, [BillItem("血常规", "化验", "", 1, 2000, 2000)], doctor_code="D001")
    gateway.settle_bill(one.bill_no, 1200, "TS-BILLS", "alipay")
    settled = gateway.settle_bill(two.bill_no, 2000, "TS-BILLS", "alipay")
    status = gateway.trade_status("TS-BILLS")
    assert status.applied and status.applied_fen == 3200
    assert [(r.kind, r.ref) for r in status.records] == [("bill", one.bill_no), ("bill", two.bill_no)]
    assert status.records[1].receipt_no == settled.receipt_no and status.records[1].applied_at is not None
    walk_money(status)
    row = _stay(sim, "in_hospital")
    record = gateway.pay_deposit(row.inpatient_no, 50000, "TS-DEP", "wechat")
    status = gateway.trade_status("TS-DEP")
    assert status.applied and status.records[0].receipt_no == record.deposit_no and status.applied_fen == 50000


def test_release_lock_by_order_number_frees_a_lock_whose_answer_was_lost(
    gateway: HisGateway, seed_today: dt.date, patients: list[SeedPatient]
) -> None:
    session, slc = open_slice(gateway, seed_today)
    gateway.lock_slot(slc.slice_id, patients[4].card_no, "LOST-1")  # the platform never saw the answer
    assert remaining_of(gateway, session, slc.slice_id) == slc.remaining - 1
    gateway.release_lock("LOST-1", "锁号应答丢失")
    assert remaining_of(gateway, session, slc.slice_id) == slc.remaining
    gateway.release_lock("LOST-1", "锁号应答丢失")  # idempotent
    gateway.release_lock("NEVER-LOCKED", "x")  # nothing held: no error
    assert remaining_of(gateway, session, slc.slice_id) == slc.remaining
    again = gateway.lock_slot(slc.slice_id, patients[4].card_no, "LOST-2")  # the patient's retry
    reg = gateway.confirm_registration(again.lock_id, "LOST-2", session.fee_fen, "LOST-T", "wechat")
    gateway.release_lock("LOST-2", "x")  # a confirmed registration is left alone
    assert gateway.trade_status("LOST-T").applied and reg.visit_no
