"""The HIS contract grown for mothers and children: 诊前签到, 儿保 records and 财政电子票据, on the
simulator and on HttpHis over a real socket. The clock is set by each test."""

from __future__ import annotations

import datetime as dt

import pytest

from app import clock
from app.his import errors
from app.his.interface import CheckIn, ChildCheck, HisGateway, Invoice
from doubles.his.simulator import SeedPatient
from tests.helpers.his import card_with_bills, open_slice, walk_money


@pytest.fixture(autouse=True)
def _reset_clock():
    yield
    clock.reset()


def test_check_in_on_the_clinic_day_gives_the_queue_number(gateway: HisGateway, seed_today: dt.date,
                                                           patients: list[SeedPatient]) -> None:
    session, slc = open_slice(gateway, seed_today)
    lock = gateway.lock_slot(slc.slice_id, patients[0].card_no, "ORD-CI")
    reg = gateway.confirm_registration(lock.lock_id, "ORD-CI", session.fee_fen, "T-CI", "wechat")
    with pytest.raises(errors.InvalidRequest):  # the day before: not yet
        gateway.check_in(lock.lock_id, "ORD-CI")
    clock.freeze(dt.datetime.combine(session.clinic_date, dt.time(7, 45)))
    with pytest.raises(errors.NotFound):
        gateway.check_in(lock.lock_id, "ORD-OTHER")
    done = gateway.check_in(lock.lock_id, "ORD-CI")
    assert isinstance(done, CheckIn)
    assert done.queue_no == reg.queue_no and done.visit_no == reg.visit_no and done.location
    assert done.checked_in_at == dt.datetime.combine(session.clinic_date, dt.time(7, 45))
    clock.advance(dt.timedelta(minutes=5))
    assert gateway.check_in(lock.lock_id, "ORD-CI") == done  # idempotent: the first check-in stays
    attended = {a.lock_id: a for a in gateway.registration_attendance(session.clinic_date)}
    assert attended[lock.lock_id].attended


def test_check_in_refuses_an_unconfirmed_lock(gateway: HisGateway, seed_today: dt.date,
                                              patients: list[SeedPatient]) -> None:
    session, slc = open_slice(gateway, seed_today)
    lock = gateway.lock_slot(slc.slice_id, patients[1].card_no, "ORD-CI2")
    clock.freeze(dt.datetime.combine(session.clinic_date, dt.time(8, 0)))
    with pytest.raises(errors.InvalidRequest):
        gateway.check_in(lock.lock_id, "ORD-CI2")


def test_child_health_records_follow_the_birth_date(gateway: HisGateway, patients: list[SeedPatient]) -> None:
    child = next(p for p in patients if p.group == "child" and (dt.date(2026, 1, 1) - p.birth_date).days > 800)
    clock.freeze(child.birth_date + dt.timedelta(days=400))  # 13 months old: 新生儿访视 … 12 月龄
    records = gateway.child_health_records(child.card_no)
    assert [r.age_label for r in records] == ["新生儿访视", "满月（42 天）", "3 月龄", "6 月龄", "8 月龄", "12 月龄"]
    assert all(isinstance(r, ChildCheck) and r.check_date < clock.today() for r in records)
    assert [r.check_date for r in records] == sorted(r.check_date for r in records)
    assert 600 < records[-1].height_mm < 850 and 7000 < records[-1].weight_g < 12000
    assert gateway.child_health_records(child.card_no) == records  # stable per card
    with pytest.raises(errors.NotFound):
        gateway.child_health_records("0000000000")


def test_invoice_for_a_registration_is_issued_once_and_voided_by_a_refund(
        gateway: HisGateway, seed_today: dt.date, patients: list[SeedPatient]) -> None:
    session, slc = open_slice(gateway, seed_today)
    lock = gateway.lock_slot(slc.slice_id, patients[2].card_no, "ORD-INV")
    gateway.confirm_registration(lock.lock_id, "ORD-INV", session.fee_fen, "TRADE-INV-1", "wechat")
    invoice = gateway.invoice("TRADE-INV-1")
    assert isinstance(invoice, Invoice) and invoice.kind == "registration" and invoice.status == "issued"
    assert len(invoice.invoice_code) == 8 and invoice.invoice_code.isdigit()
    assert len(invoice.invoice_no) == 10 and invoice.invoice_no.isdigit() and len(invoice.check_code) == 6
    assert invoice.payer == patients[2].name and invoice.payee
    assert invoice.total_fen == session.fee_fen == sum(i.amount_fen for i in invoice.items)
    assert invoice.invoice_no in invoice.qr_text and invoice.check_code in invoice.qr_text
    walk_money(invoice)
    assert gateway.invoice("TRADE-INV-1") == invoice  # the same numbers on every call
    gateway.cancel_registration(lock.lock_id, "ORD-INV", "退号")
    voided = gateway.invoice("TRADE-INV-1")
    assert voided.status == "voided" and voided.invoice_no == invoice.invoice_no
    with pytest.raises(errors.NotFound):
        gateway.invoice("NO-SUCH-TRADE")


def test_invoice_for_settled_bills_lists_charges_by_category(gateway: HisGateway, sim) -> None:
    card = card_with_bills(sim)
    bill = gateway.pending_bills(card)[0]
    gateway.settle_bill(bill.bill_no, bill.amount_fen, "TRADE-BILL-1", "alipay")
    invoice = gateway.invoice("TRADE-BILL-1")
    assert invoice.kind == "outpatient" and invoice.total_fen == bill.amount_fen
    assert all(i.name.endswith("费") for i in invoice.items)
