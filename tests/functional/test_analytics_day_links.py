"""数据分析's 挂号统计 counts a booking on the day the HIS confirmed it: a day clicked in its chart opens
预约订单 filtered by that 确认时间 (not 下单时间), so the list holds exactly the bookings the bar counts."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import func, select, update

from app import clock
from app.extensions import db
from app.models import AppointmentOrder
from app.reports import analytics
from tests.backoffice_helpers import login, month_of_orders, record_count

NOW = dt.datetime(2026, 11, 18, 10, 30)  # Beijing
DAY = dt.date(2026, 11, 15)


@pytest.fixture()
def seeded(app, clean_db):
    with month_of_orders(app, NOW):
        yield


def test_a_registrations_day_opens_the_bookings_confirmed_that_day(app, client, seeded):
    with app.app_context():
        start = clock.beijing_day_start_utc(DAY)
        # a booking ordered at 23:50 the evening before and confirmed by the HIS after midnight: counted on DAY
        late = db.session.scalar(select(AppointmentOrder.id).where(
            AppointmentOrder.confirmed_at >= start, AppointmentOrder.confirmed_at < start + dt.timedelta(days=1),
            AppointmentOrder.channel == "wechat").order_by(AppointmentOrder.id))
        assert late is not None
        db.session.execute(update(AppointmentOrder).where(AppointmentOrder.id == late).values(
            created_at=start - dt.timedelta(minutes=10), confirmed_at=start + dt.timedelta(minutes=5)))
        db.session.commit()
        data = analytics.compute(DAY, DAY, "wechat", rollups=False)
        counted = data.daily("booking_advance", "wechat")[0] + data.daily("booking_same_day", "wechat")[0]
        ordered = db.session.scalar(select(func.count()).select_from(AppointmentOrder).where(
            AppointmentOrder.created_at >= start, AppointmentOrder.created_at < start + dt.timedelta(days=1),
            AppointmentOrder.channel == "wechat"))
        assert counted > 0 and counted != ordered  # the two bases differ on this day

    login(client, "admin")
    page = client.get("/analytics/?start=2026-11-09&end=2026-11-18&channel=wechat").get_data(as_text=True)
    assert re.search(r"clickable\(draw\('chart-registrations'[^;]*'appointmentorderview', false,\s*'confirmed_at'\)",
                     page)
    d = DAY.isoformat()
    listed = client.get(f"/appointmentorderview/list/?_flt_0_confirmed_at={d}&_flt_1_confirmed_at={d}"
                        "&_flt_0_channel=wechat").get_data(as_text=True)
    assert record_count(listed) == counted
    assert "确认日期从" in listed  # the active conditions say which time the list is filtered by


def test_a_payments_day_opens_the_payments_paid_that_day(app, client, seeded):
    """费用金额 and 交易笔数 count a payment on the day it was paid: their day opens 缴费订单 by 支付时间."""
    from app.models import PaymentOrder

    with app.app_context():
        start = clock.beijing_day_start_utc(DAY)
        # an order created at 23:55 the evening before and paid after midnight: counted on DAY
        late = db.session.scalar(select(PaymentOrder.id).where(
            PaymentOrder.paid_at >= start, PaymentOrder.paid_at < start + dt.timedelta(days=1),
            PaymentOrder.channel == "wechat", PaymentOrder.kind == "registration").order_by(PaymentOrder.id))
        assert late is not None
        db.session.execute(update(PaymentOrder).where(PaymentOrder.id == late).values(
            created_at=start - dt.timedelta(minutes=5), paid_at=start + dt.timedelta(minutes=2)))
        db.session.commit()
        counted = analytics.compute(DAY, DAY, "wechat", rollups=False).daily("count_registration", "wechat")[0]
        ordered = db.session.scalar(select(func.count()).select_from(PaymentOrder).where(
            PaymentOrder.created_at >= start, PaymentOrder.created_at < start + dt.timedelta(days=1),
            PaymentOrder.channel == "wechat", PaymentOrder.kind == "registration"))
        assert counted > 0 and counted != ordered

    login(client, "admin")
    page = client.get("/analytics/?start=2026-11-09&end=2026-11-18&channel=wechat").get_data(as_text=True)
    assert re.search(r"clickable\(draw\('chart-counts'[^;]*'paymentorderview', true, 'paid_at'\)", page)
    d = DAY.isoformat()
    listed = client.get(f"/paymentorderview/list/?_flt_0_paid_at={d}&_flt_1_paid_at={d}&_flt_0_channel=wechat"
                        "&_flt_0_kind=registration").get_data(as_text=True)
    assert record_count(listed) == counted
    assert "支付日期从" in listed


def test_a_refunds_day_opens_the_refunds_that_succeeded_that_day(app, client, seeded):
    """费用金额's 退款 counts a refund on the day it succeeded: its day opens 退费记录 by 退款成功时间."""
    from app.models import PaymentOrder, Refund

    with app.app_context():
        start = clock.beijing_day_start_utc(DAY)
        refund = db.session.scalar(select(Refund).join(PaymentOrder, Refund.payment_id == PaymentOrder.id)
                                   .where(Refund.status == "success", PaymentOrder.channel == "wechat")
                                   .order_by(Refund.id))
        assert refund is not None
        # asked for the evening before, succeeded after midnight: counted on DAY, not on the day it was asked
        db.session.execute(update(Refund).where(Refund.id == refund.id).values(
            created_at=start - dt.timedelta(minutes=30), succeeded_at=start + dt.timedelta(minutes=3)))
        db.session.commit()
        data = analytics.compute(DAY, DAY, "wechat", rollups=False)
        refunded = data.daily("refund_fen", "wechat")[0]
        succeeded = db.session.execute(select(func.count(), func.sum(Refund.amount_fen))
                                       .join(PaymentOrder, Refund.payment_id == PaymentOrder.id)
                                       .where(Refund.status == "success", PaymentOrder.channel == "wechat",
                                              Refund.succeeded_at >= start,
                                              Refund.succeeded_at < start + dt.timedelta(days=1))).one()
        assert succeeded[0] >= 1 and succeeded[1] == refunded

    login(client, "admin")
    page = client.get("/analytics/?start=2026-11-09&end=2026-11-18&channel=wechat").get_data(as_text=True)
    assert "openDay('refundview', p.name, null, 'succeeded_at')" in page
    d = DAY.isoformat()
    listed = client.get(f"/refundview/list/?_flt_0_succeeded_at={d}&_flt_1_succeeded_at={d}"
                        "&_flt_0_channel=wechat").get_data(as_text=True)
    assert record_count(listed) == succeeded[0]
    assert "退款成功日期从" in listed
