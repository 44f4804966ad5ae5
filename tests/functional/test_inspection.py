"""巡检报告: healthy system reads 正常; each seeded problem becomes a finding with advice."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import update

from app.extensions import db
from app.models import ChannelNotification
from app.models.base import utcnow
from app.operations.inspection import build_report
from tests import factories


def test_healthy_system_has_no_problems(app, ctx, his):
    report = build_report(90)
    assert report.problems == [], [(f.check, f.detail) for f in report.problems]
    assert "结论: 正常" in report.to_markdown()


def test_problems_are_found_with_advice(app, ctx, his):
    factories.payment_order(factories.patient(factories.channel_user()), status="paid", amount_fen=100,
                            order_no="MZ-STUCK-000000000001", paid_at=utcnow() - dt.timedelta(hours=3))
    db.session.add(ChannelNotification(channel="wechat", kind="unknown", notify_id="r1", outcome="rejected:SIGN"))
    run = factories.reconciliation_run("alipay", dt.date(2026, 11, 1))
    factories.reconciliation_item(run, "local_only", "MZ1", channel_trade_no=None)
    db.session.commit()
    report = build_report(90)
    problems = {f.check: f for f in report.problems}
    assert "已付款未向医院确认超过 1 小时" in problems and problems["已付款未向医院确认超过 1 小时"].advice
    assert "被拒绝的支付通知（验签失败、金额不符、未知订单）" in problems
    assert "未处理的对账差异" in problems
    assert "发现 3 项需处理" in report.to_markdown()


def test_operations_reads_and_downloads_the_report_finance_cannot(app, client, his):
    from app.models import AuditLog
    from doubles.demo.hospital import seed_demo

    with app.app_context():
        seed_demo()
    client.post("/login/", data={"username": "ops", "password": "ops123"})
    assert "巡检报告" in client.get("/inspection/?days=30").get_data(as_text=True)
    download = client.get("/inspection/download?days=30")
    assert download.status_code == 200 and download.get_data(as_text=True).startswith("# 巡检报告")
    with app.app_context():
        assert db.session.query(AuditLog).filter_by(action="inspection.download", actor_name="ops").count() == 1
    client.get("/logout/")
    client.post("/login/", data={"username": "finance", "password": "finance123"})
    assert client.get("/inspection/").status_code in (302, 403)


def test_inspect_command_exits_nonzero_on_problems(app, ctx, his):
    runner = app.test_cli_runner()
    assert runner.invoke(args=["inspect", "--days", "7"]).exit_code == 0
    db.session.add(ChannelNotification(channel="alipay", kind="unknown", notify_id="r2", outcome="rejected:SIGN"))
    db.session.commit()
    result = runner.invoke(args=["inspect", "--days", "7"])
    assert result.exit_code == 1 and "异常" in result.output


def test_suggestions_link_to_the_filtered_list_and_kept_inspections_compare(app, client, his):
    """Issue 16 #10: each problem's advice opens the list it talks about; a kept inspection is compared
    with the one before; the report downloads as Word."""
    import io
    import re

    from docx import Document

    from app.models import AuditLog, InspectionRecord
    from doubles.demo.hospital import seed_demo
    from tests.backoffice_helpers import login

    with app.app_context():
        seed_demo()
    login(client, "ops")
    first = client.post("/inspection/save?days=30")
    assert "/inspection/record/" in first.headers["Location"]
    with app.app_context():
        factories.payment_order(factories.patient(factories.channel_user()), status="paid", amount_fen=100,
                                order_no="MZ-STUCK-000000000002", paid_at=utcnow() - dt.timedelta(hours=3))
        db.session.commit()
    live = client.get("/inspection/?days=30").get_data(as_text=True)
    link = re.search(r'data-test="advice-link" href="([^"]+)"', live).group(1)
    assert link == "/paymentorderview/list/?_flt_0_stuck=1"
    assert "变差" in live and "对比上次巡检" in live
    second = client.post("/inspection/save?days=30")
    kept = client.get(second.headers["Location"]).get_data(as_text=True)
    assert "已保存的巡检" in kept and kept.count('href="/inspection/record/') == 2
    word = client.get(f"/inspection/download?format=docx&record={second.headers['Location'].rsplit('/', 1)[1]}")
    assert word.status_code == 200 and "attachment" in word.headers["Content-Disposition"]
    doc = Document(io.BytesIO(word.data))
    cells = [c.text for t in doc.tables for row in t.rows for c in row.cells]
    assert "已付款未向医院确认超过 1 小时" in cells and "异常" in cells
    assert doc.paragraphs[0].text == "巡检报告"
    with app.app_context():
        assert db.session.query(InspectionRecord).count() == 2
        assert db.session.query(AuditLog).filter_by(action="inspection.save").count() == 2
    login(client, "finance")
    assert client.post("/inspection/save").status_code in (302, 403)
    with app.app_context():
        assert db.session.query(InspectionRecord).count() == 2


def test_a_failed_export_build_or_notice_push_is_not_an_unfinished_his_call(app, ctx, his):
    from app.models import OutboxTask

    old = utcnow() - dt.timedelta(hours=3)
    db.session.add_all([OutboxTask(kind="export.build", ref="1", payload="{}", status="failed", created_at=old,
                                   next_attempt_at=old),
                        OutboxTask(kind="notice.push", ref="1", payload="{}", status="pending", created_at=old,
                                   next_attempt_at=old)])
    db.session.commit()
    assert "未完成的医院调用（取消挂号、释放号源）" not in {f.check for f in build_report(90).problems}
    db.session.add(OutboxTask(kind="his.release_lock", ref="GH1", payload="{}", status="failed", created_at=old,
                              next_attempt_at=old))
    db.session.commit()
    assert "未完成的医院调用（取消挂号、释放号源）" in {f.check for f in build_report(90).problems}


def test_volumes_show_amounts_with_thousand_separators(app, ctx, his):
    """业务量 speaks yuan as every staff page does: 12,345.67, not 12345.67 (the page, Markdown and Word)."""
    owner = factories.patient(factories.channel_user())
    for n in range(2):
        factories.payment_order(owner, status="confirmed", amount_fen=617_283, order_no=f"MZ-VOLUME-{n:012d}",
                                paid_at=utcnow() - dt.timedelta(days=1))
    db.session.commit()
    volumes = dict(build_report(90).volumes)
    assert volumes["门诊缴费笔数 / 金额(元)"] == "2 / 12,345.66", volumes


def test_the_refund_check_counts_what_its_link_lists(app, client, his):
    """巡检报告's 退款处理中超过 1 小时 counted by the last update (a sweep's query renews it, so a refund asked
    hours ago read 0) while its link opens 退费记录 超时未完成 (asked over an hour ago), and lumped 退款异常 in. Now
    the check counts as the list does and names 退款异常 apart, linking to it."""
    from app.models import Refund
    from app.operations.inspection import build_report
    from tests.backoffice_helpers import login

    with app.app_context():
        patient = factories.patient(factories.channel_user())
        asked_long_ago = factories.payment_order(patient, status="refunding", amount_fen=500)  # processing refund
        abnormal = factories.payment_order(patient, status="refunding", amount_fen=700,
                                           refund_values={"status": "abnormal"})
        for order in (asked_long_ago, abnormal):
            db.session.execute(update(Refund).where(Refund.payment_id == order.id).values(
                created_at=utcnow() - dt.timedelta(hours=3), updated_at=utcnow() - dt.timedelta(minutes=5)))
        db.session.commit()
        finding = next(f for f in build_report(30).findings if f.area == "退款")
    assert "处理中 1 笔" in finding.detail and "异常 1 笔" in finding.detail and not finding.ok
    login(client, "finance")
    listed = client.get("/refundview/list/?_flt_0_overdue=1").get_data(as_text=True)
    assert listed.count('href="/refundview/show/') >= 1
    assert finding.link in ("/refundview/list/?_flt_0_status=abnormal", "/refundview/list/?_flt_0_overdue=1")
