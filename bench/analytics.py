"""Benchmark: 交易统计, 数据分析 and the back-office lists at a busy hospital's volume on MariaDB.

    .venv/bin/python bench/analytics.py                 # a year: 1,000,000 payments, 350,000 bookings
    .venv/bin/python bench/analytics.py --scale 0.05    # a quick run, 50,000 payments
    .venv/bin/python bench/analytics.py --reuse         # keep the data of the previous run of that scale
    .venv/bin/python bench/analytics.py --reuse --lists-only   # only the order lists, data untouched

It builds its own database (``bench_perf`` by default) with the real migrations, bulk-inserts a year
of orders ending now (payments, refunds, bookings, cards, follows; today's up to this moment),
rebuilds the daily rollups as ``flask rollups rebuild`` does, refunds some of the last week's
payments (those days are then read from the order tables: timed) until the 10-minute refresh
rebuilds them (the clock moved on past the margin), then in one run:

- for each figure (交易统计 of a day, 30 days, a year; 数据分析 of 30 days and a year): the time from
  the rollups (median of 3) beside the same figure from the order tables (the baseline), their
  ratio (target ≥ 20×) and whether they are equal to the fen;
- each back-office page as staff open it (signed in, the whole page rendered): the statistics and
  analytics pages and the main lists with their default filters; target < 1 s.

Exit 1 when a figure differs or a page is not 200. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import statistics as stats_
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HUEY_URL", "memory://")
os.environ.setdefault("INSTANCE_DIR", tempfile.mkdtemp(prefix="bench-analytics-"))

DEFAULT_URL = "mysql+pymysql://root@127.0.0.1:3306/bench_perf?charset=utf8mb4"
PAYMENTS, BOOKINGS, CARDS, FOLLOWS = 1_000_000, 350_000, 150_000, 200_000
DAYS = 365
ADMIN, PASSWORD = "benchadmin", "Bench-admin-2026!"
BATCH = 20_000


def make_app(url: str):
    from app import create_app

    return create_app("development", SQLALCHEMY_DATABASE_URI=url, DEMO_MODE=False, WTF_CSRF_ENABLED=False,
                      RATELIMIT_ENABLED=False)


def _insert(conn, model, rows: list[dict]) -> None:
    from sqlalchemy import insert

    for i in range(0, len(rows), BATCH):
        conn.execute(insert(model), rows[i:i + BATCH])
        conn.commit()  # a transaction per batch: InnoDB's undo log stays small


def create_database(url: str) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    target = make_url(url)
    server = create_engine(target.set(database=""))
    with server.begin() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS `{target.database}`"))
        conn.execute(text(f"CREATE DATABASE `{target.database}` CHARACTER SET utf8mb4"))
    server.dispose()


def build(app, scale: float, seed: int = 11) -> None:
    """Migrate the new database and fill a year of a busy hospital (scaled)."""
    from flask_migrate import upgrade
    from sqlalchemy import text

    from app import clock
    from app.extensions import db
    from app.models import (AppointmentOrder, ChannelUser, Department, Doctor, FollowEvent, Patient, PaymentOrder,
                            Refund, Schedule)

    rnd = random.Random(seed)
    started = time.perf_counter()
    with app.app_context():
        upgrade()
        sm = app.appbuilder.sm
        sm.sync_hospital_roles()
        sm.add_user(ADMIN, "Bench", "Admin", "bench@example.com", sm.find_role("Admin"), PASSWORD)
        db.session.commit()

        now = clock.utcnow().replace(microsecond=0)
        settled = now - dt.timedelta(minutes=30)  # everything before this is in the rollups about to be built
        today = clock.today()
        first = today - dt.timedelta(days=DAYS - 1)
        lo = clock.beijing_day_start_utc(first)
        span = int((now - lo).total_seconds())

        def moments(n: int) -> list[dt.datetime]:
            """n instants over the year up to now, in time order (ids grow with time, as in production)."""
            return sorted(lo + dt.timedelta(seconds=rnd.randrange(span)) for _ in range(n))

        n_cards, n_bookings, n_payments, n_follows = (int(x * scale) for x in (CARDS, BOOKINGS, PAYMENTS, FOLLOWS))
        with db.engine.connect() as conn:
            conn.execute(text("SET unique_checks=0, foreign_key_checks=0"))
            dept = Department(code="BENCH", name="产科")
            db.session.add(dept)
            db.session.flush()
            doctor = Doctor(code="BENCHDR", name="李医生", department_id=dept.id)
            db.session.add(doctor)
            db.session.flush()
            schedule = Schedule(his_schedule_id="BENCH", doctor_id=doctor.id, department_id=dept.id,
                                clinic_date=today, half_day="am", fee_fen=1000)
            db.session.add(schedule)
            db.session.commit()

            users, cards = [], []
            for i, at in enumerate(moments(n_cards), start=1):
                channel = "wechat" if rnd.random() < 0.7 else "alipay"
                users.append({"id": i, "channel": channel, "channel_uid": f"u{i:09d}", "nickname": f"患者{i}",
                              "subscribed": True, "created_at": at, "updated_at": at})
                unbound = at + dt.timedelta(days=rnd.randrange(1, 200)) if rnd.random() < 0.05 else None
                unbound = unbound if unbound is not None and unbound < now else None
                cards.append({"id": i, "owner_id": i, "name": rnd.choice(("张晓梅", "王芳", "欧阳娜娜", "李静")),
                              "phone": f"138{i:08d}", "card_no": f"C{i:09d}", "channel": channel,
                              "relation": "self", "status": "unbound" if unbound else "bound", "is_default": True,
                              "bound_at": at, "unbound_at": unbound, "created_at": at,
                              "updated_at": unbound or at})
            _insert(conn, ChannelUser, users)
            _insert(conn, Patient, cards)
            channel_of = {c["id"]: c["channel"] for c in cards}
            del users, cards

            _insert(conn, FollowEvent, [
                {"channel": rnd.choice(("wechat", "wechat", "alipay")), "channel_uid": f"f{i}",
                 "event": "subscribe" if rnd.random() < 0.8 else "unsubscribe", "at": at}
                for i, at in enumerate(moments(n_follows))])

            # bookings, each with its registration payment; then outpatient bills and deposits
            payment_id = refund_id = 0
            payments: list[dict] = []
            refunds: list[dict] = []

            def pay(kind: str, owner: int, at: dt.datetime, amount: int, appointment_id: int | None) -> None:
                nonlocal payment_id, refund_id
                payment_id += 1
                paid = rnd.random() > 0.06
                # as in production: confirmed within a minute; a few the HIS refused; "paid" only in flight
                status = "closed"
                if paid:
                    status = "confirm_failed" if rnd.random() < 0.003 else "confirmed"
                    status = "paid" if now - at < dt.timedelta(minutes=1) else status
                refunded = 0
                if paid and rnd.random() < 0.06:
                    refund_id += 1
                    full = rnd.random() < 0.7
                    refunded = amount if full else amount // 2
                    back = at + dt.timedelta(hours=rnd.choice((1, 5, 30, 200)))
                    if back > settled:  # refunds of this morning come after the rollup (see refund_today)
                        back = at + (settled - at) / 2
                    success = rnd.random() < 0.98
                    status = ("refunded" if full else "partially_refunded") if success else "refunding"
                    refunds.append({"id": refund_id, "refund_no": f"TK{refund_id:020d}", "payment_id": payment_id,
                                    "amount_fen": refunded, "reason": "患者申请", "requested_by": "patient",
                                    "status": "success" if success else "failed", "attempts": 1,
                                    "succeeded_at": back if success else None, "created_at": back,
                                    "updated_at": back})
                payments.append({
                    "id": payment_id, "order_no": f"P{payment_id:020d}", "kind": kind, "owner_id": owner,
                    "patient_id": owner, "appointment_id": appointment_id, "channel": channel_of[owner],
                    "amount_fen": amount, "refunded_fen": refunded if status != "refunding" else 0,
                    "description": kind, "status": status, "paid_at": at if paid else None,
                    "closed_at": None if paid else at + dt.timedelta(minutes=15), "his_attempts": 1,
                    "created_at": at, "updated_at": refunds[-1]["updated_at"] if refunded else at,
                    "channel_trade_no": f"T{payment_id:030d}" if paid else None,
                    "business_ref": f"B{payment_id:010d}"})
                if len(payments) >= BATCH:
                    flush()

            def flush() -> None:
                _insert(conn, PaymentOrder, payments)
                _insert(conn, Refund, refunds)
                payments.clear()
                refunds.clear()

            bookings: list[dict] = []
            for i, at in enumerate(moments(n_bookings), start=1):
                owner = rnd.randrange(1, n_cards + 1)
                fee = rnd.choice((500, 1000, 1000, 2500, 5000))
                confirmed = rnd.random() < 0.9
                bookings.append({
                    "id": i, "order_no": f"GH{i:020d}", "owner_id": owner, "patient_id": owner,
                    "channel": channel_of[owner], "schedule_id": schedule.id, "slice_id": 1,
                    "department_id": dept.id, "doctor_id": doctor.id,
                    "clinic_date": clock.beijing_date(at), "half_day": "am", "start_time": "08:00",
                    "end_time": "08:30", "fee_fen": fee, "status": "visited" if confirmed else "cancelled",
                    "registration_kind": "advance" if rnd.random() < 0.6 else "same_day",
                    "confirmed_at": at if confirmed else None, "paid_at": at if confirmed else None,
                    "created_at": at, "updated_at": at})
                if len(bookings) >= BATCH:
                    _insert(conn, AppointmentOrder, bookings)
                    bookings.clear()
            _insert(conn, AppointmentOrder, bookings)
            others = n_payments - n_bookings
            times = moments(n_bookings)  # the registration fees, in time order with the rest
            merged = sorted([(t, "registration") for t in times]
                            + [(t, "outpatient" if rnd.random() < 0.86 else "deposit") for t in moments(others)])
            booking_no = 0
            for at, kind in merged:
                owner = rnd.randrange(1, n_cards + 1)
                if kind == "registration":
                    booking_no += 1
                    pay(kind, owner, at, rnd.choice((500, 1000, 2500, 5000)), booking_no)
                elif kind == "outpatient":
                    pay(kind, owner, at, rnd.randrange(300, 80000), None)
                else:
                    pay(kind, owner, at, rnd.choice((100000, 200000, 500000)), None)
            flush()
    print(f"built {n_payments:,} payments, {n_bookings:,} bookings, {n_cards:,} cards, {n_follows:,} follows "
          f"in {time.perf_counter() - started:.0f} s")


def refund_today(count: int, seed: int = 12) -> int:
    """Refund ``count`` payments of the last week now, after the rollups were built, as the day goes on
    (guarded UPDATE and a refund row): their days are then read from the order tables until the night."""
    from sqlalchemy import insert, select, update

    from app import clock
    from app.extensions import db
    from app.models import PaymentOrder, Refund

    rnd = random.Random(seed)
    now = clock.utcnow()
    ids = db.session.scalars(select(PaymentOrder.id).where(
        PaymentOrder.paid_at >= now - dt.timedelta(days=7), PaymentOrder.status == "confirmed")).all()
    chosen = rnd.sample(ids, min(count, len(ids)))
    stamp = time.time_ns() % 10**12  # refund numbers stay unique when the run is repeated (--reuse)
    for n, payment_id in enumerate(chosen):
        amount = db.session.scalar(select(PaymentOrder.amount_fen).where(PaymentOrder.id == payment_id))
        db.session.execute(update(PaymentOrder).where(PaymentOrder.id == payment_id, PaymentOrder.status == "confirmed")
                           .values(status="refunded", refunded_fen=amount))
        db.session.execute(insert(Refund).values(
            refund_no=f"TKT{stamp:012d}{n:05d}", payment_id=payment_id, amount_fen=amount, reason="患者申请",
            requested_by="patient", status="success", attempts=1, succeeded_at=now))
    db.session.commit()
    return len(chosen)


def timed(fn, runs: int) -> tuple[float, object]:
    seconds, result = [], None
    for _ in range(runs):
        t = time.perf_counter()
        result = fn()
        seconds.append(time.perf_counter() - t)
    return stats_.median(seconds), result


def _ms(seconds: float) -> str:
    """Milliseconds as the tables print them: a tenth below 10 ms (a day's figures answer in 1–6 ms)."""
    return f"{seconds * 1000:,.1f} ms" if seconds < 0.01 else f"{seconds * 1000:,.0f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default=DEFAULT_URL)
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 = 1,000,000 payments a year")
    parser.add_argument("--reuse", action="store_true", help="keep the database of a previous run")
    parser.add_argument("--runs", type=int, default=3, help="timed runs of each rollup figure and page")
    parser.add_argument("--lists-only", action="store_true",
                        help="only the back-office order lists (with --reuse: no data changed, minutes not hours)")
    args = parser.parse_args()

    if not args.reuse:
        create_database(args.url)
    app = make_app(args.url)
    if not args.reuse:
        build(app, args.scale)
    from sqlalchemy import func, select, text

    from app import clock
    from app.extensions import db
    from app.models import AppointmentOrder, PaymentOrder
    from app.services import settings
    from app.reports import analytics, rollups, statistics

    if args.lists_only:
        return time_lists(app, args.runs)
    failed = False
    with app.app_context():
        today = clock.today()
        payments = db.session.scalar(select(func.count()).select_from(PaymentOrder))
        bookings = db.session.scalar(select(func.count()).select_from(AppointmentOrder))
        print(f"data: {payments:,} payments, {bookings:,} bookings, today {today} (Beijing)")
        t = time.perf_counter()
        run = rollups.build(today - dt.timedelta(days=DAYS), today)
        print(f"rollups rebuild of {run.days} days: {time.perf_counter() - t:.1f} s")
        changed = refund_today(max(5, int(160 * args.scale)))
        plan = rollups.plan(today - dt.timedelta(days=29), today)
        seconds, _ = timed(lambda: statistics.transaction_statistics(today - dt.timedelta(days=29), today).by("day"),
                           args.runs)
        print(f"{changed} payments of the last week refunded since: 交易统计 of 30 days reads "
              f"{30 - len(plan.rollup_days)} days from the order tables until the next refresh: "
              f"{seconds * 1000:.0f} ms")
        clock.travel(clock.now() + rollups.MARGIN + dt.timedelta(minutes=1))  # the 10-minute refresh comes
        t = time.perf_counter()
        run = rollups.refresh()
        print(f"refresh: {run.days} changed days rebuilt in {time.perf_counter() - t:.2f} s")

        yesterday = today - dt.timedelta(days=1)
        year = today - dt.timedelta(days=365)
        month = today - dt.timedelta(days=29)
        def trade(first, last):
            """交易统计 as its page reads it: the total, each grouping and the chart."""
            def view(fast):
                stats = statistics.transaction_statistics(first, last, rollups=fast)
                return (stats.total, *(stats.by(*d) for d in (("channel",), ("kind",), ("status",), ("day",))),
                        statistics.daily_series(stats)), stats
            return view

        def analysis(first, last, channel=None):
            """数据分析 as its page reads it: every series per channel and the summary."""
            def view(fast):
                data = analytics.compute(first, last, channel, rollups=fast)
                return ({name: [data.daily(name, c) for c in analytics.CHANNELS] for name in data.series},
                        data.summary()), None
            return view

        figures = [
            ("交易统计, yesterday", trade(yesterday, yesterday)),
            ("交易统计, 30 days", trade(month, today)),
            ("交易统计, a year", trade(year, today)),
            ("数据分析, 30 days", analysis(month, today)),
            ("数据分析, 30 days, 服务号", analysis(month, today, "wechat")),
            ("数据分析, a year", analysis(year, today)),
        ]
        plan = rollups.plan(year, today)
        print(f"a year's plan: {len(plan.rollup_days)} days from the rollups, live runs {plan.live_runs}")
        print()
        print("| figure | order tables | rollups + today | ratio | equal |")
        print("|---|---|---|---|---|")
        slow_of: dict[str, float] = {}
        for name, figure in figures:
            db.session.remove()
            slow, (expected, slow_stats) = timed(lambda f=figure: f(False), 1)
            db.session.remove()
            figure(True)  # a serving process has built and compiled this view's statement once
            fast, (got, fast_stats) = timed(lambda f=figure: f(True), args.runs)
            # the finest rows too (the export's detail sheet), untimed: the page does not read them
            equal = got == expected and (slow_stats is None or fast_stats.rows == slow_stats.rows)
            failed |= not equal
            print(f"| {name} | {_ms(slow)} | {_ms(fast)} | {slow / fast:,.1f}× | "
                  f"{'yes' if equal else 'NO'} |")
            slow_of[name] = slow
        # the floor of any answer that asks the database: one empty round trip through the same session
        db.session.remove()
        empty, _ = timed(lambda: db.session.execute(text("SELECT 1")).all(), 200)
        day = slow_of[figures[0][0]]
        print(f"\nfloor: one empty round trip through the session (SELECT 1) {empty * 1000:.3f} ms; 20× faster than "
              f"the order tables' one day ({_ms(day)}) is {day / 20 * 1000:.3f} ms = {day / 20 / empty:.1f} empty "
              f"round trips, for the plan's check that the day is unchanged and the day's rows")
        # the bench's administrator signs in with a password only, as the demo accounts do
        settings.set_value("security.totp_required_roles", "none", by="bench")
        db.session.commit()
        db.session.remove()

    client = app.test_client()
    response = client.post("/login/", data={"username": ADMIN, "password": PASSWORD})
    if response.status_code != 302 or client.get("/").status_code != 200:
        print("could not sign in:", response.status_code, response.get_data(as_text=True)[:300])
        return 1
    y = (today - dt.timedelta(days=1)).isoformat()
    pages = [
        ("首页", "/"),
        ("交易统计 (default: 30 days)", "/statistics/"),
        ("交易统计, yesterday", f"/statistics/?start={y}&end={y}"),
        ("交易统计, a year", f"/statistics/?start={year.isoformat()}&end={today.isoformat()}"),
        ("数据分析 (default: 30 days)", "/analytics/"),
        ("数据分析, a year", f"/analytics/?start={year.isoformat()}&end={today.isoformat()}"),
        ("预约订单 list", "/appointmentorderview/list/"),
        ("缴费订单 list", "/paymentorderview/list/"),
        ("退费记录 list", "/refundview/list/"),
        ("就诊人 list", "/patientview/list/"),
        ("关注事件 list", "/followeventview/list/"),
        ("订单全链路 by order no.", "/trace/?q=P00000000000000500000"),
        ("订单全链路 by 渠道交易号", "/trace/?q=T" + "500000".zfill(30)),
        ("订单全链路 by 业务单号", "/trace/?q=B0000500000"),
        ("订单全链路 by refund no.", "/trace/?q=TK" + "1000".zfill(20)),
        ("订单全链路 by phone", "/trace/?q=13800012345"),
    ]
    print()
    print("| page | time (median) | status |")
    print("|---|---|---|")
    for name, path in pages:
        codes: list[int] = []

        def get(p=path, seen=codes):
            r = client.get(p)
            seen.append(r.status_code)
            return r

        client.get(path)  # warm the templates
        seconds, _ = timed(get, args.runs)
        ok = set(codes) == {200}
        failed |= not ok
        print(f"| {name} `{path.split('?')[0]}` | {seconds * 1000:,.0f} ms{'' if seconds < 1 else ' (> 1 s)'} | "
              f"{codes[-1]} |")
    print()
    failed |= time_lists(app, args.runs) != 0
    return 1 if failed else 0


def sign_in(app):
    from app.extensions import db
    from app.services import settings

    with app.app_context():  # the bench's administrator signs in with a password only, as the demo accounts do
        settings.set_value("security.totp_required_roles", "none", by="bench")
        db.session.commit()
        db.session.remove()
    client = app.test_client()
    response = client.post("/login/", data={"username": ADMIN, "password": PASSWORD})
    if response.status_code != 302 or client.get("/").status_code != 200:
        print("could not sign in:", response.status_code, response.get_data(as_text=True)[:300])
        return None
    return client


#: every back-office list over the order tables, with its date filter's column
ORDER_LISTS = [("缴费订单", "/paymentorderview/list/", "created_at"),
               ("预约订单", "/appointmentorderview/list/", "created_at"),
               ("预约订单 by 就诊日期", "/appointmentorderview/list/", "clinic_date"),
               ("退费记录", "/refundview/list/", "created_at"),
               ("就诊人", "/patientview/list/", None)]


def time_lists(app, runs: int) -> int:
    """Each order list as staff open it: unfiltered (约 N 笔, no 合计) and with the date presets 今天 and
    本月 (exact count and 合计), the whole page signed in; and how MariaDB reads a month's range."""
    from sqlalchemy import text

    from app import clock
    from app.extensions import db

    client = sign_in(app)
    if client is None:
        return 1
    today = clock.today()
    presets = [("unfiltered", None), ("今天", (today, today)), ("本月", (today.replace(day=1), today))]
    print(f"load average at the start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("| list | condition | time (median) | count shown | status |")
    print("|---|---|---|---|---|")
    failed = False
    for name, path, column in ORDER_LISTS:
        for label, days in presets:
            if days is None and column == "clinic_date":
                continue
            if days is not None and column is None:
                continue
            url = path if days is None else f"{path}?_flt_0_{column}={days[0]}&_flt_1_{column}={days[1]}"
            codes: list[int] = []

            def get(p=url, seen=codes):
                r = client.get(p)
                seen.append(r.status_code)
                return r

            client.get(url)  # warm the templates
            seconds, response = timed(get, runs)
            page = response.get_data(as_text=True)
            shown = page.split("记录数目:</strong>")[-1].split("<")[0].strip() if "记录数目" in page else "?"
            shown = ("约 " if 'data-test="count-estimated"' in page else "") + shown
            ok = set(codes) == {200}
            failed |= not ok
            print(f"| {name} `{path}` | {label} | {seconds * 1000:,.0f} ms{'' if seconds < 1 else ' (> 1 s)'} | "
                  f"{shown} | {codes[-1]} |")
    # a condition without a date range: counted up to fast_lists.COUNT_UP_TO (超过 N 笔, no 合计 above it)
    for name, url in (("缴费订单, 状态 = 已支付, no date", "/paymentorderview/list/?_flt_0_status=paid"),
                      ("缴费订单, 状态 = 已确认, no date", "/paymentorderview/list/?_flt_0_status=confirmed"),
                      ("缴费订单, 渠道 = 服务号, no date", "/paymentorderview/list/?_flt_0_channel=wechat"),
                      ("预约订单, 渠道 = 服务号, no date", "/appointmentorderview/list/?_flt_0_channel=wechat"),
                      ("退费记录, 状态 = 退款成功, no date", "/refundview/list/?_flt_0_status=success"),
                      ("缴费订单, 渠道 = 服务号, 本月", "/paymentorderview/list/?_flt_0_channel=wechat"
                       f"&_flt_0_created_at={today.replace(day=1)}&_flt_1_created_at={today}")):
        client.get(url)
        seconds, response = timed(lambda u=url: client.get(u), runs)
        failed |= response.status_code != 200
        page = response.get_data(as_text=True)
        if 'data-test="record-count-capped"' in page:
            shown = "超过 " + page.split('data-test="record-count-capped"')[1].split("超过")[1].split("<")[0].strip()
        else:
            shown = page.split("记录数目:</strong>")[-1].split("<")[0].strip() if "记录数目" in page else "?"
        totals = "合计" if 'data-test="totals"' in page else "no 合计"
        print(f"| {name} | condition | {seconds * 1000:,.0f} ms{'' if seconds < 1 else ' (> 1 s)'} | "
              f"{shown} ({totals}) | {response.status_code} |")
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with app.app_context():
        start = clock.beijing_day_start_utc(today.replace(day=1))
        for table in ("payment_order", "appointment_order", "refund"):
            plan = db.session.execute(text(f"EXPLAIN SELECT count(*), sum(amount_fen) FROM {table} "
                                           "WHERE created_at >= :s" if table != "appointment_order" else
                                           "EXPLAIN SELECT count(*), sum(fee_fen) FROM appointment_order "
                                           "WHERE created_at >= :s"), {"s": start}).mappings().all()
            print(f"EXPLAIN {table}, this month's 合计:",
                  [(row["type"], row["key"], row["rows"]) for row in plan])
        plan = db.session.execute(text("EXPLAIN SELECT count(*), sum(fee_fen) FROM appointment_order "
                                       "WHERE clinic_date >= :s"), {"s": today.replace(day=1)}).mappings().all()
        print("EXPLAIN appointment_order, this month's 就诊日期 合计:",
              [(row["type"], row["key"], row["rows"]) for row in plan])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
