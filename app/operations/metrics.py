"""Prometheus metrics (``prometheus-client``) and the ``/metrics`` endpoint.

Two kinds of numbers, chosen so that several app processes on several machines report one truth:

* **Counted in the process** (request rate, latency and errors per endpoint group; HIS call latency
  and errors per method; task runs by outcome; page-cache hits): prometheus-client counters and
  histograms. Under gunicorn with several workers set ``PROMETHEUS_MULTIPROC_DIR`` (an empty
  directory per machine, wiped at start) and the client's multiprocess mode adds up the workers;
  Prometheus scrapes every node and sums the nodes.
* **Read from the database at scrape time** (payments by state and channel, confirmation attempts
  and failures, refunds pending/failed, notice pushes by outcome, reconciliation differences open,
  Huey queue depth): the database and Redis are shared by every node, so any node answers the same,
  whichever process is scraped. The reads are grouped counts, kept ``METRICS_DB_CACHE_SECONDS``
  (15 s) per process so a scrape every 15-60 s costs a few indexed scans.

``/metrics`` is not public: a request is answered only with ``Authorization: Bearer <METRICS_TOKEN>``
or from an address in ``METRICS_ALLOW_NETWORKS`` (default: loopback only) when it did not come
through the reverse proxy (no ``X-Forwarded-For``); anything else gets 404, as if there were none.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import threading
import time
from collections.abc import Iterable

from flask import Flask, Response, abort, current_app, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

log = logging.getLogger("metrics")

_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

REQUESTS = Counter("hospital_http_requests_total", "HTTP requests answered, per endpoint group and status class",
                   ["group", "method", "status"])
REQUEST_SECONDS = Histogram("hospital_http_request_seconds", "HTTP request latency per endpoint group", ["group"],
                            buckets=_BUCKETS)
HIS_CALL_SECONDS = Histogram("hospital_his_call_seconds", "HIS call latency per interface method", ["method"],
                             buckets=_BUCKETS)
HIS_ERRORS = Counter("hospital_his_errors_total", "HIS calls that failed, per method and kind "
                     "(unavailable = no answer; refused = a business refusal; error = anything else)",
                     ["method", "kind"])
TASK_RUNS = Counter("hospital_task_runs_total", "Huey task runs per task and outcome", ["task", "outcome"])
TASK_SECONDS = Histogram("hospital_task_seconds", "Huey task run time", ["task"], buckets=_BUCKETS)
SLOT_HOLD_SECONDS = Histogram("hospital_slot_hold_seconds", "How long a booking holds the hot slice row: from its "
                              "guarded UPDATE (the row locked) to its COMMIT (no HIS call inside)",
                              buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1))
PAGE_CACHE = Counter("hospital_page_cache_total", "Public booking page cache lookups by outcome "
                     "(hit, miss, error, bypass)", ["outcome"])


def endpoint_group(path: str, matched: bool) -> str:
    """A bounded label for a request: 'h5/booking', 'h5/pay', 'notify', 'api/his', 'backoffice', …"""
    if not matched:
        return "unmatched"
    parts = [p for p in path.split("/") if p]
    if not parts:
        return "root"
    if parts[0] in ("h5", "api", "sandbox") and len(parts) > 1:
        second = parts[1] if parts[0] != "api" or parts[1] != "his" else "his"
        return f"{parts[0]}/{second}"
    if parts[0] in ("notify", "wechat", "alipay", "metrics", "static"):
        return parts[0]
    return "backoffice"


# -- scrape-time numbers from the shared database --------------------------------------------------

class DatabaseCollector(Collector):
    """Gauges and counters every node reads from the one database (and the queue from Redis)."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self._lock = threading.Lock()
        self._cached: tuple[float, list] | None = None

    def collect(self) -> Iterable:
        ttl = float(self.app.config.get("METRICS_DB_CACHE_SECONDS", 15))
        with self._lock:
            if self._cached and time.monotonic() - self._cached[0] < ttl:
                return list(self._cached[1])
            families = self._read()
            self._cached = (time.monotonic(), families)
            return list(families)

    def invalidate(self) -> None:
        with self._lock:
            self._cached = None

    def _read(self) -> list:
        from sqlalchemy import func, select

        from app.extensions import db
        from app.models import MessagePush, Notification, PaymentOrder, ReconciliationItem, Refund, StateTransition

        families: list = []
        up = GaugeMetricFamily("hospital_database_up", "1 when the scrape could read the database")
        try:
            with self.app.app_context():
                session = db.session
                payments = GaugeMetricFamily("hospital_payments", "Payment orders by state and channel",
                                             labels=["state", "channel"])
                for state, channel, n in session.execute(select(PaymentOrder.status, PaymentOrder.channel,
                                                                func.count()).group_by(PaymentOrder.status,
                                                                                       PaymentOrder.channel)):
                    payments.add_metric([state, channel], n)
                families.append(payments)
                attempts = CounterMetricFamily("hospital_payment_confirm_attempts",
                                               "HIS confirmation attempts made for payments (all time)")
                attempts.add_metric([], session.scalar(select(func.coalesce(func.sum(PaymentOrder.his_attempts), 0))))
                families.append(attempts)
                moves = CounterMetricFamily("hospital_state_transitions", "State moves recorded, per machine "
                                            "and new state (confirm_failed, refunded, failed, no_show, …)",
                                            labels=["machine", "state"])
                for machine, state, n in session.execute(
                        select(StateTransition.order_type, StateTransition.to_status, func.count())
                        .group_by(StateTransition.order_type, StateTransition.to_status)):
                    moves.add_metric([machine, state], n)
                families.append(moves)
                refunds = GaugeMetricFamily("hospital_refunds", "Refunds by state (requested and processing "
                                            "are pending)", labels=["state"])
                for state, n in session.execute(select(Refund.status, func.count()).group_by(Refund.status)):
                    refunds.add_metric([state], n)
                families.append(refunds)
                pushes = CounterMetricFamily("hospital_notice_pushes", "Notice push attempts by channel and "
                                             "outcome (ok, or the channel's error code)", labels=["channel", "outcome"])
                outcome = func.coalesce(MessagePush.error_code, "error")
                for channel, ok, code, n in session.execute(
                        select(MessagePush.channel, MessagePush.ok, outcome, func.count())
                        .group_by(MessagePush.channel, MessagePush.ok, outcome)):
                    pushes.add_metric([channel, "ok" if ok else str(code)], n)
                families.append(pushes)
                notices = GaugeMetricFamily("hospital_notices", "Notices by push state", labels=["state"])
                for state, n in session.execute(select(Notification.status, func.count())
                                                .group_by(Notification.status)):
                    notices.add_metric([state], n)
                families.append(notices)
                recon = GaugeMetricFamily("hospital_reconciliation_differences_open",
                                          "Reconciliation differences not yet resolved, by kind", labels=["kind"])
                for kind, n in session.execute(select(ReconciliationItem.kind, func.count())
                                               .where(ReconciliationItem.resolved_at.is_(None))
                                               .group_by(ReconciliationItem.kind)):
                    recon.add_metric([kind], n)
                families.append(recon)
                session.remove()
            up.add_metric([], 1)
        except Exception as exc:  # noqa: BLE001 - a scrape must answer even when the database does not
            log.warning("metrics: database not readable (%s)", type(exc).__name__)
            up.add_metric([], 0)
        families.append(up)
        families.extend(self._queue())
        return families

    def _queue(self) -> list:
        depth = GaugeMetricFamily("hospital_queue_depth", "Tasks waiting in the Huey queue (-1: unreadable)")
        scheduled = GaugeMetricFamily("hospital_queue_scheduled", "Tasks scheduled for later (retries, ETA)")
        try:
            huey = self.app.extensions["huey"]
            depth.add_metric([], huey.pending_count())
            scheduled.add_metric([], huey.scheduled_count())
        except Exception as exc:  # noqa: BLE001 - see above
            log.warning("metrics: queue not readable (%s)", type(exc).__name__)
            depth.add_metric([], -1)
            scheduled.add_metric([], -1)
        return [depth, scheduled]


