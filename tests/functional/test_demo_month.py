"""The demo month is coherent (issue 13 #15): 数据分析, the order lists and 交易统计 show the same figures
for it, bookings carry confirmed_at, and the month's followers and card bindings exist."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from app import clock
from app.extensions import db
from app.models import (AppointmentOrder, ChannelUser, FollowEvent, MessagePush, Notification, Patient, PaymentOrder,
                        Refund, StateTransition)
from app.backoffice import orders
from app.payments.states import MONEY_TAKEN
from app.reports import analytics, statistics
from doubles.demo.backoffice import ACCOUNT_PREFIX, FAN_PREFIX, NAMES
from tests.backoffice_helpers import seed_staff_and_orders

DAYS = 12
NOW = dt.datetime(2026, 12, 1, 0, 30)  # Beijing, just after midnight: the UTC date is still 30 November


@pytest.fixture(params=[False, True], ids=["live", "rollups"])
def month(app, clean_db, request):
    clock.freeze(NOW)
    try:
        seed_staff_and_orders(app, days=DAYS, per_day=10)
        with app.app_context():
            last = clock.today() - dt.timedelta(days=1)
            first = clock.today() - dt.timedelta(days=DAYS)
            if request.param:  # the nightly rollups hold the closed days: the figures must not change
                from app.reports import rollups

                rollups.build(first, last)
                db.session.commit()
            yield first, last
    finally:
        clock.reset()


def _listed(order_type: str, model, first: dt.date, last: dt.date, **criteria) -> list:
    """The rows the back-office list shows for these filters (the list and its export use this)."""
    stmt = orders.where(select(model), order_type, {"created_from": first.isoformat(),
                                                     "created_to": last.isoformat(), **criteria})
    return list(db.session.scalars(stmt))


def test_analytics_agree_with_the_order_lists_and_transaction_statistics(app, month):
    first, last = month
    figures = analytics.compute(first, last).summary()
    stats = statistics.transaction_statistics(first, last)
    booked = [o for o in _listed("appointment", AppointmentOrder, first, last) if o.status != "expired"]
    assert booked and not [(o.order_no, o.status) for o in booked if o.confirmed_at is None]
    assert figures["booking_advance"]["all"] + figures["booking_same_day"]["all"] == len(booked)
    assert figures["booking_same_day"]["all"] == sum(o.registration_kind == "same_day" for o in booked) > 0
    assert figures["booking_advance"]["all"] > 0
    for kind in ("registration", "outpatient", "deposit"):
        paid = [p for p in _listed("payment", PaymentOrder, first, last, kind=kind)
                if p.status in MONEY_TAKEN]
        in_stats = [r for r in stats.by("kind", "status") if r.kind == kind and r.status in MONEY_TAKEN]
        assert figures[f"count_{kind}"]["all"] == len(paid) == sum(r.paid_count for r in in_stats), kind
        assert figures[f"amount_{kind}_fen"]["all"] == sum(p.amount_fen for p in paid) == \
            sum(r.paid_fen for r in in_stats), kind
        for channel in ("wechat", "alipay"):
            assert figures[f"amount_{kind}_fen"][channel] == sum(p.amount_fen for p in paid if p.channel == channel)
    assert figures["refund_fen"]["all"] == stats.total.refund_fen > 0


def test_the_month_has_its_followers_and_bindings_and_orders_move_after_them(app, month):
    first, last = month
    figures = analytics.compute(first, last).summary()
    start, end = clock.beijing_day_bounds_utc(first, last)
    first_order = db.session.scalar(select(func.min(StateTransition.at)).where(
        StateTransition.actor.like("patient:%")))
    ordering = list(db.session.scalars(select(ChannelUser).where(
        ChannelUser.channel_uid.in_([f"{ACCOUNT_PREFIX}{i}" for i in range(len(NAMES))]))))
    assert len(ordering) == len(NAMES) and all(start <= a.created_at < first_order for a in ordering)
    # the month's other followers: some every day, some bind a card, some leave again; none orders
    fans = list(db.session.scalars(select(ChannelUser).where(ChannelUser.channel_uid.startswith(FAN_PREFIX))))
    every_day = {first + dt.timedelta(days=i) for i in range(1, (last - first).days + 1)}
    assert every_day <= {clock.to_beijing(f.created_at).date() for f in fans}
    assert not db.session.scalar(select(func.count(PaymentOrder.id)).where(
        PaymentOrder.owner_id.in_([f.id for f in fans])))
    follows = db.session.scalar(select(func.count(FollowEvent.id)).where(
        FollowEvent.event == "subscribe", FollowEvent.at >= start, FollowEvent.at < end))
    binds = db.session.scalar(select(func.count(Patient.id)).where(Patient.bound_at >= start, Patient.bound_at < end))
    assert figures["follow"]["all"] == follows == len(NAMES) + len([f for f in fans if f.created_at < end])
    assert figures["bind"]["all"] == binds > len(NAMES)
    unbinds = db.session.scalar(select(func.count(Patient.id)).where(Patient.unbound_at >= start,
                                                                     Patient.unbound_at < end))
    assert figures["unfollow"]["all"] > 0 and figures["unbind"]["all"] == unbinds


#: the back-office lists that show the newest id first, and the moment each row happened
LISTED_BY_ID = {"payment_order": (PaymentOrder, PaymentOrder.created_at),
                "appointment_order": (AppointmentOrder, AppointmentOrder.created_at),
                "refund": (Refund, Refund.created_at), "notification": (Notification, Notification.created_at),
                "message_push": (MessagePush, MessagePush.at), "patient": (Patient, Patient.bound_at)}


@pytest.fixture()
def demo_seeded_as_make_run(app, clean_db, his):
    """``flask demo seed`` as ``make run`` runs it: the month of orders, today's and the worklist's."""
    old = app.config.get("DEMO_BACKOFFICE_ORDERS")
    app.config["DEMO_BACKOFFICE_ORDERS"] = True
    yield
    app.config["DEMO_BACKOFFICE_ORDERS"] = old
    clock.reset()


@pytest.mark.parametrize("when", ["a morning", "the simulator's seed day"])
def test_the_demo_ids_grow_with_time_as_in_production(app, demo_seeded_as_make_run, when):
    """预约订单, 缴费订单, 退费记录, 就诊人 … list the newest id first: in the demo, as in production, a larger id is
    never an earlier order, so the list reads newest first by 下单时间 too. On the day the simulator was seeded
    the demo cards' past visits (GHDEMO…) are booked as well; a morning puts the worklist's orders of
    yesterday among the month's."""
    from doubles.demo.hospital import seed_demo

    day = dt.date(2026, 11, 28) if when == "a morning" else clock.today()
    clock.freeze(dt.datetime.combine(day, dt.time(9, 40)))
    with app.app_context():
        seed_demo()
        visits = db.session.scalar(select(func.count(AppointmentOrder.id))
                                   .where(AppointmentOrder.order_no.startswith("GHDEMO")))
        assert visits == (0 if when == "a morning" else 2)
        for table, (model, at) in LISTED_BY_ID.items():
            rows = db.session.execute(select(model.id, at).order_by(model.id)).all()
            assert rows, table
            earlier = [(a.id, str(a[1]), b.id, str(b[1])) for a, b in zip(rows, rows[1:], strict=False)
                       if b[1] < a[1]]
            assert not earlier, (table, len(earlier), earlier[:5])


