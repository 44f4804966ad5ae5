"""An unfiltered order list on a large MariaDB table shows 约 N 笔 (the id span) instead of counting every
row and summing a 合计 over it; any filter brings back the exact count and the exact 合计 (issue 16 #11)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import func, select

from app import clock
from app.admin import fast_lists
from app.extensions import db
from app.models import AppointmentOrder, PaymentOrder, Refund
from tests.backoffice_helpers import login, month_of_orders, record_count

NOW = dt.datetime(2026, 11, 18, 10, 30)  # Beijing

LISTS = {"/paymentorderview/list/": PaymentOrder, "/appointmentorderview/list/": AppointmentOrder,
         "/refundview/list/": Refund}


@pytest.fixture()
def orders_seeded(app, clean_db):
    with month_of_orders(app, NOW):
        yield


def _span(app, model) -> int:
    with app.app_context():
        low, high = db.session.execute(select(func.min(model.id), func.max(model.id))).one()
        return high - low + 1


def _exact(app, model, *where) -> int:
    with app.app_context():
        return db.session.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


@pytest.mark.parametrize("url", sorted(LISTS))
def test_an_unfiltered_list_is_estimated_only_on_mariadb_and_a_large_table(app, client, orders_seeded,
                                                                            monkeypatch, url):
    model = LISTS[url]
    login(client, "admin")
    page = client.get(url).get_data(as_text=True)  # the threshold: these few rows are counted exactly
    assert record_count(page) == _exact(app, model) and 'data-test="count-estimated"' not in page
    assert 'data-test="total-row"' in page

    monkeypatch.setattr(fast_lists, "ESTIMATE_FROM", 0)  # as if the table were large
    page = client.get(url).get_data(as_text=True)
    with app.app_context():
        mariadb = db.engine.dialect.name == "mysql"
    if not mariadb:  # SQLite counts exactly, whatever the size
        assert record_count(page) == _exact(app, model) and 'data-test="count-estimated"' not in page
        assert 'data-test="total-row"' in page
        return
    span = _span(app, model)
    assert span >= _exact(app, model)  # never below the true count: the pager reaches every row
    assert record_count(page) == span
    assert f"共约 {span:,} 笔" in page
    assert 'data-test="total-row"' not in page and 'data-test="totals"' not in page  # no 合计 of every row


@pytest.mark.parametrize("forced", [None, 10_000_000])
def test_a_filtered_list_keeps_the_exact_count_and_total(app, client, orders_seeded, monkeypatch, forced):
    """Even with the threshold at 0 and (``forced``) an estimate standing by, any filter counts exactly."""
    monkeypatch.setattr(fast_lists, "ESTIMATE_FROM", 0)
    if forced is not None:
        monkeypatch.setattr(fast_lists.EstimatedCountInterface, "id_span", lambda self: forced)
    login(client, "finance")
    start = clock.beijing_day_start_utc(dt.date(2026, 11, 12))
    end = clock.beijing_day_start_utc(dt.date(2026, 11, 17))
    url = "/paymentorderview/list/?_flt_0_created_at=2026-11-12&_flt_1_created_at=2026-11-16"
    page = client.get(url).get_data(as_text=True)
    where = (PaymentOrder.created_at >= start, PaymentOrder.created_at < end)
    count = _exact(app, PaymentOrder, *where)
    with app.app_context():
        amount = db.session.execute(select(func.sum(PaymentOrder.amount_fen)).where(*where)).scalar_one()
    assert 0 < count < _exact(app, PaymentOrder)
    assert record_count(page) == count and 'data-test="count-estimated"' not in page
    assert f"合计（全部 {count:,} 笔）" in page
    assert re.search(r'data-test="total-amount_fen">([\d,.]+)<', page).group(1) == f"{amount / 100:,.2f}"

    page = client.get("/paymentorderview/list/?_flt_0_channel=wechat").get_data(as_text=True)
    assert record_count(page) == _exact(app, PaymentOrder, PaymentOrder.channel == "wechat")


def test_the_estimate_is_shown_as_one_and_the_total_left_out(app, client, orders_seeded, monkeypatch):
    """On any database: an estimate (here forced) is said as 约 N 笔, with no 合计 summed over every row."""
    monkeypatch.setattr(fast_lists.EstimatedCountInterface, "id_span", lambda self: 1_234_567)
    login(client, "finance")
    page = client.get("/paymentorderview/list/").get_data(as_text=True)
    assert record_count(page) == 1_234_567
    assert "共约 1,234,567 笔（估计值）" in page
    assert 'data-test="total-row"' not in page and 'data-test="totals"' not in page
    with app.app_context():  # the same rows as before: the newest first
        newest = db.session.execute(select(PaymentOrder.order_no).order_by(PaymentOrder.id.desc())).first()[0]
    assert newest in page


def test_the_id_span_is_read_only_on_mariadb(app, orders_seeded):
    with app.app_context():
        span = fast_lists.EstimatedCountInterface(PaymentOrder).id_span()
        if db.engine.dialect.name == "mysql":
            assert span == _span(app, PaymentOrder)
        else:
            assert span is None


@pytest.mark.parametrize("url, model, condition, where", [
    ("/paymentorderview/list/?_flt_0_channel=wechat", PaymentOrder, "channel", PaymentOrder.channel == "wechat"),
    ("/appointmentorderview/list/?_flt_0_channel=wechat", AppointmentOrder, "channel",
     AppointmentOrder.channel == "wechat"),
])
def test_a_list_narrowed_without_a_date_counts_only_up_to_the_limit(app, client, orders_seeded, monkeypatch,
                                                                    url, model, condition, where):
    """渠道 alone selects half a year's orders: above ``COUNT_UP_TO`` the page says 超过 N 笔, shows no
    figure that is not exact and no 合计; at or below it the count and 合计 are exact (any database)."""
    login(client, "admin")
    matching = _exact(app, model, where)
    assert matching > 3
    monkeypatch.setattr(fast_lists, "COUNT_UP_TO", matching)  # exactly at the limit: exact, with 合计
    page = client.get(url).get_data(as_text=True)
    assert record_count(page) == matching and 'data-test="count-capped"' not in page
    assert f"合计（全部 {matching:,} 笔）" in page and 'data-test="totals"' in page

    monkeypatch.setattr(fast_lists, "COUNT_UP_TO", 3)  # more rows match than it counts
    page = client.get(url).get_data(as_text=True)
    assert 'data-test="record-count-capped"' in page and "超过 3" in page
    assert not re.search(r"记录数目:</strong>\s*\d", page)  # never a count that is not exact
    assert "符合条件的超过 3 笔" in page and 'data-test="count-capped"' in page
    assert 'data-test="total-row"' not in page and 'data-test="totals"' not in page and "合计（全部" not in page
    with app.app_context():  # the same rows as before: the newest first
        newest = db.session.execute(select(model.order_no).where(where).order_by(model.id.desc())).first()[0]
    assert newest in page

    dated = f"{url}&_flt_0_created_at=2026-11-09&_flt_1_created_at=2026-11-18"  # a date range: exact again
    page = client.get(dated).get_data(as_text=True)
    start, end = clock.beijing_day_start_utc(dt.date(2026, 11, 9)), clock.beijing_day_start_utc(dt.date(2026, 11, 19))
    count = _exact(app, model, where, model.created_at >= start, model.created_at < end)
    assert count > 3 and record_count(page) == count and 'data-test="count-capped"' not in page
    assert f"合计（全部 {count:,} 笔）" in page


def test_a_date_that_cannot_be_read_is_no_date_range(app, client, orders_seeded, monkeypatch):
    """A 下单时间 the list cannot read narrows nothing: the count stays capped, never the whole channel summed."""
    monkeypatch.setattr(fast_lists, "COUNT_UP_TO", 3)
    login(client, "finance")
    page = client.get("/paymentorderview/list/?_flt_0_channel=wechat&_flt_0_created_at=not-a-day"
                      ).get_data(as_text=True)
    assert 'data-test="count-capped"' in page and 'data-test="totals"' not in page

