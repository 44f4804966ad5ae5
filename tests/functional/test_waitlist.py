"""候补 (waitlist): joining (every refusal clear, nothing changed), a freed place going to the first
waiting patient in the same transaction, the pay window and the next one when she does not pay,
leaving, the cut-off with a notice, and the guard under a race (meaningful on MariaDB)."""

from __future__ import annotations

import datetime as dt
import json
import threading

import pytest
from sqlalchemy import func, select

from app import clock
from app.extensions import db
from app.models import (
    AppointmentOrder,
    Notification,
    OutboxTask,
    PaymentOrder,
    Schedule,
    ScheduleSlice,
    WaitlistEntry,
)
from app.payments import commands as payments
from app.registration.states import LIVE
from app.registration.commands import book, cancel_by_patient
from app.services.errors import DomainError, Forbidden
from app.waitlist import commands, queries, states
from tests import factories
from tests.helpers.booking import MOTHERS, add_patient, find_slice
from tests.helpers.waitlist import fill_session


@pytest.fixture(autouse=True)
def _clock():
    clock.freeze(dt.datetime.combine(clock.today(), dt.time(10, 0)))
    yield
    clock.reset()


def _mothers(n: int, start: int = 3):
    people = []
    for i in range(n):
        owner = factories.channel_user("wechat" if i % 2 == 0 else "alipay")
        people.append((owner.id, add_patient(owner, MOTHERS[start + i]).id))
    db.session.commit()
    return people


def test_join_refusals_change_nothing(app, world):
    with app.app_context():
        slc = find_slice(min_days=2)
        schedule_id = slc.schedule_id
        with pytest.raises(DomainError) as not_full:
            commands.join(world["owner"], world["mother"], schedule_id)
        assert not_full.value.message == "该时段还有号源，请直接预约"
        held = book(world["owner"], world["mother"], slc.id)
        fill_session(schedule_id)
        with pytest.raises(DomainError) as holds:
            commands.join(world["owner"], world["mother"], schedule_id)
        assert holds.value.message == "该就诊人已预约该医生本时段，无需候补"
        with pytest.raises(Forbidden):
            commands.join(world["stranger"], world["mother"], schedule_id)
        cancel_by_patient(world["owner"], held.order.id)
        fill_session(schedule_id)
        entry = commands.join(world["owner"], world["mother"], schedule_id)
        with pytest.raises(DomainError) as twice:
            commands.join(world["owner"], world["mother"], schedule_id)
        assert twice.value.message == "该就诊人已在本时段的候补队列中"
        with pytest.raises(DomainError):
            commands.join(world["owner"], world["mother"], schedule_id, ["999999"])
        assert db.session.scalar(select(func.count()).select_from(WaitlistEntry)) == 1
        assert queries.position(entry) == 1
        commands.leave(world["owner"], entry.id)
        assert db.session.get(WaitlistEntry, entry.id).status == "left"
        with pytest.raises(Forbidden):
            commands.leave(world["stranger"], entry.id)


def test_a_freed_place_goes_to_the_first_waiting_patient_then_the_next_when_unpaid(app, live_server, world):
    # live_server: closing the unpaid order asks the (sandbox) channel first (see test_prenatal_classes)
    with app.app_context():
        slc = find_slice(min_days=2)
        schedule_id, slice_id = slc.schedule_id, slc.id
        held = book(world["owner"], world["mother"], slc.id)
        fill_session(schedule_id)
        (b_owner, b), (c_owner, c) = _mothers(2)
        first = commands.join(b_owner, b, schedule_id)
        second = commands.join(c_owner, c, schedule_id)
        capacity = db.session.get(ScheduleSlice, slice_id).capacity
        cancel_by_patient(world["owner"], held.order.id)  # frees one place
        assert db.session.get(ScheduleSlice, slice_id).booked == capacity  # never visible to anyone else
        first = db.session.get(WaitlistEntry, first.id)
        assert first.status == "offered" and first.order_id
        assert db.session.get(WaitlistEntry, second.id).status == "waiting"
        assert queries.position(db.session.get(WaitlistEntry, second.id)) == 1
        # the outbox row written with the offer made it ready after the commit (inline in tests)
        task = db.session.scalar(select(OutboxTask).where(OutboxTask.kind == "waitlist.offer"))
        assert task.status == "done" and json.loads(task.payload) == {"order_id": first.order_id}
        assert commands.process_offers() == 0  # the sweep is only the net: nothing left for it
        commands._offer_made({"order_id": first.order_id})  # the row run twice: nothing happens twice
        assert db.session.scalar(select(func.count()).select_from(PaymentOrder)
                                 .where(PaymentOrder.appointment_id == first.order_id)) == 1
        order = db.session.get(AppointmentOrder, first.order_id)
        assert order.status == "pending_payment" and order.his_lock_id and order.patient_id == b
        notice = db.session.scalar(select(Notification).where(Notification.kind == "waitlist_booked"))
        assert notice.owner_id == b_owner and "请在" in notice.body and notice.link == f"/h5/booking/orders/{order.id}"
        # she does not pay: the place goes to the next one
        clock.advance(dt.timedelta(minutes=20))
        payments.close_expired()
        assert db.session.get(WaitlistEntry, first.id).status == "expired"
        second = db.session.get(WaitlistEntry, second.id)
        assert second.status == "offered"
        commands.process_offers()
        assert db.session.get(AppointmentOrder, second.order_id).status == "pending_payment"
        assert db.session.get(ScheduleSlice, slice_id).booked == capacity
        ended = db.session.scalar(select(Notification).where(Notification.kind == "waitlist_ended"))
        assert ended.owner_id == b_owner