def test_every_demo_payment_holds_exactly_what_its_refunds_hold(app, demo_seeded_as_make_run):
    """已退款 (``refunded_fen``) is what the payment's refunds hold: in flight (requested, processing,
    abnormal) or paid out. The demo's in-flight refunds once held nothing, and when the channel closed one
    the release showed 已退款 -50.00 on 缴费订单."""
    from app.models import Refund
    from app.payments.states import REFUND_IN_FLIGHT, RefundStatus
    from doubles.demo.hospital import seed_demo

    clock.freeze(dt.datetime(2026, 11, 28, 9, 40))
    with app.app_context():
        seed_demo()
        holding = (*REFUND_IN_FLIGHT, RefundStatus.SUCCESS)
        held = dict(db.session.execute(select(Refund.payment_id, func.sum(Refund.amount_fen))
                                       .where(Refund.status.in_(holding)).group_by(Refund.payment_id)).all())
        wrong = [(p.order_no, p.status, p.refunded_fen, held.get(p.id, 0))
                 for p in db.session.scalars(select(PaymentOrder)) if p.refunded_fen != held.get(p.id, 0)]
        assert not wrong, wrong


def test_the_demo_names_who_took_each_step(app, demo_seeded_as_make_run):
    """订单全链路 of a demo order said the patient made the HIS refuse the payment (患者账号 6 on 已支付 → 确认失败):
    the channel's, the HIS's and the platform's steps are theirs, the patient's are the patient's."""
    from doubles.demo.hospital import seed_demo

    clock.freeze(dt.datetime(2026, 11, 28, 9, 40))
    with app.app_context():
        seed_demo()
        moves = db.session.execute(select(StateTransition.order_type, StateTransition.to_status,
                                          StateTransition.actor)).all()
        not_the_patients = {("payment", "paid"), ("payment", "confirmed"), ("payment", "confirm_failed"),
                            ("payment", "confirm_unknown"), ("appointment", "booked"), ("appointment", "failed")}
        wrong = {(t, s, a) for t, s, a in moves if (t, s) in not_the_patients and a.startswith("patient:")}
        assert not wrong, sorted(wrong)[:5]
        assert any(a.startswith("patient:") for t, s, a in moves if (t, s) == ("payment", "paying"))


