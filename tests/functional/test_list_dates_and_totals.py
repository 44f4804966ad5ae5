"""Every back-office list with a date offers 今天/昨天/本周/本月/上月 and a custom range for EACH of its date
filters (下单时间 and 就诊日期 on bookings), a wrong date is a Chinese message (never silently dropped), and
money lists end with a 合计 row summed over every filtered row, not just the page (issue 16 #4)."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import AppointmentOrder, AuditLog, PaymentOrder
from tests.backoffice_helpers import login, month_of_orders

NOW = dt.datetime(2026, 11, 18, 0, 30)  # Beijing, just after midnight: the UTC date is still the 17th

#: list -> its date filters (column: what staff call it)
DATED_LISTS = {
    "/appointmentorderview/list/": ("created_at", "clinic_date"),
    "/paymentorderview/list/": ("created_at",),
    "/refundview/list/": ("created_at",),
    "/notificationview/list/": ("created_at",),
    "/messagepushview/list/": ("at",),
    "/followeventview/list/": ("at",),
    "/surveyresponseview/list/": ("created_at",),
    "/auditlogview/list/": ("at",),
    "/exportjobview/list/": ("created_at",),
    "/reconciliationitemview/list/": ("bill_date",),
    "/reconciliationrunview/list/": ("bill_date",),
}


@pytest.fixture()
def month(app, clean_db):
    with month_of_orders(app, NOW):
        yield


def _presets(page: str, column: str) -> dict[str, str]:
    block = re.search(rf'data-test="dates-{column}"(.*?)</form>', page, re.S).group(1)
    return {key: url.replace("&amp;", "&") for url, key in
            re.findall(r'href="([^"]+)" data-test="preset-([a-z_]+)"', block)}


@pytest.mark.parametrize("url", sorted(DATED_LISTS))
def test_every_dated_list_offers_presets_and_a_custom_range_and_says_a_wrong_date(client, month, url):
    login(client, "admin")
    page = client.get(url).get_data(as_text=True)
    for column in DATED_LISTS[url]:
        links = _presets(page, column)
        assert set(links) == {"today", "yesterday", "this_week", "this_month", "last_month"}, (url, column)
        assert f"_flt_0_{column}=2026-10-01" in links["last_month"] and f"_flt_1_{column}=2026-10-31" in \
            links["last_month"]
        assert f"_flt_0_{column}=2026-11-18" in links["today"]  # Beijing's day, not UTC's 17th
        custom = re.search(rf'data-test="custom-{column}"(.*?)</form>', page, re.S).group(1)
        assert f'name="_flt_0_{column}"' in custom and f'name="_flt_1_{column}"' in custom
        bad = client.get(f"{url}?_flt_0_{column}=2026-02-30").get_data(as_text=True)
        assert "“2026-02-30”不是有效日期" in bad and bad.count("此条件未生效") == 1, (url, column)


def test_bookings_filter_by_clinic_day_with_its_own_presets(app, client, month):
    login(client, "service")
    page = client.get("/appointmentorderview/list/").get_data(as_text=True)
    yesterday = _presets(page, "clinic_date")["yesterday"]
    assert "_flt_0_clinic_date=2026-11-17&_flt_1_clinic_date=2026-11-17" in yesterday
    listed = client.get("/appointmentorderview/list/" + yesterday + "&psize_AppointmentOrderView=100")
    listed = listed.get_data(as_text=True)
    with app.app_context():
        on_day = set(db.session.scalars(select(AppointmentOrder.order_no).where(
            AppointmentOrder.clinic_date == dt.date(2026, 11, 17))))
        other = set(db.session.scalars(select(AppointmentOrder.order_no).where(
            AppointmentOrder.clinic_date != dt.date(2026, 11, 17))))
    assert on_day and other
    shown = set(re.findall(r"<td>\s*([A-Z0-9]+GH[0-9A-Z]+)\s*</td>", listed))
    assert shown == on_day
    assert "就诊日期从：2026-11-17" in listed


def test_a_timestamp_list_takes_beijing_days(app, client, month):
    """审计日志 of one day: the Beijing day, 16:00 UTC the day before up to 16:00 UTC that day."""
    with app.app_context():
        for at, action in ((dt.datetime(2026, 11, 15, 16, 5), "probe.inside"),
                           (dt.datetime(2026, 11, 15, 15, 55), "probe.before"),
                           (dt.datetime(2026, 11, 16, 16, 0), "probe.after")):
            db.session.add(AuditLog(at=at, actor_type="system", action=action, target_type="probe"))
        db.session.commit()
    login(client, "admin")
    page = client.get("/auditlogview/list/?_flt_0_at=2026-11-16&_flt_1_at=2026-11-16&_flt_0_target_type=probe")
    page = page.get_data(as_text=True)
    assert "probe.inside" in page and "probe.before" not in page and "probe.after" not in page


def test_money_lists_end_with_a_total_row_of_every_filtered_row(app, client, month):
    login(client, "finance")
    page = client.get("/paymentorderview/list/?_flt_0_channel=wechat").get_data(as_text=True)
    with app.app_context():
        count, amount, refunded = db.session.execute(select(
            func.count(), func.sum(PaymentOrder.amount_fen), func.sum(PaymentOrder.refunded_fen))
            .where(PaymentOrder.channel == "wechat")).one()
    shown_rows = len(re.findall(r'class="action_check" name="rowid"', page)) or page.count("<tr>") - 2
    assert count > shown_rows  # more rows than the page: the total is of them all
    row = re.search(r'<tfoot><tr class="info bo-total-row" data-test="total-row">(.*?)</tr></tfoot>', page, re.S)
    assert row, "no 合计 row in the table"
    row = row.group(1)
    assert f"合计（全部 {count:,} 笔）" in row
    assert re.search(r'data-test="total-amount_fen">([\d,.]+)<', row).group(1) == f"{amount / 100:,.2f}"
    assert re.search(r'data-test="total-refunded_fen">([\d,.]+)<', row).group(1) == f"{refunded / 100:,.2f}"
    assert amount >= 100000  # big enough for a thousand separator
    for url, column in (("/appointmentorderview/list/", "fee_fen"), ("/refundview/list/", "amount_fen")):
        assert f'data-test="total-{column}"' in client.get(url).get_data(as_text=True), url


def test_a_payments_flag_reads_as_what_needs_doing(app, client, month):
    """标记 was shown as its code (refund_failed); the 巡检报告 listed it so too."""
    with app.app_context():
        payment = db.session.scalar(select(PaymentOrder).where(PaymentOrder.status == "confirmed").limit(1))
        payment.flag = "refund_failed"
        db.session.commit()
        pk = payment.id
    login(client, "finance")
    page = client.get(f"/paymentorderview/show/{pk}").get_data(as_text=True)
    assert "退款失败" in page and "refund_failed" not in re.sub(r"<[^>]*>", " ", page)


def test_the_flag_search_offers_what_needs_doing_by_name_and_finds_it(app, client, month):
    """标记 was searched by typing its code (refund_failed); staff pick 退款失败 from a list instead."""
    with app.app_context():
        payment = db.session.scalar(select(PaymentOrder).where(PaymentOrder.status == "confirmed").limit(1))
        payment.flag = "refund_failed"
        db.session.commit()
        order_no = payment.order_no
    login(client, "finance")
    page = client.get("/paymentorderview/list/").get_data(as_text=True)
    # the search form's fields travel as JSON strings of HTML (the labels' table has a "flag" key too)
    fields = [json.loads(m.group(1)) for m in re.finditer(r'"flag": ("(?:[^"\\]|\\.)*")', page)]
    field = next((f for f in fields if f.startswith("<")), "")
    assert field.startswith("<select"), f"标记 is not a list to pick from: {field}"
    assert '<option value="refund_failed">退款失败</option>' in field
    assert '<option value="his_unknown">医院结果未知</option>' in field
    found = client.get("/paymentorderview/list/?_flt_0_flag=refund_failed").get_data(as_text=True)
    assert order_no in found and "合计（全部 1 笔）" in found
    # the active condition above the list (and an export's conditions) name it too, not the code
    conditions = re.search(r'data-test="active-conditions">(.*?)</div>', found, re.S).group(1)
    assert "标记：退款失败" in conditions and "refund_failed" not in conditions


def test_refunds_name_their_date_as_the_list_does_not_as_an_orders(client, month):
    """退费记录's date is 申请时间: the active conditions and a wrong date say 申请日期, not 下单日期."""
    login(client, "finance")
    page = client.get("/refundview/list/?_flt_0_created_at=2026-11-01&_flt_1_created_at=2026-11-18")
    text = page.get_data(as_text=True)
    assert "申请日期从" in text and "申请日期至" in text and "下单日期" not in text
    bad = client.get("/refundview/list/?_flt_0_created_at=2026-02-30").get_data(as_text=True)
    assert "申请日期从“2026-02-30”不是有效日期" in bad and "下单日期" not in bad
    payments = client.get("/paymentorderview/list/?_flt_0_created_at=2026-11-01").get_data(as_text=True)
    assert "下单日期从" in payments
