"""Benchmark: export 200,000 payment orders to .xlsx through the platform's export service, beside a
bare PyMySQL + xlsxwriter loop writing the same rows in the same run (the ratio is what matters).

    .venv/bin/python bench/export_orders.py                      # MariaDB at 127.0.0.1:3306, 200,000 rows
    .venv/bin/python bench/export_orders.py --rows 50000 --url mysql+pymysql://root@127.0.0.1:3306/bench_export

It creates (and empties) its own database, fills it, then runs each export in a fresh child process
so each one's peak memory (max RSS) is its own. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HUEY_URL", "memory://")
os.environ.setdefault("INSTANCE_DIR", tempfile.mkdtemp(prefix="bench-export-"))

DEFAULT_URL = "mysql+pymysql://root@127.0.0.1:3306/bench_export?charset=utf8mb4"


def max_rss_mb() -> float:
    """This process's peak resident memory. VmHWM is reset by exec (ru_maxrss survives fork+exec on
    Linux, so a child would report its parent's peak); other systems fall back to ru_maxrss."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_app(url: str):
    from app import create_app

    return create_app("development", SQLALCHEMY_DATABASE_URI=url, DEMO_MODE=False)


def prepare(url: str, rows: int) -> None:
    """Create the database if needed, build the tables, and insert ``rows`` payment orders."""
    from sqlalchemy import create_engine, insert, text
    from sqlalchemy.engine import make_url

    target = make_url(url)
    if target.get_backend_name() == "mysql":
        server = create_engine(target.set(database=""))
        with server.begin() as conn:
            conn.execute(text(f"CREATE DATABASE IF NOT EXISTS `{target.database}` CHARACTER SET utf8mb4"))
        server.dispose()
    app = make_app(url)
    from flask_appbuilder import Model

    from app.extensions import db
    from app.models import ChannelUser, Patient, PaymentOrder

    with app.app_context():
        Model.metadata.drop_all(db.engine)
        Model.metadata.create_all(db.engine)
        rng = random.Random(200_000)
        now = dt.datetime(2026, 11, 1)
        with db.engine.begin() as conn:
            conn.execute(insert(ChannelUser), [{"id": i + 1, "channel": "wechat", "channel_uid": f"b{i}",
                                                "created_at": now, "updated_at": now} for i in range(1000)])
            conn.execute(insert(Patient), [{"id": i + 1, "owner_id": i + 1, "name": "欧阳娜娜", "phone": "13800138000",
                                            "card_no": f"C{i:06d}", "channel": "wechat", "bound_at": now,
                                            "relation": "self", "status": "bound", "is_default": True,
                                            "created_at": now, "updated_at": now} for i in range(1000)])
        batch = []
        started = time.perf_counter()
        for n in range(rows):
            paid = now + dt.timedelta(seconds=n * 7)
            amount = rng.randrange(500, 300000)
            batch.append({"order_no": f"MZ{n:022d}", "kind": ("registration", "outpatient", "deposit")[n % 3],
                          "owner_id": n % 1000 + 1, "patient_id": n % 1000 + 1,
                          "channel": "wechat" if n % 2 else "alipay", "amount_fen": amount,
                          "refunded_fen": amount if n % 37 == 0 else 0, "description": "门诊缴费",
                          "status": "refunded" if n % 37 == 0 else "confirmed", "channel_trade_no": f"T{n:030d}",
                          "business_ref": f"B{n:08d}", "paid_at": paid, "created_at": paid, "updated_at": paid,
                          "his_attempts": 0})
            if len(batch) == 10_000:
                with db.engine.begin() as conn:
                    conn.execute(insert(PaymentOrder), batch)
                batch = []
        if batch:
            with db.engine.begin() as conn:
                conn.execute(insert(PaymentOrder), batch)
        print(f"filled {rows:,} payment orders in {time.perf_counter() - started:.1f}s")


def child_service(url: str, out: str) -> None:
    """The platform's path: keyset batches read with yield_per, masked values, constant-memory sheet."""
    app = make_app(url)
    from app.models import PaymentOrder
    from app.reports import exports

    with app.app_context():
        base = max_rss_mb()
        started = time.perf_counter()
        written = exports.write_orders(out, exports.payment_rows_select({}), PaymentOrder.id,
                                       exports.PAYMENT_COLUMNS, exports.payment_values(), "缴费订单",
                                       on_progress=lambda done: None)
        seconds = time.perf_counter() - started
    print(f"{written} {seconds:.3f} {max_rss_mb():.1f} {base:.1f}")


def child_bare(url: str, out: str) -> None:
    """The floor: one streaming PyMySQL cursor and write_row into a constant-memory workbook."""
    import pymysql
    import pymysql.cursors
    import xlsxwriter
    from sqlalchemy.engine import make_url

    target = make_url(url)
    base = max_rss_mb()
    started = time.perf_counter()
    conn = pymysql.connect(host=target.host, port=target.port or 3306, user=target.username,
                           password=target.password or "", database=target.database, charset="utf8mb4",
                           cursorclass=pymysql.cursors.SSCursor)
    book = xlsxwriter.Workbook(out, {"constant_memory": True})
    sheet = book.add_worksheet("orders")
    written = 0
    with conn.cursor() as cur:
        cur.execute("SELECT p.order_no, p.kind, pt.name, pt.card_no, pt.phone, p.business_ref, p.channel, p.status,"
                    " p.amount_fen, p.refunded_fen, p.channel_trade_no, p.created_at, p.paid_at, p.description"
                    " FROM payment_order p JOIN patient pt ON pt.id = p.patient_id ORDER BY p.id")
        for row in cur:
            written += 1
            sheet.write_row(written, 0, [str(v) if isinstance(v, dt.datetime) else v for v in row])
    book.close()
    conn.close()
    print(f"{written} {time.perf_counter() - started:.3f} {max_rss_mb():.1f} {base:.1f}")


def run_child(kind: str, url: str) -> tuple[int, float, float, float]:
    out = os.path.join(os.environ["INSTANCE_DIR"], f"{kind}.xlsx")
    result = subprocess.run([sys.executable, __file__, "--child", kind, "--url", url, "--out", out],
                            capture_output=True, text=True, check=True)
    rows, seconds, peak, base = result.stdout.strip().splitlines()[-1].split()
    return int(rows), float(seconds), float(peak), float(base)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--skip-fill", action="store_true", help="reuse the rows of a previous run")
    parser.add_argument("--child", choices=["service", "bare"], help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "service":
        return child_service(args.url, args.out)
    if args.child == "bare":
        return child_bare(args.url, args.out)
    if not args.skip_fill:
        prepare(args.url, args.rows)
    service = run_child("service", args.url)
    bare = run_child("bare", args.url)
    print(f"{'':24}{'rows':>10}{'seconds':>10}{'rows/s':>10}{'peak RSS MB':>13}{'growth MB':>11}")
    for name, (rows, seconds, peak, base) in (("export service", service), ("bare xlsxwriter loop", bare)):
        print(f"{name:24}{rows:>10,}{seconds:>10.2f}{rows / seconds:>10,.0f}{peak:>13.1f}{peak - base:>11.1f}")
    print(f"ratio (bare seconds / service seconds): {bare[1] / service[1]:.2f}  "
          f"(1.00 = as fast as the bare loop; the service also masks, labels, totals and reports progress)")
    if service[0] != bare[0]:
        sys.exit(f"row counts differ: service {service[0]} vs bare {bare[0]}")


if __name__ == "__main__":
    main()