# -- access -------------------------------------------------------------------------------------------

def _allowed() -> bool:
    token = current_app.config.get("METRICS_TOKEN") or ""
    given = request.headers.get("Authorization", "")
    if token and given.startswith("Bearer ") and hmac.compare_digest(given[7:].encode(), token.encode()):
        return True
    if request.headers.get("X-Forwarded-For"):
        return False  # through the public proxy: only the token opens it
    networks = current_app.config.get("METRICS_ALLOW_NETWORKS", "127.0.0.1/32,::1/128")
    try:
        address = ipaddress.ip_address(request.remote_addr or "")
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(n.strip(), strict=False) for n in networks.split(",") if n.strip())


def metrics_view() -> Response:
    if not _allowed():
        abort(404)
    multiproc = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if multiproc:
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = CollectorRegistry()
        registry.register(_ProcessMetrics())
    registry.register(current_app.extensions["metrics_db"])
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)


class _ProcessMetrics(Collector):
    """This process's own counters (single-process mode)."""

    def collect(self) -> Iterable:
        for metric in (REQUESTS, REQUEST_SECONDS, HIS_CALL_SECONDS, HIS_ERRORS, TASK_RUNS, TASK_SECONDS, PAGE_CACHE,
                       SLOT_HOLD_SECONDS):
            yield from metric.collect()


