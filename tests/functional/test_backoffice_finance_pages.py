"""Finance pages of issue 16: the export job's detail (real state and progress, conditions in words)."""

from __future__ import annotations

import re

from sqlalchemy import select

from app.extensions import db
from app.models import ExportJob
from tests.backoffice_helpers import login, seed_staff_and_orders


def _job_page(client, location: str) -> str:
    return client.get(location).get_data(as_text=True)


def test_an_export_jobs_detail_shows_its_real_state_and_its_conditions_in_words(app, client, clean_db):
    seed_staff_and_orders(app, days=3, per_day=4)
    login(client, "finance")
    done = client.post("/paymentorderview/export/?_flt_0_created_at=2026-11-01&_flt_0_status=paid"
                       "&_flt_0_channel=wechat&_flt_0_phone=13800000003")
    page = _job_page(client, done.headers["Location"])
    status = re.search(r'data-test="status">(.*?)</td>', page, re.S).group(1)
    assert "已完成" in status and "排队中" not in page
    assert 'style="width: 100%"' in page
    conditions = re.search(r'data-test="conditions">(.*?)</td>', page, re.S).group(1)
    for words in ("下单日期从：2026-11-01", "状态：已支付", "渠道：微信", "手机号：138****0003"):
        assert words in conditions, (words, conditions)
    assert "{" not in conditions and "13800000003" not in page
    with app.app_context():  # a job still waiting says so, at 0%
        job = db.session.scalar(select(ExportJob).order_by(ExportJob.id.desc()))
        job.status, job.progress = "queued", 0
        db.session.commit()
        pk = job.id
    page = _job_page(client, f"/exportjobview/show/{pk}")
    assert "排队中" in re.search(r'data-test="status">(.*?)</td>', page, re.S).group(1)
    assert 'style="width: 0%"' in page and "已完成" not in page.split('data-test="status"')[1][:200]
    everything = client.post("/paymentorderview/export/")
    assert "全部（未设条件）" in _job_page(client, everything.headers["Location"])


def test_payment_list_has_presets_active_conditions_a_total_and_thousand_separators(app, client, clean_db):
    import datetime as dt

    from sqlalchemy import func

    from app import clock
    from app.models import PaymentOrder

    clock.freeze(dt.datetime(2026, 11, 18, 15, 0))
    try:
        seed_staff_and_orders(app, days=10, per_day=8)
        login(client, "finance")
        page = client.get("/paymentorderview/list/?_flt_0_kind=deposit&_flt_0_channel=wechat").get_data(as_text=True)
        presets = dict(re.findall(r'href="([^"]+)" data-test="preset-([a-z_]+)"', page))
        by_key = {v: k.replace("&amp;", "&") for k, v in presets.items()}
        assert "_flt_0_created_at=2026-11-01" in by_key["this_month"] and "_flt_1_created_at=2026-11-18" in \
            by_key["this_month"]
        assert "_flt_0_created_at=2026-10-01" in by_key["last_month"] and "_flt_1_created_at=2026-10-31" in \
            by_key["last_month"]
        assert "_flt_0_created_at=2026-11-16" in by_key["this_week"]  # Monday
        assert "_flt_0_kind=deposit" in by_key["today"]  # the other conditions stay
        conditions = re.search(r'data-test="active-conditions">(.*?)</div>', page, re.S).group(1)
        assert "业务类型：住院押金" in conditions and "渠道：微信" in conditions
        with app.app_context():
            count, fen = db.session.execute(select(func.count(), func.sum(PaymentOrder.amount_fen)).where(
                PaymentOrder.kind == "deposit", PaymentOrder.channel == "wechat")).one()
        assert count and fen >= 100000
        assert re.search(r'data-test="total-count">([\d,]+)<', page).group(1) == f"{count:,}"
        assert re.search(r'data-test="total-amount">([\d,.]+)<', page).group(1) == f"{fen / 100:,.2f}"
        assert "1,000.00" in page or "2,000.00" in page or "3,000.00" in page  # thousand separators in rows
        month = client.get("/paymentorderview/list/" + by_key["this_month"]).get_data(as_text=True)
        assert "下单日期从：2026-11-01" in month
        bad = client.get("/paymentorderview/list/?_flt_0_created_at=2026-02-30").get_data(as_text=True)
        assert "“2026-02-30”不是有效日期" in bad and "此条件未生效" in bad
    finally:
        clock.reset()


def test_refund_list_filters_by_channel_reason_and_state_with_a_total(app, client, clean_db):
    from sqlalchemy import func

    from app.models import PaymentOrder, Refund

    seed_staff_and_orders(app, days=10, per_day=8)
    login(client, "finance")
    page = client.get("/refundview/list/?_flt_0_channel=alipay&_flt_0_reason=取消").get_data(as_text=True)
    with app.app_context():
        rows = db.session.execute(select(Refund.refund_no, Refund.amount_fen).join(PaymentOrder).where(
            PaymentOrder.channel == "alipay", Refund.reason.contains("取消"))).all()
        others = db.session.scalars(select(Refund.refund_no).join(PaymentOrder).where(
            PaymentOrder.channel != "alipay")).all()
        assert rows and others
    assert all(no in page for no, _fen in rows) and not any(no in page for no in others)
    assert re.search(r'data-test="total-amount">([\d,.]+)<', page).group(1) == \
        f"{sum(f for _n, f in rows) / 100:,.2f}"
    assert "渠道：支付宝" in page and "原因：取消" in page
    del func


def test_statistics_offer_presets_and_say_when_a_date_is_wrong(app, client, clean_db):
    import datetime as dt

    from app import clock

    seed_staff_and_orders(app, days=2, per_day=2)
    login(client, "finance")
    with clock.frozen_at(dt.datetime(2026, 11, 18, 15, 0)):
        page = client.get("/statistics/?start=2026-11-01&end=2026-11-18").get_data(as_text=True)
        assert 'data-test="preset-last_month"' in page and "start=2026-10-01&amp;end=2026-10-31" in page
        assert re.search(r'class="btn btn-default active" data-test="preset-this_month"', page)
        bad = client.get("/statistics/?start=2026-11-31&end=2026-11-18").get_data(as_text=True)
        assert "开始日期“2026-11-31”不是有效日期" in bad
        reversed_range = client.get("/statistics/?start=2026-11-18&end=2026-11-01").get_data(as_text=True)
        assert "结束日期不能早于开始日期" in reversed_range
        export = client.post("/statistics/export?start=bad")
        assert "/statistics/" in export.headers["Location"]


def test_a_part_of_a_name_finds_the_patients_orders_shown_masked(app, client, clean_db):
    from app.models import AppointmentOrder, AuditLog, Patient

    seed_staff_and_orders(app, days=10, per_day=8)
    login(client, "service")
    page = client.get("/appointmentorderview/list/?_flt_0_patient_name=丽").get_data(as_text=True)
    with app.app_context():
        mine = set(db.session.scalars(select(AppointmentOrder.order_no).join(Patient, AppointmentOrder.patient_id
                                                                             == Patient.id)
                                      .where(Patient.name.contains("丽"))))
        others = set(db.session.scalars(select(AppointmentOrder.order_no))) - mine
        audit = db.session.scalars(select(AuditLog).where(AuditLog.action == "staff.search_personal")).all()
    assert mine and others
    assert all(no in page for no in mine) and not any(no in page for no in others)
    assert "陈丽华" not in page and "陈*华" in page
    assert audit  # the search by a personal criterion is audited (masked)
