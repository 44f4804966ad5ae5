"""Every state machine: each allowed edge moves once, each refused edge raises, a lost race changes nothing."""

from __future__ import annotations

import pytest

from app.extensions import db
from app.models import PaymentOrder, StateTransition
from app.services import states
from tests import factories

ALL = {name: sorted(set(table) | {t for nxt in table.values() for t in nxt})
       for name, (_, table) in states.MACHINES.items()}


@pytest.mark.parametrize("machine", sorted(states.MACHINES))
def test_table_is_closed_and_every_state_reachable(machine):
    _, table = states.MACHINES[machine]
    targets = {t for nxt in table.values() for t in nxt}
    assert targets <= set(table), "every target has its own row"
    starts = {"payment": "created", "refund": "requested", "appointment": "holding"}
    assert set(table) - targets <= {starts[machine]}, "only the start state is unreachable"


@pytest.mark.parametrize("machine,src,dst", [(m, a, b) for m, states_ in ALL.items() for a in states_ for b in states_])
def test_allowed_matches_the_table(machine, src, dst):
    _, table = states.MACHINES[machine]
    assert states.allowed(machine, src, dst) == (dst in table.get(src, set()))


def _payment(status: str) -> PaymentOrder:
    owner = factories.channel_user()
    patient = factories.patient(owner)
    order = PaymentOrder(order_no=f"MZT{owner.id:010d}{status[:4]}", kind="outpatient", owner_id=owner.id,
                         patient_id=patient.id, channel="wechat", amount_fen=1000, description="t", status=status)
    db.session.add(order)
    db.session.flush()
    return order


@pytest.mark.parametrize("src,dst", [(a, b) for a, nxt in states.PAYMENT.items() for b in sorted(nxt)])
def test_every_allowed_payment_edge_moves_once_and_is_recorded(ctx, src, dst):
    order = _payment(src)
    assert states.move("payment", order.id, src, dst, actor="test", reason="walk")
    assert db.session.get(PaymentOrder, order.id).status == dst
    assert not states.move("payment", order.id, src, dst, actor="test"), "a second identical move changes nothing"
    rows = db.session.query(StateTransition).filter_by(order_type="payment", order_id=order.id).all()
    assert [(r.from_status, r.to_status, r.actor) for r in rows] == [(src, dst, "test")]


@pytest.mark.parametrize("src,dst", [(a, b) for a in states.PAYMENT for b in states.PAYMENT
                                     if b not in states.PAYMENT[a]])
def test_every_refused_payment_edge_raises(ctx, src, dst):
    order = _payment(src)
    with pytest.raises(states.IllegalTransition):
        states.move("payment", order.id, src, dst, actor="test")
    assert db.session.get(PaymentOrder, order.id).status == src


def _appointment(status: str):
    from app.models import AppointmentOrder, Department, Doctor, Schedule, ScheduleSlice

    owner = factories.channel_user()
    patient = factories.patient(owner)
    dept = Department(code=f"T{owner.id}", name="产科")
    db.session.add(dept)
    db.session.flush()
    doctor = Doctor(code=f"D{owner.id}", name="李医生", department_id=dept.id, fee_fen=1000)
    db.session.add(doctor)
    db.session.flush()
    import datetime as dt

    sched = Schedule(his_schedule_id=f"S{owner.id}", doctor_id=doctor.id, department_id=dept.id,
                     clinic_date=dt.date(2026, 12, 1), half_day="am", fee_fen=1000)
    db.session.add(sched)
    db.session.flush()
    slc = ScheduleSlice(schedule_id=sched.id, his_slice_id=f"SL{owner.id}", start_time="08:00", end_time="08:30",
                        capacity=2, booked=1)
    db.session.add(slc)
    db.session.flush()
    order = AppointmentOrder(order_no=f"YYT{owner.id:010d}{status[:4]}", owner_id=owner.id, patient_id=patient.id,
                             channel="wechat", schedule_id=sched.id, slice_id=slc.id, department_id=dept.id,
                             doctor_id=doctor.id, clinic_date=sched.clinic_date, half_day="am", start_time="08:00",
                             end_time="08:30", fee_fen=1000, status=status)
    db.session.add(order)
    db.session.flush()
    return order


@pytest.mark.parametrize("src,dst", [(a, b) for a, nxt in states.APPOINTMENT.items() for b in sorted(nxt)])
def test_every_allowed_appointment_edge_moves_once_and_is_recorded(ctx, src, dst):
    from app.models import AppointmentOrder

    order = _appointment(src)
    assert states.move("appointment", order.id, src, dst, actor="test", reason="walk")
    assert db.session.get(AppointmentOrder, order.id).status == dst
    assert not states.move("appointment", order.id, src, dst, actor="test")
    rows = db.session.query(StateTransition).filter_by(order_type="appointment", order_id=order.id).all()
    assert [(r.from_status, r.to_status) for r in rows] == [(src, dst)]


@pytest.mark.parametrize("src,dst", [(a, b) for a in states.APPOINTMENT for b in states.APPOINTMENT
                                     if b not in states.APPOINTMENT[a]])
def test_every_refused_appointment_edge_raises(ctx, src, dst):
    from app.models import AppointmentOrder

    order = _appointment(src)
    with pytest.raises(states.IllegalTransition):
        states.move("appointment", order.id, src, dst, actor="test")
    assert db.session.get(AppointmentOrder, order.id).status == src