# -- wiring --------------------------------------------------------------------------------------------

def init_app(app: Flask) -> None:
    app.extensions["metrics_db"] = DatabaseCollector(app)

    @app.before_request
    def _start_timer() -> None:
        g._metrics_started = time.perf_counter()

    # the labelled children, looked up once per (group, method, status): prometheus-client takes a lock and
    # builds the label tuple on every ``labels()`` call (bounded: groups and status classes are few)
    children: dict[tuple[str, str, int], tuple] = {}

    @app.after_request
    def _count(response):
        started = g.pop("_metrics_started", None)
        if started is not None:
            group = endpoint_group(request.path, request.url_rule is not None)
            key = (group, request.method, response.status_code // 100)
            found = children.get(key)
            if found is None:
                found = children[key] = (REQUESTS.labels(group=group, method=key[1], status=f"{key[2]}xx"),
                                         REQUEST_SECONDS.labels(group=group))
            found[0].inc()
            found[1].observe(time.perf_counter() - started)
        return response

    app.add_url_rule("/metrics", "metrics", metrics_view)
    from app.extensions import csrf

    csrf.exempt(metrics_view)



def instrument_his(gateway):
    """Time every HIS interface call of this gateway and count its failures by method. The timed
    methods are set on the gateway itself (no proxy): it stays what it was for isinstance, its own
    attributes (the simulator's clock) and for tests that patch one method."""
    from app.his.interface import HisGateway

    for name, member in vars(HisGateway).items():
        if name.startswith("_") or not callable(member):
            continue
        method = getattr(gateway, name, None)
        if method is not None and not getattr(method, "_timed", False):
            setattr(gateway, name, _timed(name, method))
    return gateway


def _timed(name: str, method):
    from app.his.errors import HisBusinessError, HisUnavailable

    def timed(*args, **kwargs):
        started = time.perf_counter()
        try:
            return method(*args, **kwargs)
        except HisUnavailable:
            HIS_ERRORS.labels(method=name, kind="unavailable").inc()
            raise
        except HisBusinessError:
            HIS_ERRORS.labels(method=name, kind="refused").inc()
            raise
        except Exception:
            HIS_ERRORS.labels(method=name, kind="error").inc()
            raise
        finally:
            HIS_CALL_SECONDS.labels(method=name).observe(time.perf_counter() - started)

    timed._timed = True  # type: ignore[attr-defined]
    timed.__name__ = name
    return timed