def test_the_demo_refunds_in_flight_are_known_to_the_sandbox_channel(app, demo_seeded_as_make_run, sandbox):
    """``make run``: the refund sweep asks the channel about the demo's refunds in flight. The sandbox did not know
    their payments, so each one was sent again, refused (订单不存在) and shown on the worklist as 退款失败 within a
    minute. Known to it, a refund the channel is processing completes, one it holds as 退款异常 stays for finance,
    and one never sent is sent and completes: none fails."""
    from app.payments import commands as payments
    from app.payments.states import REFUND_IN_FLIGHT
    from doubles.demo.hospital import seed_demo

    clock.freeze(dt.datetime(2026, 11, 28, 9, 40))
    with app.app_context():
        seed_demo()
        in_flight = dict(db.session.execute(select(Refund.refund_no, Refund.status)
                                            .where(Refund.status.in_(REFUND_IN_FLIGHT))).all())
        assert {"requested", "processing", "abnormal"} <= set(in_flight.values()), in_flight
    for _ in range(3):  # the sweeps of the next hours
        clock.advance(dt.timedelta(minutes=40))
        with app.app_context():
            payments.sweep_refunds(older_than_s=60)
            db.session.remove()
    with app.app_context():
        after = dict(db.session.execute(select(Refund.refund_no, Refund.status)
                                        .where(Refund.refund_no.in_(in_flight))).all())
    failed = {no: before for no, before in in_flight.items() if after[no] == "failed"}
    assert not failed, failed
    assert {after[no] for no, before in in_flight.items() if before == "abnormal"} == {"abnormal"}
    assert {after[no] for no, before in in_flight.items() if before != "abnormal"} <= {"processing", "success"}


@pytest.mark.parametrize("when", ["a morning", "the simulator's seed day"])
def test_no_demo_booking_is_left_booked_for_staff_after_its_day(app, demo_seeded_as_make_run, when):
    """Yesterday's demo bookings stayed 已预约 after their day: the attendance sweep asked the HIS, which does not
    know the month's orders, and left each one booked for staff (a warning per order at every ``make run``). The
    month's visits are over by their evening's sweep, yesterday's too; only the HIS's own can be asked."""
    from app.registration.commands import sweep_attendance
    from doubles.demo.hospital import seed_demo

    day = dt.date(2026, 11, 28) if when == "a morning" else clock.today()
    clock.freeze(dt.datetime.combine(day, dt.time(9, 40)))
    with app.app_context():
        seed_demo()
        assert sweep_attendance().unknown == []
        over = db.session.scalars(select(AppointmentOrder.order_no).where(
            AppointmentOrder.status == "booked", AppointmentOrder.clinic_date < clock.today())).all()
        assert over == []


