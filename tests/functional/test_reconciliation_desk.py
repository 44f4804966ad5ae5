"""对账工作台 (issue 16 #3): per day and channel 长款/短款/金额不符 counts and amounts; a day's differences
with both sides; resolve one or many with a reason (each audited); re-run a day; the day as .xlsx."""

from __future__ import annotations

import io
import re

from openpyxl import load_workbook
from sqlalchemy import func, select

from app import clock
from app.extensions import db
from app.models import AuditLog, ReconciliationItem, ReconciliationRun
from tests import factories
from tests.backoffice_helpers import login
from tests.helpers.reconciliation import DAY


def _cells(page: str, row: str) -> dict[str, str]:
    body = re.search(rf'data-test="{row}"(.*?)</tr>', page, re.S).group(1)
    cells = re.findall(r'data-test="([a-z]+-(?:count|fen)|open)">(.*?)</td>', body, re.S)
    return {k: re.sub(r"<[^>]+>", " ", v).split()[0] for k, v in cells}


def test_each_day_and_channel_shows_long_short_and_amount_differences(client, differences):
    login(client, "finance")
    page = client.get("/reconciliation/?start=2026-11-01&end=2026-11-21").get_data(as_text=True)
    wechat = _cells(page, "day-2026-11-20-wechat")
    assert wechat["long-count"] == "1" and wechat["long-fen"] == "23.50"
    assert wechat["short-count"] == "1" and wechat["short-fen"] == "12.00"
    assert wechat["amount-count"] == "1" and wechat["amount-fen"] == "-0.10"
    assert wechat["open"] == "3"
    alipay = _cells(page, "day-2026-11-20-alipay")
    assert alipay["long-fen"] == "1,000.50" and alipay["other-count"] == "1"


def test_a_wrong_date_is_a_message_not_ignored(client, differences):
    login(client, "finance")
    page = client.get("/reconciliation/?start=2026-13-01").get_data(as_text=True)
    assert "开始日期“2026-13-01”不是有效日期" in page
    page = client.get("/reconciliation/?start=2026-11-21&end=2026-11-01").get_data(as_text=True)
    assert "结束日期不能早于开始日期" in page


def test_resolving_many_needs_a_reason_and_audits_each(app, client, differences):
    login(client, "finance")
    day = client.get(f"/reconciliation/day/{DAY}").get_data(as_text=True)
    assert all(f'value="{i}"' in day for i in differences) and "MZ4" in day
    chosen = differences[:2]
    refused = client.post(f"/reconciliation/day/{DAY}/resolve", data={"item": chosen, "comment": " "})
    assert "请填写处理说明" in client.get(refused.headers["Location"]).get_data(as_text=True)
    client.post(f"/reconciliation/day/{DAY}/resolve", data={"item": chosen, "comment": "已与微信核实，补录订单"})
    with app.app_context():
        resolved = db.session.scalars(select(ReconciliationItem).where(ReconciliationItem.resolved_at.is_not(None)))
        assert sorted(i.id for i in resolved) == sorted(chosen)
        rows = db.session.scalars(select(AuditLog).where(AuditLog.action == "reconciliation.resolve")).all()
        assert len(rows) == 2 and all(r.actor_name == "finance" and "补录订单" in r.detail for r in rows)
    page = client.get("/reconciliation/?start=2026-11-20&end=2026-11-20").get_data(as_text=True)
    assert _cells(page, "day-2026-11-20-wechat")["open"] == "1"


def test_the_day_downloads_as_a_workbook_with_both_sides(client, differences):
    login(client, "finance")
    response = client.get(f"/reconciliation/day/{DAY}/download")
    assert response.status_code == 200 and "attachment" in response.headers["Content-Disposition"]
    book = load_workbook(io.BytesIO(response.data), read_only=True)
    rows = list(book["差异明细"].iter_rows(values_only=True))
    assert rows[0][:4] == ("渠道", "分类", "差异类型", "订单号") and len(rows) == 1 + 5 + 1
    assert {r[1] for r in rows[1:-1]} == {"长款", "短款", "金额不符", "其他差异"}
    assert rows[-1][0] == "合计" and round(rows[-1][8], 2) == round((2350 + 1200 - 10 + 100050 + 0) / 100, 2)