def test_paid_offer_becomes_booked(app, world):
    """She pays inside the window (the channel's notification applied, the HIS confirms): the entry is booked."""
    from app.services import states as order_states

    with app.app_context():
        slc = find_slice(min_days=2)
        schedule_id = slc.schedule_id
        held = book(world["owner"], world["mother"], slc.id)
        fill_session(schedule_id)
        ((b_owner, b),) = _mothers(1, start=7)
        entry = commands.join(b_owner, b, schedule_id)
        cancel_by_patient(world["owner"], held.order.id)
        commands.process_offers()
        order_id = db.session.get(WaitlistEntry, entry.id).order_id
        payment = db.session.scalar(select(PaymentOrder).where(PaymentOrder.appointment_id == order_id))
        order_states.move("payment", payment.id, "created", "paying", actor="test")
        db.session.refresh(payment)
        assert payments.apply_payment(payment, trade_no="WXTEST-WAITLIST-1", amount_fen=payment.amount_fen,
                                      paid_at=None, raw={}, actor="test")
        db.session.commit()
        payments.confirm_payment(payment.order_no)
        assert db.session.get(AppointmentOrder, order_id).status == "booked"
        commands.sweep()
        assert db.session.get(WaitlistEntry, entry.id).status == "booked"


def test_waiting_ends_at_the_cut_off_with_a_notice(app, world):
    with app.app_context():
        slc = find_slice(min_days=1)
        schedule = db.session.get(Schedule, slc.schedule_id)
        fill_session(schedule.id)
        entry = commands.join(world["owner"], world["mother"], schedule.id)
        cutoff = commands.cutoff_of(schedule.id, schedule.clinic_date, commands.waitlist_rules())
        clock.freeze(cutoff - dt.timedelta(minutes=1))
        assert commands.close_past_cutoff() == 0
        clock.freeze(cutoff)
        assert commands.close_past_cutoff() == 1
        assert db.session.get(WaitlistEntry, entry.id).status == "closed"
        assert db.session.scalar(select(func.count()).select_from(Notification)
                                 .where(Notification.kind == "waitlist_ended")) == 1
        with pytest.raises(DomainError) as late:
            commands.join(world["owner"], world["mother"], schedule.id)
        assert late.value.message == "该时段已过候补截止时间"


def test_state_table_edges():
    for source, targets in states.TRANSITIONS.items():
        for target in states.WaitlistStatus:
            assert states.allowed(source, target) == (target in targets)
    assert states.FINAL == {states.S.BOOKED, states.S.EXPIRED, states.S.LEFT, states.S.CLOSED}


def test_freed_places_under_a_race_go_to_exactly_as_many_waiting_patients(app, world):
    """Four cancellations at once free four places; six patients wait: exactly four offers, one each,
    and no slice above its capacity (the guard holds on MariaDB, where the threads really overlap)."""
    with app.app_context():
        slc = find_slice(min_days=2, min_left=1)
        schedule_id = slc.schedule_id
        slices = db.session.scalars(select(ScheduleSlice).where(ScheduleSlice.schedule_id == schedule_id)).all()
        holders = _mothers(4, start=10)
        orders = []
        for owner_id, patient_id in holders:
            free = next((s for s in slices if db.session.get(ScheduleSlice, s.id).booked <
                         db.session.get(ScheduleSlice, s.id).capacity), None)
            if free is None:
                pytest.skip("the seeded session has fewer than four places")
            orders.append((owner_id, book(owner_id, patient_id, free.id).order.id))
        fill_session(schedule_id)
        waiting = [commands.join(o, p, schedule_id).id for o, p in _mothers(6, start=20)]

    errors: list = []

    def cancel(owner_id: int, order_id: int) -> None:
        with app.app_context():
            try:
                cancel_by_patient(owner_id, order_id)
            except Exception as exc:  # noqa: BLE001 - collected for the assertion
                errors.append(exc)

    threads = [threading.Thread(target=cancel, args=o) for o in orders]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with app.app_context():
        assert not errors
        offered = db.session.scalars(select(WaitlistEntry).where(WaitlistEntry.id.in_(waiting),
                                                                 WaitlistEntry.status == "offered")).all()
        assert len(offered) == 4 and len({e.order_id for e in offered}) == 4
        for s in db.session.scalars(select(ScheduleSlice).where(ScheduleSlice.schedule_id == schedule_id)):
            live = db.session.scalar(select(func.count()).select_from(AppointmentOrder).where(
                AppointmentOrder.slice_id == s.id, AppointmentOrder.status.in_(LIVE)))
            assert s.booked <= s.capacity and live <= s.capacity
