"""Daily rollups: 交易统计 and 数据分析 read from them give the order tables' figures to the fen, across
days, channels, refunds and the Beijing/UTC midnight boundary, before and after rows change."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from sqlalchemy import insert, select, update

from app import clock
from app.extensions import db
from app.models import (AppointmentOrder, FollowEvent, Patient, PaymentDayRollup, PaymentOrder,
                        Refund, RollupDay)
from app.reports import analytics, rollups, statistics
from tests import factories
from tests.helpers.statements import statements_sent

TODAY = dt.date(2026, 3, 20)
FIRST = dt.date(2026, 3, 8)
NOW = dt.datetime(2026, 3, 20, 10, 0)  # Beijing wall clock
STATUSES = ("paid", "confirmed", "confirm_failed", "confirm_unknown", "refunding", "refunded",
            "partially_refunded", "closed", "created")
PAID = {"paid", "confirmed", "confirm_failed", "confirm_unknown", "refunding", "refunded", "partially_refunded"}


def _utc(day: dt.date, seconds: int) -> dt.datetime:
    """``seconds`` after 00:00 Beijing on ``day``, as the naive UTC the database stores."""
    return clock.beijing_day_start_utc(day) + dt.timedelta(seconds=seconds)


@pytest.fixture()
def now(ctx):
    clock.freeze(clock.to_utc(NOW).replace(tzinfo=dt.UTC))
    yield
    clock.reset()


@pytest.fixture()
def orders(now):
    """Two weeks of payments, refunds, bookings, follows and bindings on both channels, today included,
    with orders either side of every Beijing midnight (16:00 UTC)."""
    rnd = random.Random(16)
    owners = {c: factories.channel_user(c) for c in ("wechat", "alipay")}
    patients = {c: factories.patient(owners[c]) for c in owners}
    schedule = factories.schedule(clinic_date=TODAY, half_day="am", fee_fen=1000, slices=0)
    dept, doctor = schedule.department, schedule.doctor

    payments, refunds, bookings, follows, cards = [], [], [], [], []
    n = 0
    day = FIRST
    while day <= TODAY:
        limit = 10 * 3600 if day == TODAY else 86400  # today: only what happened before NOW
        moments = [rnd.randrange(limit) for _ in range(12)] + [0, 1]  # 00:00:00 and 00:00:01 Beijing
        if day != TODAY:
            moments += [86399, 86398]  # 23:59:59 Beijing = 15:59:59 UTC, the UTC date of the next day's start
        for second in moments:
            n += 1
            channel = rnd.choice(("wechat", "alipay"))
            status = "paid" if second in (0, 86399) else rnd.choice(STATUSES)  # money either side of midnight
            amount = rnd.choice((500, 1234, 5000, 99999, 300000))
            paid_at = _utc(day, second) if status in PAID else None
            kind = rnd.choice(("registration", "outpatient", "deposit"))
            payments.append(dict(id=n, order_no=f"P{n:020d}", kind=kind,
                                 owner_id=owners[channel].id, patient_id=patients[channel].id, channel=channel,
                                 amount_fen=amount, refunded_fen=0, description="x", status=status, paid_at=paid_at,
                                 his_attempts=0))
            if status in ("refunded", "partially_refunded", "refunding", "confirmed"):
                refund_status = "success" if status != "refunding" else rnd.choice(("processing", "failed"))
                later = min(_utc(day, second) + dt.timedelta(hours=rnd.choice((1, 9, 30, 60))), clock.utcnow())
                part = amount if status == "refunded" else amount // 3
                if status == "confirmed" and rnd.random() < 0.7:
                    continue  # most confirmed payments were never refunded; some were, partially, and back
                refunds.append(dict(refund_no=f"R{n:020d}", payment_id=n, amount_fen=part, reason="r",
                                    status=refund_status, requested_by="t", attempts=0,
                                    succeeded_at=later if refund_status == "success" else None))
            bookings.append(dict(order_no=f"A{n:020d}", owner_id=owners[channel].id, patient_id=patients[channel].id,
                                 channel=channel, schedule_id=schedule.id, slice_id=1, department_id=dept.id,
                                 doctor_id=doctor.id, clinic_date=day, half_day="am", start_time="08:00",
                                 end_time="08:30", fee_fen=rnd.choice((500, 1000, 3000)),
                                 status=rnd.choice(("booked", "visited", "cancelled")),
                                 registration_kind=rnd.choice(("advance", "same_day")),
                                 confirmed_at=_utc(day, second) if rnd.random() < 0.8 else None))
            follows.append(dict(channel=channel, channel_uid=f"u{n}", event=rnd.choice(("subscribe", "unsubscribe")),
                                at=_utc(day, second)))
            unbound = _utc(day, second) + dt.timedelta(hours=rnd.choice((2, 20, 50)))
            cards.append(dict(owner_id=owners[channel].id, name="王芳", relation="child", card_no=f"C{n:08d}",
                              is_default=False, channel=channel, status="bound", bound_at=_utc(day, second),
                              unbound_at=unbound if rnd.random() < 0.3 and unbound < clock.utcnow() else None))
        day += dt.timedelta(days=1)
    db.session.execute(insert(PaymentOrder), payments)
    db.session.execute(insert(Refund), refunds)
    db.session.execute(insert(AppointmentOrder), bookings)
    db.session.execute(insert(FollowEvent), follows)
    db.session.execute(insert(Patient), cards)
    db.session.commit()
    # a rollup holds what was committed a margin before it started; the orders above are older than that
    clock.advance(rollups.MARGIN * 2)
    return payments


def assert_same_as_order_tables(start: dt.date, end: dt.date) -> None:
    live = statistics.transaction_statistics(start, end, rollups=False)
    fast = statistics.transaction_statistics(start, end)
    # the page's groupings first: from the rollups they are summed in SQL, without the finest rows
    for dims in (("channel",), ("kind",), ("status",), ("day",), ("day", "channel"), ("channel", "kind")):
        assert fast.by(*dims) == live.by(*dims), dims
    assert fast.total == live.total
    assert statistics.daily_series(fast) == statistics.daily_series(live)
    assert fast.rows == live.rows
    for channel in (None, "wechat", "alipay"):
        fast = analytics.compute(start, end, channel)
        slow = analytics.compute(start, end, channel, rollups=False)
        for name in slow.series:
            for c in analytics.CHANNELS:
                assert fast.daily(name, c) == slow.daily(name, c), (name, c)
        assert fast.summary() == slow.summary()


def closed_days(start: dt.date, end: dt.date) -> set[dt.date]:
    return {start + dt.timedelta(days=i) for i in range((min(end, TODAY - dt.timedelta(days=1)) - start).days + 1)}


def test_rollups_give_the_order_tables_figures_to_the_fen(orders):
    rollups.build(FIRST, TODAY)  # today is skipped: it is always computed live
    assert db.session.scalar(select(db.func.max(RollupDay.day))) == TODAY - dt.timedelta(days=1)

    plan = rollups.plan(FIRST, TODAY)
    assert plan.rollup_days == closed_days(FIRST, TODAY) and plan.live_runs == [(TODAY, TODAY)]
    live = statistics.transaction_statistics(FIRST, TODAY, rollups=False)
    assert live.total.paid_fen > 0 and live.total.refund_fen > 0 and len(live.by("channel")) == 2
    assert {r.day for r in live.rows if r.refund_fen} & {TODAY}, "a refund today of an earlier payment"
    for start, end in ((FIRST, TODAY), (FIRST, FIRST), (dt.date(2026, 3, 12), dt.date(2026, 3, 15)),
                       (TODAY, TODAY), (FIRST - dt.timedelta(days=3), FIRST + dt.timedelta(days=1))):
        assert_same_as_order_tables(start, end)


def test_a_payment_counts_on_its_beijing_day_either_side_of_midnight(orders):
    day = dt.date(2026, 3, 14)
    late = db.session.scalar(select(PaymentOrder).where(PaymentOrder.paid_at == _utc(day, 86399))
                             .order_by(PaymentOrder.id).limit(1))
    early = db.session.scalar(select(PaymentOrder).where(PaymentOrder.paid_at == _utc(day + dt.timedelta(days=1), 0))
                              .order_by(PaymentOrder.id).limit(1))
    assert late.paid_at == dt.datetime(2026, 3, 14, 15, 59, 59)  # 23:59:59 Beijing on the 14th
    assert early.paid_at == dt.datetime(2026, 3, 14, 16, 0)      # 00:00:00 Beijing on the 15th, same UTC date
    rollups.build(day, day + dt.timedelta(days=1))

    def rolled(d: dt.date, p: PaymentOrder) -> int:
        return db.session.scalar(select(PaymentDayRollup.paid_fen).where(
            PaymentDayRollup.day == d, PaymentDayRollup.channel == p.channel, PaymentDayRollup.kind == p.kind,
            PaymentDayRollup.status == p.status))

    def in_tables(d: dt.date, p: PaymentOrder) -> int:
        lo, hi = clock.beijing_day_bounds_utc(d)
        return db.session.scalar(select(db.func.sum(PaymentOrder.amount_fen)).where(
            PaymentOrder.paid_at >= lo, PaymentOrder.paid_at < hi, PaymentOrder.channel == p.channel,
            PaymentOrder.kind == p.kind, PaymentOrder.status == p.status))

    assert rolled(day, late) == in_tables(day, late) and rolled(day, late) >= late.amount_fen
    assert rolled(day + dt.timedelta(days=1), early) == in_tables(day + dt.timedelta(days=1), early)
    assert_same_as_order_tables(day, day + dt.timedelta(days=1))


def test_a_day_changed_after_its_rollup_is_read_from_the_orders_until_it_is_rebuilt(app, orders):
    from app.tasks.reports import refresh_rollups, roll_up_yesterday

    rollups.build(FIRST, TODAY)
    old = dt.date(2026, 3, 11)
    lo, hi = clock.beijing_day_bounds_utc(old)
    # a payment of an earlier day refunded today (a guarded UPDATE, no ORM object), and one confirmed late
    refunded = db.session.scalar(select(PaymentOrder).where(PaymentOrder.paid_at >= lo, PaymentOrder.paid_at < hi,
                                                            PaymentOrder.status == "confirmed").limit(1))
    factories.refund(refunded, "success", refund_no="RLATE", requested_by="staff:finance")  # -> refunded
    unknown_day = db.session.scalar(select(PaymentOrder).where(PaymentOrder.status == "confirm_unknown",
                                                               PaymentOrder.paid_at < _utc(TODAY, 0)).limit(1))
    db.session.execute(update(PaymentOrder).where(PaymentOrder.id == unknown_day.id).values(status="confirmed"))
    # a card bound again today: its binding leaves an earlier day, which no row shows any more
    card = db.session.scalar(select(Patient).where(Patient.unbound_at.isnot(None), Patient.bound_at < lo).limit(1))
    card_days = {clock.beijing_date(card.bound_at), clock.beijing_date(card.unbound_at)}
    card.status, card.bound_at, card.unbound_at = "bound", clock.utcnow(), None
    # a follow event the channel reported late, on an earlier day
    db.session.add(FollowEvent(channel="alipay", channel_uid="late", event="subscribe", at=_utc(FIRST, 100)))
    db.session.commit()

    changed = {old, clock.beijing_date(unknown_day.paid_at), FIRST} | card_days
    plan = rollups.plan(FIRST, TODAY)
    assert changed <= closed_days(FIRST, TODAY) - plan.rollup_days
    assert_same_as_order_tables(FIRST, TODAY)

    clock.advance(rollups.MARGIN + dt.timedelta(minutes=8))  # the next refresh, ten minutes on
    with app.test_request_context():
        assert refresh_rollups.call_local() >= len(changed)  # and the days of those payments' other refunds
    assert rollups.plan(FIRST, TODAY).rollup_days == closed_days(FIRST, TODAY)
    assert_same_as_order_tables(FIRST, TODAY)

    # later that day: another refund of an earlier payment, then the night
    other = db.session.scalar(select(PaymentOrder).where(PaymentOrder.status == "confirmed",
                                                         PaymentOrder.paid_at < lo).limit(1))
    db.session.execute(update(PaymentOrder).where(PaymentOrder.id == other.id).values(status="refunding"))
    db.session.commit()
    assert clock.beijing_date(other.paid_at) not in rollups.plan(FIRST, TODAY).rollup_days
    assert_same_as_order_tables(FIRST, TODAY)
    clock.freeze(clock.to_utc(dt.datetime(2026, 3, 21, 0, 20)).replace(tzinfo=dt.UTC))  # the night after
    with app.test_request_context():
        assert roll_up_yesterday.call_local() >= 2  # yesterday (today until midnight) and the refunded day
    plan = rollups.plan(FIRST, TODAY)
    assert plan.rollup_days == closed_days(FIRST, TODAY) | {TODAY}
    assert_same_as_order_tables(FIRST, TODAY + dt.timedelta(days=1))


def test_rebuild_command_for_any_range(app, orders):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["rollups", "rebuild", "--from", "2026-03-09", "--to", "2026-03-12"])
    assert result.exit_code == 0, result.output
    assert "4 days rebuilt" in result.output
    assert set(db.session.scalars(select(RollupDay.day))) == {dt.date(2026, 3, 9) + dt.timedelta(days=i)
                                                              for i in range(4)}
    assert_same_as_order_tables(FIRST, TODAY)
    bad = runner.invoke(args=["rollups", "rebuild", "--from", "2026-03-12", "--to", "2026-03-09"])
    assert bad.exit_code != 0 and "--to" in bad.output


def test_the_refresh_builds_yesterday_when_the_night_has_not(orders):
    clock.freeze(clock.to_utc(dt.datetime(2026, 3, 21, 0, 10)).replace(tzinfo=dt.UTC))  # before 00:25
    run = rollups.refresh()
    assert run.days == 1 and db.session.get(RollupDay, TODAY) is not None
    assert rollups.refresh().days == 0  # nothing changed since
    assert_same_as_order_tables(TODAY - dt.timedelta(days=2), TODAY + dt.timedelta(days=1))


def _statements(action) -> int:
    """How many statements ``action`` sends to the database."""
    with statements_sent() as sent:
        action()
    return len(sent)


def test_a_view_reads_in_one_round_trip_unless_a_closed_day_changed(orders):
    rollups.build(FIRST, TODAY)
    clock.advance(rollups.MARGIN + dt.timedelta(minutes=1))
    rollups.refresh()  # a claim: the changed days are asked for in the same round trip from now on
    rollups._claim_seen.clear()
    statistics.transaction_statistics(FIRST, TODAY)  # learns the claim (and asks the changes apart once)
    assert _statements(lambda: statistics.transaction_statistics(FIRST, TODAY).by("day")) == 1
    assert _statements(lambda: analytics.compute(FIRST, TODAY)) == 1
    assert_same_as_order_tables(FIRST, TODAY)

    # a payment of an earlier day refunded now: that day from the order tables, the others from the rollups
    old = dt.date(2026, 3, 12)
    lo, hi = clock.beijing_day_bounds_utc(old)
    payment = db.session.scalar(select(PaymentOrder).where(PaymentOrder.paid_at >= lo, PaymentOrder.paid_at < hi,
                                                           PaymentOrder.status == "confirmed").limit(1))
    db.session.execute(update(PaymentOrder).where(PaymentOrder.id == payment.id).values(status="refunded"))
    db.session.commit()
    assert _statements(lambda: statistics.transaction_statistics(FIRST, TODAY).by("day")) == 2
    assert _statements(lambda: analytics.compute(FIRST, TODAY)) == 2
    assert_same_as_order_tables(FIRST, TODAY)


def test_a_claim_seen_elsewhere_is_not_trusted(orders):
    """A bound above the claim this database holds (another database, a clock moved back) is not used:
    the changed days are asked for from the claim itself, and a change after it is still seen."""
    rollups.build(FIRST, TODAY)
    clock.advance(rollups.MARGIN + dt.timedelta(minutes=1))
    rollups.refresh()
    old = dt.date(2026, 3, 13)
    lo, hi = clock.beijing_day_bounds_utc(old)
    payment = db.session.scalar(select(PaymentOrder).where(PaymentOrder.paid_at >= lo, PaymentOrder.paid_at < hi,
                                                           PaymentOrder.status == "confirmed").limit(1))
    db.session.execute(update(PaymentOrder).where(PaymentOrder.id == payment.id).values(status="refunding"))
    db.session.commit()
    rollups._claim_seen[str(db.engine.url)] = clock.utcnow() + dt.timedelta(days=30)
    assert_same_as_order_tables(FIRST, TODAY)
    assert rollups._claim_seen[str(db.engine.url)] <= clock.utcnow()


def test_today_is_read_from_its_partial_rollup_and_the_minutes_since(orders):
    """The 10-minute refresh rolls today up to a moment; a view adds the orders after it. Anything that
    changes what the partial holds (a payment of this morning refunded, a card bound again, a follow
    event recorded late) sends the view back to the order tables for today until the next refresh."""
    from app.models import RollupPartial

    rollups.build(FIRST, TODAY)
    clock.advance(rollups.MARGIN + dt.timedelta(minutes=1))
    rollups.refresh()
    partial = db.session.get(RollupPartial, TODAY)
    assert partial is not None and partial.upto == clock.utcnow() - rollups.MARGIN
    upto = partial.upto
    assert db.session.scalar(select(db.func.count()).select_from(PaymentDayRollup)
                             .where(PaymentDayRollup.day == TODAY)) > 0
    statistics.transaction_statistics(FIRST, TODAY)  # learns the claim and today's partial
    plan, _found = rollups.fetch(TODAY, TODAY, "test", lambda where: [], lambda *a: [])
    assert plan.partial == (TODAY, upto)
    assert _statements(lambda: statistics.transaction_statistics(FIRST, TODAY).by("day")) == 1
    assert_same_as_order_tables(FIRST, TODAY)
    assert_same_as_order_tables(TODAY, TODAY)

    # paid a moment ago, after the partial's moment: from the order tables, still one round trip
    factories.payment_order(factories.patient(factories.channel_user("wechat")), status="confirmed",
                            amount_fen=4321, order_no="PNOW")  # paid now
    db.session.commit()
    assert _statements(lambda: statistics.transaction_statistics(FIRST, TODAY).by("day")) == 1
    assert _statements(lambda: analytics.compute(FIRST, TODAY)) == 1
    assert_same_as_order_tables(FIRST, TODAY)

    # a payment of this morning refunded now: the partial no longer holds today
    lo, _hi = clock.beijing_day_bounds_utc(TODAY)
    morning = db.session.scalar(select(PaymentOrder).where(PaymentOrder.paid_at >= lo,
                                                           PaymentOrder.paid_at < upto,
                                                           PaymentOrder.status == "confirmed").limit(1))
    factories.refund(morning, "success", refund_no="RTODAY", requested_by="staff:finance")  # -> refunded
    db.session.commit()
    assert _statements(lambda: statistics.transaction_statistics(FIRST, TODAY).by("day")) == 2
    assert_same_as_order_tables(FIRST, TODAY)

    # the next refresh rolls today up to a later moment: one view learns it, then one round trip again
    clock.advance(dt.timedelta(minutes=10))
    rollups.refresh()
    statistics.transaction_statistics(FIRST, TODAY)
    assert _statements(lambda: statistics.transaction_statistics(FIRST, TODAY).by("day")) == 1
    assert_same_as_order_tables(FIRST, TODAY)

    # a card of this morning bound again now, and a follow event of this morning recorded late
    card = db.session.scalar(select(Patient).where(Patient.bound_at >= lo, Patient.bound_at < upto,
                                                   Patient.unbound_at.is_(None)).limit(1))
    card.bound_at = clock.utcnow()
    db.session.commit()
    assert_same_as_order_tables(FIRST, TODAY)
    clock.advance(dt.timedelta(minutes=10))
    rollups.refresh()
    assert_same_as_order_tables(FIRST, TODAY)
    db.session.add(FollowEvent(channel="wechat", channel_uid="late-today", event="subscribe", at=_utc(TODAY, 60)))
    db.session.commit()
    assert_same_as_order_tables(FIRST, TODAY)