def test_the_demo_failed_refunds_can_be_retried(app, demo_seeded_as_make_run, sandbox):
    """退款失败 on finance's worklist leads to 重试. The sandbox did not know the demo's failed refunds' payments, so
    every 重试 in the demo answered 支付渠道暂时不可用. Known to it, the retry goes to the channel and is taken."""
    from app.payments import commands as payments
    from doubles.demo.hospital import seed_demo

    clock.freeze(dt.datetime(2026, 11, 28, 9, 40))
    with app.app_context():
        seed_demo()
        failed = list(db.session.scalars(select(Refund.refund_no).where(Refund.status == "failed")))
        assert failed
        for refund_no in failed:
            again = payments.retry_refund(refund_no, "staff:finance")
            assert again.status in ("requested", "processing", "success"), (refund_no, again.status)


def test_the_demo_money_states_are_ones_the_payment_machine_reaches(app, demo_seeded_as_make_run):
    """A refund once asked moves its payment to 退费中 (request_refund does): the demo had a 确认失败 payment with its
    refund in flight, which stayed 确认失败 with 已退款 50.00 once the refund succeeded, on finance's worklist
    (缴费确认失败，待退费) for good. Every payment with a refund in flight is 退费中, and the refunds and the amounts
    held on each payment agree."""
    from app.payments.states import REFUND_IN_FLIGHT
    from doubles.demo.hospital import seed_demo

    clock.freeze(dt.datetime(2026, 11, 28, 9, 40))
    with app.app_context():
        seed_demo()
        in_flight = db.session.execute(
            select(PaymentOrder.order_no, PaymentOrder.status).join(Refund, Refund.payment_id == PaymentOrder.id)
            .where(Refund.status.in_(REFUND_IN_FLIGHT))).all()
        assert in_flight and {status for _no, status in in_flight} == {"refunding"}, in_flight


def test_the_demo_refunds_are_asked_for_after_the_payment(app, demo_seeded_as_make_run):
    """退费记录's 申请时间 of the month's refunds was the order's 下单时间: a refund asked for two minutes before the
    patient paid, and hours before the booking it refunds was cancelled."""
    from doubles.demo.hospital import seed_demo

    clock.freeze(dt.datetime(2026, 11, 28, 9, 40))
    with app.app_context():
        seed_demo()
        early = db.session.execute(
            select(Refund.refund_no, Refund.created_at, PaymentOrder.paid_at)
            .join(PaymentOrder, Refund.payment_id == PaymentOrder.id)
            .where(Refund.created_at < PaymentOrder.paid_at)).all()
        assert not early, early[:3]
        before_cancel = db.session.execute(
            select(Refund.refund_no).join(PaymentOrder, Refund.payment_id == PaymentOrder.id)
            .join(AppointmentOrder, PaymentOrder.appointment_id == AppointmentOrder.id)
            .where(AppointmentOrder.cancelled_at.is_not(None), Refund.created_at < AppointmentOrder.cancelled_at)).all()
        assert not before_cancel, before_cancel[:3]


def test_the_demo_payments_read_as_the_hospital_made_them(app, demo_seeded_as_make_run):
    """对账差异详情 showed the month's 已确认 payments beside 收据号 —, and 退费记录 gave 取消预约 as the reason for
    refunds of 门诊缴费 and 住院押金: a payment the HIS confirmed has its receipt, a refund a reason of its kind."""
    from doubles.demo.hospital import seed_demo

    clock.freeze(dt.datetime(2026, 11, 28, 9, 40))
    with app.app_context():
        seed_demo()
        no_receipt = db.session.scalars(select(PaymentOrder.order_no).where(
            PaymentOrder.status == "confirmed", PaymentOrder.his_receipt_no.is_(None))).all()
        assert not no_receipt, no_receipt[:5]
        odd = db.session.execute(select(PaymentOrder.kind, Refund.reason)
                                 .join(Refund, Refund.payment_id == PaymentOrder.id)
                                 .where(PaymentOrder.kind != "registration", Refund.reason == "取消预约")).all()
        assert not odd, odd[:5]
