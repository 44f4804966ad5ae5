"""Back-office services: statistics net of refunds, .xlsx exports, operators, configuration rules."""

from __future__ import annotations

import datetime as dt

import pytest
from openpyxl import load_workbook

from app import clock
from app.extensions import db
from app.models import AuditLog, ChannelUser, ExportJob, OperatorProfile, Patient, PaymentOrder
from app.services import configuration
from app.backoffice import operators
from app.reports import exports, statistics
from app.services.configuration import InvalidConfiguration
from app.services.errors import DomainError
from tests import factories


def _payment(no: str, kind: str, channel: str, amount: int, paid_at: dt.datetime | None, status: str,
             patient: Patient) -> PaymentOrder:
    """A payment in ``status`` paid at ``paid_at``, without refunds: the test adds those it counts."""
    return factories.payment_order(patient, kind=kind, status=status, amount_fen=amount, order_no=no, channel=channel,
                                   description=kind, paid_at=paid_at, with_refund=False)


@pytest.fixture()
def patient(ctx) -> Patient:
    return factories.patient(factories.channel_user("wechat", channel_uid="u1"), name="陈丽华", phone="13800001111",
                             card_no="C001", bound_at=dt.datetime(2026, 1, 1))


def test_statistics_count_beijing_days_and_are_net_of_refunds(patient):
    # 2026-03-01 16:30 UTC is 2026-03-02 00:30 in Beijing: it belongs to the 2nd
    _payment("P1", "registration", "wechat", 5000, dt.datetime(2026, 3, 1, 2, 0), "confirmed", patient)
    p2 = _payment("P2", "outpatient", "alipay", 12345, dt.datetime(2026, 3, 1, 16, 30), "confirmed", patient)
    _payment("P3", "deposit", "wechat", 100000, dt.datetime(2026, 3, 2, 3, 0), "partially_refunded", patient)
    _payment("P4", "outpatient", "wechat", 999, None, "closed", patient)  # never paid: not counted
    _payment("P5", "outpatient", "wechat", 700, dt.datetime(2026, 2, 28, 15, 59), "confirmed", patient)  # 23:59 on 2-28
    factories.refund(p2, "failed", amount_fen=1, refund_no="R2", reason="x", requested_by="staff:admin")
    factories.refund(p2, "success", refund_no="R1", reason="x", requested_by="staff:admin",
                     succeeded_at=dt.datetime(2026, 3, 2, 1, 0))  # refunded in full
    db.session.commit()

    stats = statistics.transaction_statistics(dt.date(2026, 3, 1), dt.date(2026, 3, 2))
    total = stats.total
    assert (total.paid_count, total.paid_fen) == (3, 5000 + 12345 + 100000)
    assert (total.refund_count, total.refund_fen) == (1, 12345)
    assert total.net_fen == 5000 + 100000
    by_day = {r.day: r for r in stats.by("day")}
    assert by_day[dt.date(2026, 3, 1)].paid_fen == 5000
    assert by_day[dt.date(2026, 3, 2)].paid_fen == 112345 and by_day[dt.date(2026, 3, 2)].refund_fen == 12345
    assert {r.channel: r.net_fen for r in stats.by("channel")} == {"alipay": 0, "wechat": 105000}
    assert {r.kind: r.paid_count for r in stats.by("kind")} == {"deposit": 1, "outpatient": 1, "registration": 1}
    assert {r.status for r in stats.by("status")} == {"confirmed", "refunded", "partially_refunded"}
    series = statistics.daily_series(stats)
    assert series["days"] == ["2026-03-01", "2026-03-02"] and series["counts"] == [1, 2]


def test_statistics_refuse_a_reversed_or_too_long_range(ctx):
    with pytest.raises(DomainError):
        statistics.transaction_statistics(dt.date(2026, 3, 2), dt.date(2026, 3, 1))
    with pytest.raises(DomainError):
        statistics.transaction_statistics(dt.date(2025, 1, 1), dt.date(2026, 3, 1))


