"""Finance sees reconciliation differences and resolves them with an audited comment."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import AuditLog, ReconciliationItem
from tests import factories


@pytest.fixture()
def difference(app, clean_db):
    from doubles.demo.hospital import seed_demo

    with app.app_context():
        seed_demo()
        run = factories.reconciliation_run("wechat", dt.date(2026, 11, 20), mismatch_count=1)
        item = factories.reconciliation_item(run, "channel_only", "MZ123", channel_trade_no="T1",
                                             channel_amount_fen=2350, note="渠道有收款，本地无订单")
        db.session.commit()
        return item.id


def _login(client, username, password):
    client.post("/login/", data={"username": username, "password": password})


def test_finance_lists_and_resolves_with_a_comment(app, client, difference):
    _login(client, "finance", "finance123")
    page = client.get("/reconciliationitemview/list/").get_data(as_text=True)
    assert "MZ123" in page and "23.50" in page
    client.post(f"/reconciliationitemview/resolve/{difference}", data={"comment": ""})
    with app.app_context():
        assert db.session.get(ReconciliationItem, difference).resolved_at is None
    client.post(f"/reconciliationitemview/resolve/{difference}", data={"comment": "已与微信核实，补录订单"})
    with app.app_context():
        item = db.session.get(ReconciliationItem, difference)
        assert item.resolved_by == "finance" and "补录订单" in item.note
        log = db.session.scalar(select(AuditLog).where(AuditLog.action == "reconciliation.resolve"))
        assert log.actor_name == "finance" and "补录订单" in log.detail


def test_service_desk_cannot_resolve_or_list(app, client, difference):
    _login(client, "service", "service123")
    assert client.get("/reconciliationitemview/list/").status_code in (302, 403)
    client.post(f"/reconciliationitemview/resolve/{difference}", data={"comment": "x"})
    with app.app_context():
        assert db.session.get(ReconciliationItem, difference).resolved_at is None


def test_reconcile_command_for_any_date(app, live_server, clean_db):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["payments", "reconcile", "--date", "2026-11-01"])
    assert result.exit_code == 0, result.output
    assert "wechat 2026-11-01: done" in result.output and "alipay 2026-11-01: done" in result.output


def test_daily_reconciliation_runs_at_five_past_ten_beijing_not_utc():
    """The consumer's clock is UTC: 10:05 in Beijing, when both channels' bills are out, is 02:05 UTC."""
    import datetime as dt

    from app.tasks.payments import reconcile_yesterday

    runs_at = reconcile_yesterday.task_class().validate_datetime
    day = dt.datetime(2026, 11, 27)
    assert [(h, m) for h in range(24) for m in range(0, 60, 5) if runs_at(day.replace(hour=h, minute=m))] == [(2, 5)]


@pytest.mark.parametrize("username, password", [("finance", "finance123"), ("admin", "admin123")])
def test_difference_and_run_details_open_and_resolve_from_the_detail(app, client, difference, username, password):
    """Issue 13 #12: both detail pages answered 500 (and 标记为已处理 lives on one of them); the
    differences list showed blank 账单日期 and 渠道."""
    _login(client, username, password)
    page = client.get("/reconciliationitemview/list/").get_data(as_text=True)
    assert "2026-11-20" in page and "微信" in page
    detail = client.get(f"/reconciliationitemview/show/{difference}")
    assert detail.status_code == 200
    text = detail.get_data(as_text=True)
    assert "2026-11-20" in text and "微信" in text and "长款（仅渠道有）" in text and "标记为已处理" in text
    with app.app_context():
        run_id = db.session.get(ReconciliationItem, difference).run_id
    run_page = client.get(f"/reconciliationrunview/show/{run_id}")
    assert run_page.status_code == 200 and "MZ123" in run_page.get_data(as_text=True)
    done = client.post(f"/reconciliationitemview/resolve/{difference}", data={"comment": "已核实"},
                       follow_redirects=True)
    assert done.status_code == 200 and "已标记为已处理" in done.get_data(as_text=True)
    assert "标记为已处理</button>" not in done.get_data(as_text=True)