def test_a_difference_the_hospital_has_not_shows_what_the_channel_took(app, client, differences):
    """医院无此笔: the channel took the payment (88.50); the HIS holds 0.00. The 渠道金额 column said 0.00
    (it showed the HIS's figure) — now 渠道金额 is the channel's and 医院金额 the HIS's, on the page and
    in the workbook."""
    with app.app_context():
        run = db.session.scalar(select(ReconciliationRun).where(ReconciliationRun.channel == "wechat"))
        item = factories.reconciliation_item(run, "his_missing", "MZ9", source="his", local_amount_fen=8850,
                                             channel_amount_fen=0, note="平台已确认，医院无此笔入账")
        db.session.commit()
        pk = item.id
    login(client, "finance")
    page = client.get(f"/reconciliation/day/{DAY}").get_data(as_text=True)
    row = re.search(r'<tr data-test="item-\d+"[^>]*>((?:(?!</tr>).)*MZ9.*?)</tr>', page, re.S).group(1)
    assert re.search(r'data-test="channel-amount">88.50<', row) and re.search(r'data-test="his-amount">0.00<', row)
    book = load_workbook(io.BytesIO(client.get(f"/reconciliation/day/{DAY}/download").data), read_only=True)
    line = next(r for r in book["差异明细"].iter_rows(values_only=True) if r[3] == "MZ9")
    assert (line[5], line[6], line[7], line[8]) == (88.5, 88.5, 0, -88.5)
    shown = client.get(f"/reconciliationitemview/show/{pk}").get_data(as_text=True)  # 财务 › 对账差异
    assert re.search(r"渠道金额\(元\)</th>\s*<td>\s*<span[^>]*>\s*88.50\s*</span>", shown)
    listed = client.get("/reconciliationitemview/list/?_flt_0_order_no=MZ9").get_data(as_text=True)
    assert re.search(r"<td>88.50</td>\s*<td>88.50</td>", listed)


def test_rerunning_a_day_reconciles_both_channels_and_is_audited(app, client, differences, live_server):
    login(client, "finance")
    today = client.post(f"/reconciliation/day/{clock.today()}/rerun")
    assert "只能对已结束的日期重新对账" in client.get(today.headers["Location"]).get_data(as_text=True)
    client.post(f"/reconciliation/day/{DAY}/rerun")
    with app.app_context():
        runs = db.session.scalars(select(ReconciliationRun).where(ReconciliationRun.bill_date == DAY)).all()
        assert {r.channel for r in runs} == {"wechat", "alipay"} and all(r.status == "done" for r in runs)
        assert db.session.scalar(select(func.count()).select_from(AuditLog)
                                 .where(AuditLog.action == "reconciliation.rerun")) == 1


def test_service_desk_cannot_open_the_desk(app, client, differences):
    login(client, "service")
    assert client.get("/reconciliation/").status_code in (302, 403)
    client.post(f"/reconciliation/day/{DAY}/resolve", data={"item": differences, "comment": "已核实"})
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ReconciliationItem)
                                 .where(ReconciliationItem.resolved_at.is_not(None))) == 0


def test_the_workbooks_summary_names_the_runs_state_in_chinese(client, differences):
    """汇总 said "done" where the page says 已完成."""
    login(client, "finance")
    book = load_workbook(io.BytesIO(client.get(f"/reconciliation/day/{DAY}/download").data), read_only=True)
    rows = list(book["汇总"].iter_rows(values_only=True))
    assert rows[0][1] == "状态" and {r[1] for r in rows[1:] if r[0]} <= {"已完成", "失败", "对账中", "排队中"}, rows
