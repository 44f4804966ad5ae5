"""/metrics: not public, and every number the on-call engineer's alerts read is there and moves."""

from __future__ import annotations

import re

import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.extensions import db
from app.his.errors import HisUnavailable
from app.models import MessagePush, Notification, PaymentOrder, Refund
from app.operations import metrics
from tests import factories


def scrape(client, **headers) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.status_code
    samples = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture()
def fresh(app):
    app.extensions["metrics_db"].invalidate()
    yield
    app.extensions["metrics_db"].invalidate()


def test_metrics_are_not_public(app, client, fresh):
    assert client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"}).status_code == 404
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "203.0.113.9"}).status_code == 404
    app.config["METRICS_TOKEN"] = "t" * 32
    try:
        assert client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9",
                                               "Authorization": "Bearer wrong"}).status_code == 404
        ok = client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9", "Authorization": "Bearer " + "t" * 32})
        assert ok.status_code == 200 and b"hospital_http_requests_total" in ok.data
    finally:
        app.config["METRICS_TOKEN"] = ""
    assert client.get("/metrics").status_code == 200  # the scraper on the machine itself (loopback)


def test_request_counts_and_latency_per_endpoint_group(client, fresh):
    before = scrape(client)
    for _ in range(3):
        client.get("/api/health/live")
    client.get("/no/such/page")
    after = scrape(client)
    grew = value(after, "hospital_http_requests_total", group="api/health", method="GET", status="2xx") - \
        value(before, "hospital_http_requests_total", group="api/health", method="GET", status="2xx")
    assert grew == 3
    assert value(after, "hospital_http_request_seconds_count", group="api/health") >= 3
    assert value(after, "hospital_http_requests_total", group="unmatched", method="GET", status="4xx") >= 1
    assert metrics.endpoint_group("/h5/booking/slices/3/confirm", True) == "h5/booking"
    assert metrics.endpoint_group("/api/his/v1/refunds", True) == "api/his"
    assert metrics.endpoint_group("/paymentorderview/list/", True) == "backoffice"


def test_money_numbers_come_from_the_database_so_every_node_reports_the_same(app, client, fresh):
    with app.app_context():
        owner = factories.channel_user("wechat")
        patient = factories.patient(owner)
        rows = []
        for i, (status, channel, attempts) in enumerate((("confirm_failed", "wechat", 5), ("confirmed", "alipay", 1),
                                                         ("paid", "wechat", 2))):
            rows.append(PaymentOrder(order_no=f"GH20261201000000{i:08d}", kind="outpatient", owner_id=owner.id,
                                     patient_id=patient.id, channel=channel, amount_fen=100, description="x",
                                     status=status, his_attempts=attempts))
        db.session.add_all(rows)
        db.session.flush()
        db.session.add_all([Refund(refund_no="TK1", payment_id=rows[0].id, amount_fen=100, reason="r", status="failed",
                                   requested_by="system"),
                            Refund(refund_no="TK2", payment_id=rows[1].id, amount_fen=50, reason="r",
                                   status="processing", requested_by="system")])
        note = Notification(owner_id=owner.id, channel="wechat", kind="refund_success", title="t", body="b",
                            dedupe_key="k1", status="failed")
        db.session.add(note)
        db.session.flush()
        db.session.add_all([MessagePush(notification_id=note.id, channel="wechat", ok=False, error_code="43004"),
                            MessagePush(notification_id=note.id, channel="wechat", ok=True)])
        factories.reconciliation_item(factories.reconciliation_run("wechat", factories_day()), "long", "GH1")
        db.session.commit()
    samples = scrape(client)
    assert value(samples, "hospital_payments", state="confirm_failed", channel="wechat") == 1
    assert value(samples, "hospital_payments", state="confirmed", channel="alipay") == 1
    assert value(samples, "hospital_payment_confirm_attempts_total") == 8
    assert value(samples, "hospital_refunds", state="failed") == 1
    assert value(samples, "hospital_refunds", state="processing") == 1
    assert value(samples, "hospital_notice_pushes_total", channel="wechat", outcome="43004") == 1
    assert value(samples, "hospital_notice_pushes_total", channel="wechat", outcome="ok") == 1
    assert value(samples, "hospital_notices", state="failed") == 1
    assert value(samples, "hospital_reconciliation_differences_open", kind="long") == 1
    assert value(samples, "hospital_database_up") == 1
    assert value(samples, "hospital_queue_depth") >= 0


def factories_day():
    from app import clock

    return clock.today()


def test_his_calls_are_timed_and_failures_counted_per_method(app, client, his, fresh):
    with app.app_context():
        from app.services.his_access import his_gateway

        his_gateway().health()

    class Down:
        def lock_slot(self, *args):
            raise HisUnavailable("connection refused")

    with pytest.raises(HisUnavailable):
        metrics.instrument_his(Down()).lock_slot("S1", "C1", "YY1")
    samples = scrape(client)
    assert value(samples, "hospital_his_call_seconds_count", method="health") >= 1
    assert value(samples, "hospital_his_errors_total", method="lock_slot", kind="unavailable") >= 1


def test_task_failures_and_page_cache_outcomes_are_counted(app, client, fresh):
    from app.operations import queue

    with pytest.raises(RuntimeError):
        with queue.running("broken_task", None):
            raise RuntimeError("boom")
    with queue.running("fine_task", None):
        pass
    metrics.PAGE_CACHE.labels(outcome="hit").inc()
    samples = scrape(client)
    assert value(samples, "hospital_task_runs_total", task="broken_task", outcome="error") >= 1
    assert value(samples, "hospital_task_runs_total", task="fine_task", outcome="ok") >= 1
    assert value(samples, "hospital_page_cache_total", outcome="hit") >= 1


def test_the_alert_rules_in_the_runbook_name_metrics_that_exist(app, client, fresh):
    """Every metric an example alert rule in docs/operations.md uses is exported."""
    from pathlib import Path

    doc = (Path(app.root_path).parent / "docs" / "operations.md").read_text(encoding="utf-8")
    block = doc.split("```yaml", 1)[1].split("```", 1)[0]
    import yaml

    rules = yaml.safe_load(block)
    alerts = {rule["alert"]: rule["expr"] for group in rules["groups"] for rule in group["rules"]}
    for needed in ("PaymentConfirmFailed", "RefundFailed", "HisDown", "QueueStuck", "ReconciliationDifferences"):
        assert needed in alerts
    text = client.get("/metrics").get_data(as_text=True)
    families = {family.name for family in text_string_to_metric_families(text)}
    for expr in alerts.values():
        for name in set(re.findall(r"\bhospital_[a-z_]+", expr)):
            assert re.sub(r"_(total|count|sum|bucket)$", "", name) in families, name


def test_a_booking_reports_how_long_it_held_the_hot_slice_row(app, client, world, fresh):
    from tests.helpers.booking import book, find_slice

    before = value(scrape(client), "hospital_slot_hold_seconds_count")
    with app.app_context():
        book(world["owner"], world["mother"], find_slice().id)
    samples = scrape(client)
    assert value(samples, "hospital_slot_hold_seconds_count") == before + 1
    assert 0 < value(samples, "hospital_slot_hold_seconds_sum") < 60
