"""Finance opens 交易统计 and 数据分析 at 1440 px while the closed days come from the daily rollups and
one of them changed after its rollup: the page shows the order tables' figures to the fen."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import func, select

from app import clock
from app.extensions import db
from app.models import PaymentOrder
from app.reports import rollups
from tests import factories
from tests.browser.conftest import shot


def _fen(text: str) -> int:
    return int(Decimal(text.strip().replace(",", "")) * 100)


def test_statistics_from_rollups_show_the_orders_figures(browser, live_server, browser_mode, app):
    today = clock.today()
    first = today - dt.timedelta(days=6)
    try:
        _check_pages(browser, live_server, app, today, first)
    finally:
        clock.reset()


def _check_pages(browser, live_server, app, today: dt.date, first: dt.date) -> None:
    from doubles.demo.hospital import seed_demo

    with app.app_context():
        seed_demo()
        owner = factories.channel_user("wechat")
        patient = factories.patient(owner)
        for i in range(14):
            day = first + dt.timedelta(days=i // 2)
            factories.payment_order(patient, kind=("outpatient", "deposit")[i % 2], status="confirmed",
                                    amount_fen=12345 + i * 1001, order_no=f"MZR{i:019d}",
                                    channel=("wechat", "alipay")[i % 3 == 0],
                                    paid_at=clock.beijing_day_start_utc(day) + dt.timedelta(hours=1 + i))
        db.session.commit()
        # the rollups are built a while after these orders (they hold what is older than their margin)
        clock.travel(clock.now() + rollups.MARGIN + dt.timedelta(minutes=1))
        rollups.build(first - dt.timedelta(days=1), today)
        # after the rollups: a payment of an earlier day refunded now (its day is read from the orders)
        late = db.session.scalar(select(PaymentOrder).where(PaymentOrder.order_no == "MZR0000000000000000002"))
        factories.refund(late, "success", refund_no="TKR0000000000000000001")  # all of it: refunded
        db.session.commit()
        lo, hi = clock.beijing_day_bounds_utc(first, today)
        paid = db.session.scalar(select(func.sum(PaymentOrder.amount_fen)).where(
            PaymentOrder.paid_at >= lo, PaymentOrder.paid_at < hi))
        plan = rollups.plan(first, today)
        assert plan.rollup_days and clock.beijing_date(late.paid_at) not in plan.rollup_days

    context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(15000)
    try:
        page.goto(f"{live_server}/login/")
        page.fill("input[name=username]", "finance")
        page.fill("input[name=password]", "finance123")
        page.click("input[type=submit], button[type=submit]")
        page.goto(f"{live_server}/statistics/?start={first.isoformat()}&end={today.isoformat()}")
        assert _fen(page.locator("[data-test=total-paid]").inner_text()) == paid
        assert _fen(page.locator("[data-test=total-refund]").inner_text()) == late.amount_fen
        assert _fen(page.locator("[data-test=total-net]").inner_text()) == paid - late.amount_fen
        shot(page, "backoffice_statistics_rollups")
        page.goto(f"{live_server}/analytics/?start={first.isoformat()}&end={today.isoformat()}")
        for chart in ("amounts", "counts"):
            page.wait_for_selector(f"#chart-{chart} canvas")
        shot(page, "backoffice_analytics_rollups")
    finally:
        context.close()