def test_statistics_export_is_a_valid_workbook_whose_totals_match(app, ctx):
    from doubles.demo.backoffice import seed_backoffice_demo

    seed_backoffice_demo(days=5, per_day=8)
    end = clock.today()
    start = end - dt.timedelta(days=10)
    stats = statistics.transaction_statistics(start, end)
    assert stats.total.paid_count > 0 and stats.total.refund_fen > 0
    job = exports.request_export("statistics", {"start": start.isoformat(), "end": end.isoformat()}, None)
    job = exports.run_export(job.id)
    assert job.status == "done" and job.progress == 100
    book = load_workbook(job.file_path, read_only=True)
    assert book.sheetnames == ["交易明细", "按日", "按渠道", "按业务类型", "按状态"]
    rows = list(book["按渠道"].iter_rows(values_only=True))
    assert rows[0] == ("日期", "渠道", "业务类型", "状态", "支付笔数", "支付金额(元)", "退款笔数", "退款金额(元)",
                       "净收入(元)")
    totals = rows[-1]
    assert totals[0].startswith("合计")
    assert totals[4] == stats.total.paid_count
    assert round(totals[5] * 100) == stats.total.paid_fen
    assert round(totals[8] * 100) == stats.total.net_fen
    detail = list(book["交易明细"].iter_rows(values_only=True))
    assert round(detail[-1][8] * 100) == stats.total.net_fen
    sheet = load_workbook(job.file_path)["交易明细"]
    assert sheet.freeze_panes == "A2"
    assert sheet["F2"].number_format == "#,##0.00"


def test_order_export_streams_in_batches_masks_and_totals(app, ctx, monkeypatch):
    from doubles.demo.backoffice import seed_backoffice_demo

    seed_backoffice_demo(days=3, per_day=7)
    monkeypatch.setattr(exports, "BATCH", 5)
    seen: list[int] = []
    original = exports._set

    def spy(job_id, **values):
        if "progress" in values:
            seen.append(values["progress"])
        original(job_id, **values)

    monkeypatch.setattr(exports, "_set", spy)
    job = exports.request_export("payment_orders", {"kind": "outpatient"}, None)
    job = exports.run_export(job.id)
    expected = db.session.query(PaymentOrder).filter_by(kind="outpatient").all()
    assert job.row_count == len(expected) > 5
    # progress moved batch by batch (0 and 100 are written by the moves to running and to done)
    assert len(seen) > 1 and seen == sorted(seen) and 0 < seen[0] and seen[-1] <= 99
    assert job.progress == 100
    rows = list(load_workbook(job.file_path, read_only=True).active.iter_rows(values_only=True))
    assert rows[0][:3] == ("订单号", "业务类型", "就诊人") and len(rows) == len(expected) + 2
    assert all("*" in r[2] for r in rows[1:-1])  # names masked
    assert all("****" in r[4] for r in rows[1:-1])  # phones masked
    assert round(rows[-1][8] * 100) == sum(p.amount_fen for p in expected)
    assert db.session.query(AuditLog).filter_by(action="staff.export_requested").count() == 1


def test_export_refuses_unknown_kinds_and_missing_ranges(ctx):
    with pytest.raises(DomainError):
        exports.request_export("everything", {}, None)
    with pytest.raises(DomainError):
        exports.request_export("statistics", {"start": "2026-01-01"}, None)
    assert db.session.query(ExportJob).count() == 0


def test_stale_jobs_are_found_for_the_sweep(ctx):
    old = dt.datetime(2026, 1, 1)
    db.session.add_all([ExportJob(kind="statistics", status="running", updated_at=old, created_at=old),
                        ExportJob(kind="statistics", status="done", updated_at=old, created_at=old)])
    db.session.commit()
    assert len(exports.stale_jobs()) == 1


def test_reset_password_forces_a_change_and_own_change_clears_it(app, ctx, staff_restored):
    from doubles.demo.hospital import seed_demo

    seed_demo()
    sm = app.appbuilder.sm
    admin, service = sm.find_user(username="admin"), sm.find_user(username="service")
    temporary = operators.reset_password(service.id, admin)
    assert len(temporary) == 10 and operators.must_change_password(service.id)
    assert sm.auth_user_db("service", temporary) is not None
    operators.set_password(service.id, "new-secret-1", service)
    assert not operators.must_change_password(service.id)
    operators.set_password(service.id, "set-by-admin", admin)
    assert operators.must_change_password(service.id)
    actions = [a.action for a in db.session.query(AuditLog).order_by(AuditLog.id)]
    assert actions.count("staff.operator_reset_password") == 2 and "staff.password_changed" in actions
    assert all("new-secret" not in (a.detail or "") for a in db.session.query(AuditLog))


def test_deactivate_refuses_yourself_and_audits(app, ctx, staff_restored):
    from doubles.demo.hospital import seed_demo

    seed_demo()
    sm = app.appbuilder.sm
    admin, ops = sm.find_user(username="admin"), sm.find_user(username="ops")
    with pytest.raises(DomainError):
        operators.deactivate([admin.id], admin)
    assert operators.deactivate([ops.id], admin) == 1
    assert operators.deactivate([ops.id], admin) == 0
    db.session.refresh(ops)
    assert ops.active is False
    row = db.session.query(AuditLog).filter_by(action="staff.operator_deactivate").one()
    assert '"before": {"active": true}' in row.detail and row.actor_name == "admin"
    operators.set_department(ops.id, "信息科", admin)
    db.session.commit()
    assert db.session.query(OperatorProfile).filter_by(user_id=ops.id).one().department == "信息科"
    ops.active = True  # staff accounts outlive the test: the next test signs in as ops
    db.session.commit()


