"""Payment-notification throughput, as a ratio to the same server's bare health endpoint.

Starts the platform under gunicorn (embedded SQLite by default, or --database-url for MariaDB),
pays N orders through the sandbox channels (both WeChat Pay and Alipay), then replays every
signed notification R times concurrently: each replay is verified (signature, app/merchant id,
amount, order) and deduplicated by the real endpoint. Prints notifications/s, health/s and the
ratio, and exits non-zero if any replay changed an order's state or was not acknowledged.

    .venv/bin/python bench/notify_bench.py [--orders 40] [--replays 5] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def hammer(urls_and_requests, concurrency: int) -> tuple[float, list[int]]:
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_connections=concurrency, pool_maxsize=concurrency)
    session.mount("http://", adapter)

    def one(item):
        method, url, headers, body = item
        return session.request(method, url, headers=headers, data=body, timeout=30).status_code

    start = time.perf_counter()
    with cf.ThreadPoolExecutor(concurrency) as pool:
        codes = list(pool.map(one, urls_and_requests))
    return time.perf_counter() - start, codes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=40, help="orders per channel")
    parser.add_argument("--replays", type=int, default=5, help="deliveries of each notification")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--database-url", default=None, help="e.g. mysql+pymysql://root@127.0.0.1:3306/bench_notify")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="notify-bench-"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = dict(os.environ, INSTANCE_DIR=str(tmp), PUBLIC_BASE_URL=base, SANDBOX_BASE_URL=f"{base}/sandbox",
               HUEY_URL=f"sqlite:///{tmp / 'huey.db'}", APP_ENV="development")
    if args.database_url:
        env["DATABASE_URL"] = args.database_url
    flask = [str(VENV_BIN / "flask"), "--app", "run"]
    subprocess.run(flask + ["db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True)
    subprocess.run(flask + ["demo", "seed"], cwd=ROOT, env=env, check=True, capture_output=True)
    server = subprocess.Popen([str(VENV_BIN / "gunicorn"), "-w", str(args.workers), "--threads", "8",
                               "-b", f"127.0.0.1:{port}", "--log-level", "warning", "run:app"],
                              cwd=ROOT, env=env)
    try:
        for _ in range(100):
            try:
                if requests.get(f"{base}/api/health/live", timeout=1).ok:
                    break
            except requests.RequestException:
                time.sleep(0.2)
        os.environ.update(env)
        sys.path.insert(0, str(ROOT))
        from app import create_app
        from app.extensions import db
        from app.models import ChannelUser, Patient, PaymentOrder, StateTransition
        from app.models.base import utcnow
        from app.payments import commands as payments

        class BenchKind:  # the HIS hand-off is not what this measures
            def confirm(self, p): return payments.ConfirmOutcome(receipt_no="R")  # noqa: E704
            def on_confirmed(self, p, o): pass  # noqa: E704
            def on_closed(self, p): pass  # noqa: E704
            def on_confirm_failed(self, p, r): pass  # noqa: E704
            def on_refunded(self, p, r): pass  # noqa: E704
            def result_url(self, p): return "/h5/"  # noqa: E704

        app = create_app()
        payments._KINDS.setdefault("outpatient", BenchKind())
        sandbox = app.extensions["payment_sandbox"]
        notifications = []
        with app.app_context():
            for channel in ("wechat", "alipay"):
                user = ChannelUser(channel=channel, channel_uid=f"bench-{channel}-{time.time_ns()}")
                db.session.add(user)
                db.session.flush()
                patient = Patient(owner_id=user.id, name="压测", id_number="441781199003151227", card_no="BENCH",
                                  channel=channel, bound_at=utcnow())
                db.session.add(patient)
                db.session.commit()
                for i in range(args.orders):
                    order = payments.create_payment_order(
                        kind="outpatient", owner_id=user.id, patient_id=patient.id, channel=channel,
                        amount_fen=100 + i, description="压测", actor="bench")
                    db.session.commit()
                    start = payments.start_payment(order.order_no, user.id, user.channel_uid, f"{base}/h5/")
                    if start.redirect_url:
                        requests.get(start.redirect_url, timeout=10)
                    result = sandbox.confirm_payment(channel, order.order_no)
                    notifications.append(result.notification_id)
            before = db.session.query(StateTransition).count()
            paid = db.session.query(PaymentOrder).filter(PaymentOrder.status.in_(("paid", "confirmed"))).count()
        replays = []
        for nid in notifications:
            url, headers, body = sandbox.signed_request(nid)
            replays.extend([("POST", url, headers, body)] * args.replays)
        health = [("GET", f"{base}/api/health/live", {}, None)] * len(replays)
        hammer(health[:50], args.concurrency)  # warm-up
        health_s, health_codes = hammer(health, args.concurrency)
        notify_s, notify_codes = hammer(replays, args.concurrency)
        with app.app_context():
            after = db.session.query(StateTransition).count()
        n = len(replays)
        print(f"orders paid: {paid} (wechat + alipay), replayed notifications: {n}, concurrency {args.concurrency}, "
              f"gunicorn workers {args.workers}, database {'MariaDB' if args.database_url else 'SQLite'}")
        print(f"health endpoint : {n / health_s:8.1f} req/s")
        print(f"notifications   : {n / notify_s:8.1f} req/s (verified + deduplicated)")
        print(f"ratio           : {health_s / notify_s:8.3f}")
        bad_ack = [c for c in notify_codes if c not in (200, 204)]
        if bad_ack or after != before or any(c != 200 for c in health_codes):
            print(f"FAIL: {len(bad_ack)} unacknowledged replays, state transitions {before} -> {after}")
            return 1
        return 0
    finally:
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
