"""审计日志 names each action in Chinese beside its code (ops read "staff.view_order", "repair.propose" …)."""

from __future__ import annotations

import re
from pathlib import Path

from app.admin.display import AUDIT_ACTIONS
from app.extensions import db
from app.services import audit
from tests.backoffice_helpers import login, seed_staff_and_orders

APP = Path(__file__).resolve().parents[2] / "app"
#: an audit call with its action written out: record("…"), record_staff("…"), staff_viewed("…") …
CALL = re.compile(r"(?:record|record_staff|staff_viewed)\(\s*\"([a-z_]+\.[a-z_]+)\"")


def test_every_action_the_platform_audits_has_its_chinese():
    written = {code for path in APP.rglob("*.py") for code in CALL.findall(path.read_text(encoding="utf-8"))}
    assert {"staff.login", "reconciliation.resolve", "refund.retry"} <= written
    missing = sorted(written - set(AUDIT_ACTIONS))
    assert not missing, missing


def test_the_audit_log_reads_the_action_in_chinese_and_keeps_its_code(app, client):
    seed_staff_and_orders(app, days=1, per_day=1)
    with app.app_context():
        audit.record("reconciliation.resolve", actor_type="staff", actor_name="finance",
                     target_type="reconciliation_item", target_id="1")
        db.session.commit()
    login(client, "ops")
    page = client.get("/auditlogview/list/").get_data(as_text=True)
    assert "标记对账差异已处理" in page and "reconciliation.resolve" in page
    assert "登录后台" in page


def test_every_target_the_platform_audits_has_its_chinese():
    """对象类型 said "analytics", "reconciliation_day", "inspection" where the others read 缴费订单, 操作员 …"""
    from app.admin.display import TARGET_TYPES

    target = re.compile(r"target_type=\"([a-z_]+)\"")
    written = {code for path in APP.rglob("*.py") for code in target.findall(path.read_text(encoding="utf-8"))}
    assert {"analytics", "payment"} <= written
    missing = sorted(written - set(TARGET_TYPES))
    assert not missing, missing