@pytest.mark.parametrize(("key", "value", "expected"), [
    ("booking.days_ahead", " 7 ", "7"), ("booking.release_time", "17:00", "17:00"),
    ("booking.same_day", "YES", "1"), ("waitlist.cutoff_minutes", "30", "30"), ("pregnancy.department", "OB01", "OB01"),
])
def test_valid_settings_are_normalised(key, value, expected):
    assert configuration.validate_setting(key, value) == expected


@pytest.mark.parametrize(("key", "value"), [
    ("booking.days_ahead", "0"), ("booking.days_ahead", "seven"), ("booking.days_ahead", "61"),
    ("booking.release_time", "25:00"), ("booking.same_day", "maybe"), ("Booking", "1"),
    ("booking.days_ahead", ""), ("reminder.unpaid_hour", "18"), ("site.notice", "hi"),
])
def test_invalid_settings_are_refused(app, key, value):
    with app.test_request_context(), pytest.raises(InvalidConfiguration):
        configuration.validate_setting(key, value)


def test_template_survey_and_guidance_rules(app):
    with app.test_request_context():
        assert configuration.validate_field_map('{"thing1": "{doctor}"}') == '{"thing1": "{doctor}"}'
        for bad in ("", "[1]", '{"a": 1}', "{"):
            with pytest.raises(InvalidConfiguration):
                configuration.validate_field_map(bad)
        assert configuration.validate_options("single", '["满意", "不满意"]') == '["满意", "不满意"]'
        for bad in ('["满意"]', '["a", "a"]', "满意,不满意"):
            with pytest.raises(InvalidConfiguration):
                configuration.validate_options("single", bad)
        assert configuration.validate_options("rating", None) is None
        with pytest.raises(InvalidConfiguration):
            configuration.validate_guidance("", " ")
        with pytest.raises(InvalidConfiguration):
            configuration.validate_link("javascript:alert(1)")


@pytest.mark.parametrize("link", ["https://evil.example/phish", "//evil.example/x", "/\\evil.example",
                                  "http://127.0.0.1:5000/h5/", "https://evil.example/{link}"])
def test_message_links_only_reach_configured_domains(app, link):
    from app.services import configuration
    from app.services.configuration import InvalidConfiguration

    with app.app_context():
        with pytest.raises(InvalidConfiguration):
            configuration.validate_link(link)


def test_message_links_to_our_pages_and_configured_domains_are_kept(app):
    from app.services import configuration

    with app.app_context():
        old = app.config.get("MESSAGE_LINK_DOMAINS")
        app.config["MESSAGE_LINK_DOMAINS"] = "www.ycfy.example"
        try:
            for link in ("/h5/messages/{id}", "https://www.ycfy.example/notice/{id}"):
                assert configuration.validate_link(link) == link
        finally:
            app.config["MESSAGE_LINK_DOMAINS"] = old


def test_survey_results_count_options_average_ratings_and_keep_texts(ctx):
    import json

    from app.models import Survey, SurveyQuestion, SurveyResponse

    user = ChannelUser(channel="wechat", channel_uid="s1")
    survey = Survey(title="就诊满意度", trigger="visit")
    db.session.add_all([user, survey])
    db.session.flush()
    q1 = SurveyQuestion(survey_id=survey.id, sort=1, kind="rating", text="总体评分")
    q2 = SurveyQuestion(survey_id=survey.id, sort=2, kind="single", text="候诊时间", options_json='["短", "长"]')
    q3 = SurveyQuestion(survey_id=survey.id, sort=3, kind="text", text="建议", required=False)
    db.session.add_all([q1, q2, q3])
    db.session.flush()
    for i, (rating, wait, text) in enumerate([(5, "短", "很好"), (4, "长", ""), (3, "长", "停车难")]):
        db.session.add(SurveyResponse(survey_id=survey.id, owner_id=user.id, subject=f"GH{i}",
                                      answers_json=json.dumps({str(q1.id): rating, str(q2.id): wait,
                                                               str(q3.id): text}, ensure_ascii=False)))
    db.session.commit()
    results = configuration.survey_results(survey.id)
    assert results.responses == 3
    rating, wait, texts = results.questions
    assert rating.average == 4.0 and wait.counts == {"短": 1, "长": 2}
    assert sorted(texts.texts) == ["停车难", "很好"] and texts.answered == 2
