"""Hot-slot benchmark: two gunicorn app processes on MariaDB, K patients racing for one doctor's 30
slots, booking throughput against the database's own ceiling, slot queries against bare health; the
CPU the app servers spend per booking against per bare health request (read from /proc), and how long
a booking holds the hot slice row (its ``hospital_slot_hold_seconds`` metric) beside a bare
UPDATE+COMMIT. The HIS simulator runs as its own gunicorn over the signed HTTP contract (``--his http``,
the default: the hospital's HIS is another system) or inside the app processes (``--his inprocess``).

    .venv/bin/python bench/booking_race.py            # MariaDB at 127.0.0.1:3306, databases bench_booking*
    .venv/bin/python bench/booking_race.py --clients 1000 --bookings 3000 --threads 32 --page-cache ""

It builds its own databases (platform: ``bench_booking``; HIS simulator: ``bench_booking_his``),
migrates, seeds the simulated hospital, syncs it, adds K + N patients with HIS cards, then starts two
gunicorn servers (each ``--workers`` gthread workers) and drives both over HTTP exactly as the H5
page does (POST /h5/booking/slices/<id>/confirm with a signed-in session; CSRF is off for the
benchmark clients). Prints one report and exits 1 on any correctness breach (accepted != slots,
anything oversold, any 5xx, counters that disagree).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

import pymysql
import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEFAULT_DB = "mysql+pymysql://root@127.0.0.1:3306/bench_booking?charset=utf8mb4"
RACE_SCHEDULE, HOT_SCHEDULE = "SBENCHRACE", "SBENCHHOT"
FEE_FEN = 1000


HIS_APP_ID, HIS_SECRET = "bench-platform", "bench-his-secret-0123456789abcdef"


def make_app():
    """The gunicorn factory: the embedded configuration pointed at the benchmark databases; the HIS
    in-process (the simulator on its own database) or, with BENCH_HIS_BASE, over its HTTP contract."""
    from app import create_app

    his: dict = {}
    if os.environ.get("BENCH_SELF_URL"):  # its own address: the close sweep asks the sandbox this server serves
        own = os.environ["BENCH_SELF_URL"]
        his.update(SANDBOX_BASE_URL=f"{own}/sandbox", PUBLIC_BASE_URL=own)
    if os.environ.get("BENCH_HIS_BASE"):
        his |= {"HIS_MODE": "http", "HIS_BASE_URL": os.environ["BENCH_HIS_BASE"], "HIS_APP_ID": HIS_APP_ID,
               "HIS_SECRET": HIS_SECRET}
    return create_app("development", SQLALCHEMY_DATABASE_URI=os.environ["BENCH_DB_URL"],
                      HIS_SIMULATOR_URL=os.environ["BENCH_HIS_URL"], WTF_CSRF_ENABLED=False, **his,
                      SLOT_PAGE_CACHE_URL=os.environ.get("BENCH_PAGE_CACHE_URL", ""),
                      SQLALCHEMY_ENGINE_OPTIONS={"pool_pre_ping": True,
                                                 "pool_size": int(os.environ.get("BENCH_POOL", "8")),
                                                 "max_overflow": 0, "pool_timeout": 60})


def make_his():
    """The gunicorn factory of the hospital's side: the simulator behind the signed HTTP contract."""
    from doubles.his.server import create_his_server

    return create_his_server(os.environ["BENCH_HIS_URL"], HIS_APP_ID, HIS_SECRET)


# -- set-up ------------------------------------------------------------------------------------------

def recreate_database(url: str) -> None:
    parts = urlparse(url)
    name = parts.path.lstrip("/")
    conn = pymysql.connect(host=parts.hostname, port=parts.port or 3306, user=parts.username or "root",
                           password=parts.password or "", autocommit=True)
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    conn.close()


def prepare(db_url: str, his_url: str, clients: int, bookings: int, slots: int) -> dict:
    """Migrate, seed, sync; the race session (``slots`` places of capacity 1) and the hot session
    (one slice with room for the whole run); K + N patients with HIS cards and signed-in sessions."""
    from flask_migrate import upgrade
    from sqlalchemy import insert, select

    from app import clock
    from app.extensions import db
    from doubles.his.simulator import seed
    from doubles.his.simulator.db import make_engine
    from doubles.his.simulator.models import DoctorRow, PatientRow, ScheduleRow, SliceRow
    from app.models import ChannelUser, Patient, Schedule, ScheduleSlice
    from app.models.base import utcnow
    from app.security.sessions import PATIENT_EPOCH, PATIENT_SINCE
    from app.registration.schedules import sync_from_his
    from h5.auth import ACTIVE_KEY, SESSION_KEY

    for url in (db_url, his_url):
        recreate_database(url)
    seed(his_url)
    tomorrow = clock.today() + dt.timedelta(days=1)
    engine = make_engine(his_url)
    with engine.begin() as conn:
        doctor = conn.execute(select(DoctorRow).where(DoctorRow.department_code == "RH")).first()
        for schedule_id, half, count, capacity in ((RACE_SCHEDULE, "am", slots, 1), (HOT_SCHEDULE, "pm", 1, 10**7)):
            conn.execute(insert(ScheduleRow).values(schedule_id=schedule_id, doctor_code=doctor.code,
                                                    department_code="RH", clinic_date=tomorrow, half_day=half,
                                                    fee_fen=FEE_FEN, status="open"))
            base = 8 * 60 if half == "am" else 14 * 60
            conn.execute(insert(SliceRow), [
                {"slice_id": f"{schedule_id}-{i:02d}", "schedule_id": schedule_id, "seq": i,
                 "start": f"{(base + 5 * (i - 1)) // 60:02d}:{(base + 5 * (i - 1)) % 60:02d}",
                 "end": f"{(base + 5 * i) // 60:02d}:{(base + 5 * i) % 60:02d}", "capacity": capacity,
                 "remaining": capacity} for i in range(1, count + 1)])
        conn.execute(insert(PatientRow), [
            {"patient_id": f"B{i:09d}", "card_no": f"BC{i:010d}", "name": f"压测{i}", "id_number": f"BENCH{i:013d}",
             "gender": "F", "birth_date": dt.date(1990, 1, 1), "phone": "13800000000",
             "created_at": dt.datetime(2024, 1, 1)} for i in range(clients + bookings)])
    engine.dispose()

    os.environ["BENCH_DB_URL"], os.environ["BENCH_HIS_URL"] = db_url, his_url
    app = make_app()
    with app.app_context():
        upgrade(directory=str(ROOT / "migrations"))
        sync_from_his(days=2)
        now = utcnow()
        db.session.execute(insert(ChannelUser), [
            {"channel": "wechat", "channel_uid": f"bench-{i}", "nickname": f"压测{i}", "created_at": now,
             "updated_at": now} for i in range(clients + bookings)])
        users = dict(db.session.execute(select(ChannelUser.channel_uid, ChannelUser.id)
                                        .where(ChannelUser.channel_uid.like("bench-%"))).all())
        db.session.execute(insert(Patient), [
            {"owner_id": users[f"bench-{i}"], "name": f"压测{i}", "id_number": f"BENCH{i:013d}",
             "gender": "female", "birth_date": dt.date(1990, 1, 1), "relation": "self",
             "card_no": f"BC{i:010d}", "is_default": True, "status": "bound", "channel": "wechat",
             "bound_at": now, "created_at": now, "updated_at": now} for i in range(clients + bookings)])
        db.session.commit()
        patients = dict(db.session.execute(select(Patient.owner_id, Patient.id)
                                           .where(Patient.card_no.like("BC%"))).all())
        serializer = app.session_interface.get_signing_serializer(app)
        people = []
        for i in range(clients + bookings):
            uid = users[f"bench-{i}"]
            # as h5.auth.login_user writes it: the session epoch and its start are checked on every request
            cookie = serializer.dumps({SESSION_KEY: uid, ACTIVE_KEY: (now + dt.timedelta(hours=2)).isoformat(),
                                       PATIENT_SINCE: now.isoformat(), PATIENT_EPOCH: 0, "_permanent": True})
            people.append((cookie, patients[uid]))
        race = db.session.scalar(select(Schedule).where(Schedule.his_schedule_id == RACE_SCHEDULE))
        hot = db.session.scalar(select(Schedule).where(Schedule.his_schedule_id == HOT_SCHEDULE))
        race_slices = list(db.session.scalars(select(ScheduleSlice.id).where(ScheduleSlice.schedule_id == race.id)
                                              .order_by(ScheduleSlice.id)))
        hot_slice = db.session.scalar(select(ScheduleSlice.id).where(ScheduleSlice.schedule_id == hot.id))
        return {"people": people, "race_slices": race_slices, "hot_slice": hot_slice, "doctor_id": race.doctor_id,
                "day": tomorrow.isoformat(), "cookie_name": app.config.get("SESSION_COOKIE_NAME", "session"),
                "app": app}


# -- servers -----------------------------------------------------------------------------------------

def start_servers(ports: list[int], workers: int, threads: int, env: dict,
                  procs: list[subprocess.Popen] | None = None, factory: str = "bench.booking_race:make_app()",
                  probe: str = "/api/health/live") -> list[subprocess.Popen]:
    """Start one gunicorn per port; ``procs`` collects them as they start (the caller stops them).
    Each app server counts its metrics in a directory of its own (prometheus-client multiprocess)."""
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    procs = [] if procs is None else procs
    for port in ports:
        metrics_dir = Path(env["INSTANCE_DIR"]) / f"metrics-{port}"
        metrics_dir.mkdir(parents=True, exist_ok=True)
        procs.append(subprocess.Popen(
            [gunicorn, "-w", str(workers), "-k", "gthread", "--threads", str(threads), "-b", f"127.0.0.1:{port}",
             "--keep-alive", "30",
             "--chdir", str(ROOT), "--log-level", "warning", "--timeout", "120", factory],
            env=dict(env, PROMETHEUS_MULTIPROC_DIR=str(metrics_dir), BENCH_SELF_URL=f"http://127.0.0.1:{port}"),
            stdout=subprocess.DEVNULL,
            stderr=open(Path(env["INSTANCE_DIR"]) / f"gunicorn-{port}.log", "w")))
    deadline = time.monotonic() + 180
    for port in ports:
        while True:
            try:
                if requests.get(f"http://127.0.0.1:{port}{probe}", timeout=10).status_code in (200, 401):
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"gunicorn on port {port} did not start (see {env['INSTANCE_DIR']})")
            time.sleep(0.3)
    return procs


# -- load ---------------------------------------------------------------------------------------------

def run_parallel(jobs: list, threads: int, fn) -> tuple[list, float]:
    """Run fn(job) for every job on ``threads`` threads; returns (results, seconds)."""
    results: list = [None] * len(jobs)
    index = iter(range(len(jobs)))
    lock = threading.Lock()

    def worker():
        session = requests.Session()
        # one keep-alive connection per client thread; a read (GET) whose pooled connection the server
        # had already closed is sent again on a fresh one, as a browser would. POSTs are never retried.
        retry = Retry(total=2, connect=2, read=2, status=0, allowed_methods=frozenset({"GET"}), backoff_factor=0)
        session.mount("http://", HTTPAdapter(pool_connections=2, pool_maxsize=2, max_retries=retry))
        while True:
            with lock:
                i = next(index, None)
            if i is None:
                return
            try:
                results[i] = fn(session, jobs[i])
            except requests.RequestException as exc:
                results[i] = f"transport:{type(exc).__name__}"

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    start = time.perf_counter()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return results, time.perf_counter() - start


def book_request(base: str, cookie_name: str, cookie: str, patient_id: int, slice_id: int,
                 session: requests.Session | None = None) -> tuple[str, float]:
    if session is not None:
        session.cookies.clear()  # each booking is another patient's session: never the previous one's
    started = time.perf_counter()
    try:
        response = (session or requests).post(f"{base}/h5/booking/slices/{slice_id}/confirm",
                                              data={"patient_id": patient_id}, cookies={cookie_name: cookie},
                                              allow_redirects=False, timeout=120)
    except requests.RequestException as exc:
        return f"transport:{type(exc).__name__}", time.perf_counter() - started
    elapsed = time.perf_counter() - started
    location = response.headers.get("Location", "")
    if response.status_code == 303 and "/h5/pay/" in location:
        return "accepted", elapsed
    if response.status_code == 303 and "/h5/booking/doctors/" in location:
        return "full", elapsed
    if response.status_code >= 500:
        return "server_error", elapsed
    return f"refused:{response.status_code}", elapsed


def process_tree_cpu(procs: list[subprocess.Popen]) -> float:
    """CPU seconds (user + system) used so far by these gunicorn masters and all their workers."""
    ticks = os.sysconf("SC_CLK_TCK")
    pids = {p.pid for p in procs}
    frontier = list(pids)
    while frontier:
        pid = frontier.pop()
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            continue
        for child in map(int, children):
            if child not in pids:
                pids.add(child)
                frontier.append(child)
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / ticks


def hold_seconds(bases: list[str]) -> tuple[float, int]:
    """Sum and count of the booking's hot-row hold (guarded UPDATE to COMMIT) from every server's /metrics."""
    from prometheus_client.parser import text_string_to_metric_families

    total = count = 0.0
    for base in bases:
        text = requests.get(f"{base}/metrics", timeout=30).text
        for family in text_string_to_metric_families(text):
            if family.name == "hospital_slot_hold_seconds":
                for sample in family.samples:
                    if sample.name.endswith("_sum"):
                        total += sample.value
                    elif sample.name.endswith("_count"):
                        count += sample.value
    return total, int(count)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))] if ordered else 0.0


def ceiling(db_url: str, slice_id: int, threads: int, total: int, holds: list[float] | None = None) -> float:
    """The physical ceiling: PyMySQL threads doing only the conditional UPDATE on the hot row and its
    COMMIT; ``holds`` collects each UPDATE-to-COMMIT time (the bare hold a booking is compared with)."""
    parts = urlparse(db_url)
    per_thread = max(total // threads, 1)
    holds = [] if holds is None else holds

    def hammer():
        conn = pymysql.connect(host=parts.hostname, port=parts.port or 3306, user=parts.username or "root",
                               password=parts.password or "", database=parts.path.lstrip("/"), autocommit=False)
        mine = []
        with conn.cursor() as cur:
            for _ in range(per_thread):
                cur.execute("UPDATE schedule_slice SET booked = booked + 1 WHERE id = %s AND booked < capacity",
                            (slice_id,))
                started = time.perf_counter()  # the row is ours from here to the end of the COMMIT
                conn.commit()
                mine.append(time.perf_counter() - started)
        conn.close()
        holds.extend(mine)

    pool = [threading.Thread(target=hammer) for _ in range(threads)]
    start = time.perf_counter()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return per_thread * threads / (time.perf_counter() - start)


def verify(db_url: str, his_url: str, race_slices: list[int], hot_slice: int) -> dict:
    """Count what the databases hold: places taken versus capacity, on both sides."""
    from sqlalchemy import create_engine, text

    engine = create_engine(db_url)
    active = "('holding','pending_payment','paid','booked')"
    with engine.connect() as conn:
        rows = conn.execute(text(
            f"SELECT s.id, s.capacity, s.booked, s.his_slice_id, (SELECT COUNT(*) FROM appointment_order o "
            f"WHERE o.slice_id = s.id AND o.status IN {active}) AS live FROM schedule_slice s WHERE s.id IN "
            f"({','.join(str(i) for i in [*race_slices, hot_slice])})")).all()
    engine.dispose()
    his = create_engine(his_url)
    with his.connect() as conn:
        locks = dict(conn.execute(text(
            "SELECT slice_id, COUNT(*) FROM his_locks WHERE status IN ('locked','confirmed') GROUP BY slice_id")).all())
        remaining = dict(conn.execute(text("SELECT slice_id, remaining FROM his_slices WHERE slice_id LIKE 'SBENCH%'"))
                         .all())
    his.dispose()
    oversold = disagree = 0
    for _sid, capacity, booked, his_id, live in rows:
        oversold += max(0, live - capacity) + max(0, booked - capacity) + max(0, locks.get(his_id, 0) - capacity)
        oversold += 1 if remaining.get(his_id, 0) < 0 else 0
        disagree += int(live != booked or locks.get(his_id, 0) != live)
    race_live = sum(r.live for r in rows if r.id in race_slices)
    hot_live = next(r.live for r in rows if r.id == hot_slice)
    return {"oversold": oversold, "disagree": disagree, "race_live": race_live, "hot_live": hot_live}


# -- the waitlist (候补) race ---------------------------------------------------------------------------

def waitlist_race(world: dict, outcomes: list, cancels: int) -> dict:
    """The race session is full after the race: the patients who lost it join its waitlist, then
    ``cancels`` winners cancel at the same moment (one thread each, in-process on the benchmark's
    MariaDB). Each freed place must go to exactly one waiting patient, never more places than freed."""
    from sqlalchemy import func, select

    from app import clock
    from app.extensions import db
    from app.models import AppointmentOrder, Patient, Schedule, ScheduleSlice, WaitlistEntry
    from app.registration.states import LIVE
    from app.registration.commands import cancel_by_patient
    from app.waitlist import commands as waitlist

    app = world["app"]  # one Flask-AppBuilder app per process
    losers = [world["people"][i][1] for i, o in enumerate(outcomes) if o[0] == "full"]
    with app.app_context():
        race = db.session.scalar(select(Schedule).where(Schedule.his_schedule_id == RACE_SCHEDULE))
        winners = db.session.execute(select(AppointmentOrder.owner_id, AppointmentOrder.id).where(
            AppointmentOrder.schedule_id == race.id, AppointmentOrder.status == "pending_payment")
            .order_by(AppointmentOrder.id)).all()[:cancels]
        owners = dict(db.session.execute(select(Patient.id, Patient.owner_id)
                                          .where(Patient.id.in_(losers[:2 * cancels]))).all())
        waiting = []
        for patient_id in losers[:2 * cancels]:
            waiting.append(waitlist.join(owners[patient_id], patient_id, race.id).id)
        race_id = race.id
    barrier = threading.Barrier(len(winners))
    failures: list[str] = []

    def cancel(owner_id: int, order_id: int) -> None:
        with app.app_context():
            barrier.wait()
            try:
                cancel_by_patient(owner_id, order_id)
            except Exception as exc:  # noqa: BLE001 - counted as a breach
                failures.append(type(exc).__name__)

    pool = [threading.Thread(target=cancel, args=tuple(w)) for w in winners]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    with app.app_context():
        offered = db.session.execute(select(WaitlistEntry.id, WaitlistEntry.order_id).where(
            WaitlistEntry.id.in_(waiting), WaitlistEntry.status == "offered")).all()
        oversold = 0
        for s in db.session.scalars(select(ScheduleSlice).where(ScheduleSlice.schedule_id == race_id)):
            live = db.session.scalar(select(func.count()).select_from(AppointmentOrder).where(
                AppointmentOrder.slice_id == s.id, AppointmentOrder.status.in_(LIVE)))
            oversold += max(0, s.booked - s.capacity) + max(0, live - s.capacity) + abs(live - s.booked)
        ready = waitlist.process_offers()
    clock.reset()
    return {"freed": len(winners), "waiting": len(waiting), "offered": len(offered),
            "given_twice": len(offered) - len({o.order_id for o in offered}), "oversold": oversold,
            "ready": ready, "failures": failures}


# -- main ----------------------------------------------------------------------------------------------

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db-url", default=os.environ.get("BENCH_DB_URL", DEFAULT_DB))
    parser.add_argument("--his-url", default=None, help="HIS simulator database (default: <db>_his)")
    parser.add_argument("--clients", type=int, default=1000, help="K patients racing (default 1000)")
    parser.add_argument("--slots", type=int, default=30)
    parser.add_argument("--bookings", type=int, default=2000, help="bookings in the throughput run")
    parser.add_argument("--threads", type=int, default=32, help="client threads for throughput/queries")
    parser.add_argument("--queries", type=int, default=3000)
    parser.add_argument("--workers", type=int, default=2, help="gthread workers per gunicorn process")
    parser.add_argument("--server-threads", type=int, default=8,
                        help="threads per worker (MariaDB allows 151 connections; each thread may hold two)")
    parser.add_argument("--ports", default="5311,5312")
    parser.add_argument("--his", choices=("http", "inprocess"), default="http",
                        help="the HIS simulator as its own gunicorn over the signed HTTP contract (as the "
                             "hospital's HIS is another system), or inside the app processes")
    parser.add_argument("--his-port", type=int, default=5313)
    parser.add_argument("--waitlist-cancels", type=int, default=10,
                        help="winners who cancel at once while the losers wait (候补 race)")
    parser.add_argument("--page-cache", default=os.environ.get("BENCH_PAGE_CACHE_URL", "redis://127.0.0.1:6379/0"),
                        help="Redis for the slot page's one-second cache, as in production ('' for none)")
    args = parser.parse_args()
    his_url = args.his_url
    if not his_url:
        parts = urlparse(args.db_url)
        his_url = args.db_url.replace(parts.path, parts.path + "_his", 1)
    instance = tempfile.mkdtemp(prefix="bench-booking-")
    os.environ.update(INSTANCE_DIR=instance, HUEY_URL="memory://")

    print(f"preparing: platform {args.db_url.split('@')[-1]}, HIS {his_url.split('@')[-1]}, "
          f"{args.clients}+{args.bookings} patients ...", flush=True)
    world = prepare(args.db_url, his_url, args.clients, args.bookings, args.slots)
    env = dict(os.environ, BENCH_DB_URL=args.db_url, BENCH_HIS_URL=his_url, INSTANCE_DIR=instance,
               HUEY_URL="memory://", PYTHONPATH=str(ROOT), BENCH_POOL=str(args.server_threads),
               BENCH_PAGE_CACHE_URL=args.page_cache)
    ports = [int(p) for p in args.ports.split(",")]
    bases = [f"http://127.0.0.1:{p}" for p in ports]
    procs: list[subprocess.Popen] = []
    his_procs: list[subprocess.Popen] = []
    breaches: list[str] = []
    try:
        if args.his == "http":
            start_servers([args.his_port], 2, 8, env, his_procs, factory="bench.booking_race:make_his()",
                          probe="/his/v1/health")
            env["BENCH_HIS_BASE"] = f"http://127.0.0.1:{args.his_port}/his/v1"
        start_servers(ports, args.workers, args.server_threads, env, procs)
        # this process cancels winners in the 候补 phase: their unpaid orders are closed at the sandbox cashier
        # that the first server serves (the default config's port 5000 serves nothing here)
        world["app"].config.update(SANDBOX_BASE_URL=f"{bases[0]}/sandbox", PUBLIC_BASE_URL=bases[0])
        people, cookie_name = world["people"], world["cookie_name"]
        # 1. the race: K patients at once, each at one of the doctor's slots, alternating servers
        racers = people[:args.clients]
        barrier = threading.Barrier(len(racers))
        outcomes: list[tuple[str, float]] = [("", 0.0)] * len(racers)

        def race(i: int) -> None:
            cookie, patient_id = racers[i]
            barrier.wait()
            outcomes[i] = book_request(bases[i % len(bases)], cookie_name, cookie, patient_id,
                                       world["race_slices"][i % len(world["race_slices"])])

        pool = [threading.Thread(target=race, args=(i,)) for i in range(len(racers))]
        for t in pool:
            t.start()
        for t in pool:
            t.join()
        kinds = [o[0] for o in outcomes]
        latencies = [o[1] for o in outcomes]
        accepted, full = kinds.count("accepted"), kinds.count("full")
        errors = sum(1 for k in kinds if k == "server_error" or k.startswith("transport"))
        other = len(kinds) - accepted - full - errors
        # 2. booking throughput on the hot session (room for everyone), both servers
        hot_jobs = list(enumerate(people[args.clients:args.clients + args.bookings]))
        hold_before = hold_seconds(bases)
        cpu_before = process_tree_cpu(procs)
        results, seconds = run_parallel(
            hot_jobs, args.threads,
            lambda s, job: book_request(bases[job[0] % len(bases)], cookie_name, job[1][0], job[1][1],
                                        world["hot_slice"], s))
        booking_cpu = process_tree_cpu(procs) - cpu_before
        hold_after = hold_seconds(bases)
        hot_ok = sum(1 for r in results if r[0] == "accepted")
        hot_errors = sum(1 for r in results if r[0] != "accepted")
        booking_rate = hot_ok / seconds
        checked = verify(args.db_url, his_url, world["race_slices"], world["hot_slice"])
        bare_holds: list[float] = []
        ceiling_rate = ceiling(args.db_url, world["hot_slice"], args.threads, max(args.bookings, 2000), bare_holds)
        # 3. slot queries versus the same servers' bare health endpoint
        doctor_path = f"/h5/booking/doctors/{world['doctor_id']}?date={world['day']}"
        q_jobs = list(range(args.queries))
        q_results, q_seconds = run_parallel(q_jobs, args.threads, lambda s, i: s.get(
            bases[i % len(bases)] + doctor_path, timeout=60).status_code)
        cpu_before = process_tree_cpu(procs)
        h_results, h_seconds = run_parallel(q_jobs, args.threads, lambda s, i: s.get(
            bases[i % len(bases)] + "/api/health/live", timeout=60).status_code)
        health_cpu = process_tree_cpu(procs) - cpu_before
        # the same page with a query string no one else sends: every request misses the cache and renders
        m_results, m_seconds = run_parallel(q_jobs, args.threads, lambda s, i: s.get(
            bases[i % len(bases)] + doctor_path + f"&fresh={i}", timeout=60).status_code)
        q_rate, h_rate, m_rate = len(q_jobs) / q_seconds, len(q_jobs) / h_seconds, len(q_jobs) / m_seconds
        query_errors = sum(1 for c in [*q_results, *h_results, *m_results] if c != 200)
        # while the servers still run: the cancelled winners' unpaid orders are closed at their sandbox cashier
        wl = waitlist_race(world, outcomes, min(args.waitlist_cancels, accepted))
    finally:
        for proc in [*procs, *his_procs]:
            proc.terminate()
        for proc in [*procs, *his_procs]:
            try:
                proc.wait(40)
            except subprocess.TimeoutExpired:
                proc.kill()

    print()
    print(f"race: {args.clients} patients -> {args.slots} slots of one doctor, 2 gunicorn processes x "
          f"{args.workers} workers")
    print(f"  accepted       {accepted} (must be {min(args.slots, args.clients)})")
    print(f"  slot full      {full}")
    print(f"  other refusals {other}")
    print(f"  oversold       {checked['oversold']} (must be 0)   counters disagreeing: {checked['disagree']}")
    print(f"  server errors  {errors} (must be 0)")
    p50, p99 = statistics.median(latencies) * 1000, percentile(latencies, .99) * 1000
    print(f"  latency p50    {p50:.0f} ms   p99 {p99:.0f} ms")
    from collections import Counter

    not_accepted = Counter(r[0] for r in results if r[0] != "accepted")
    print(f"booking throughput: {booking_rate:.0f} bookings/s ({hot_ok} in {seconds:.1f} s, {args.threads} clients, "
          f"{hot_errors} not accepted: {dict(not_accepted) or '-'})")
    print(f"  ceiling (PyMySQL x{args.threads}, conditional UPDATE only): {ceiling_rate:.0f} updates/s")
    print(f"  ratio {booking_rate / ceiling_rate:.2f} (target >= 0.5)")
    print(f"  HTTP floor: the bare health endpoint on the same servers answers {h_rate:.0f} req/s, "
          f"{h_rate / ceiling_rate:.2f} of the ceiling; a booking cannot cost less than a request that does nothing")
    per_booking = booking_cpu / max(hot_ok, 1) * 1000
    per_health = health_cpu / len(q_jobs) * 1000
    his_where = "HIS over HTTP in its own processes" if args.his == "http" else "HIS simulator inside the app processes"
    print(f"booking / health, CPU of the app servers per request ({his_where}): {per_booking:.1f} ms / "
          f"{per_health:.2f} ms = ratio {per_booking / per_health:.1f} (target <= 4)")
    print(f"  throughput: {booking_rate:.0f} bookings/s vs {h_rate:.0f} health/s = ratio {h_rate / booking_rate:.1f} "
          f"(the load generator and the HIS share the same cores)")
    hold_n = hold_after[1] - hold_before[1]
    hold_mean = (hold_after[0] - hold_before[0]) / max(hold_n, 1) * 1000
    bare_mean = statistics.mean(bare_holds) * 1000 if bare_holds else 0.0
    print(f"hot-row hold (from the guarded UPDATE holding the row to its COMMIT; no HIS call inside): booking "
          f"{hold_mean:.2f} ms mean over {hold_n} bookings, bare UPDATE+COMMIT {bare_mean:.2f} ms "
          f"({args.threads} PyMySQL threads) = ratio "
          f"{hold_mean / bare_mean if bare_mean else 0:.1f}")
    cache = f"one-second page cache in {args.page_cache}" if args.page_cache else "no page cache"
    print(f"slot query ({cache}): {q_rate:.0f} req/s   bare health: {h_rate:.0f} req/s   "
          f"ratio {q_rate / h_rate:.2f} (target >= 0.5)   non-200: {query_errors} "
          f"{dict(Counter(c for c in [*q_results, *h_results, *m_results] if c != 200))}")
    print(f"  every request rendered (cache missed): {m_rate:.0f} req/s   ratio {m_rate / h_rate:.2f}")

    if accepted != min(args.slots, args.clients):
        breaches.append(f"accepted {accepted} != {args.slots}")
    if checked["race_live"] != accepted:
        breaches.append(f"race orders in the database {checked['race_live']} != accepted {accepted}")
    if checked["oversold"]:
        breaches.append(f"oversold {checked['oversold']}")
    if errors or hot_errors or query_errors:
        breaches.append(f"errors: race {errors}, throughput {hot_errors}, queries {query_errors}")
    if checked["disagree"]:
        breaches.append(f"{checked['disagree']} slices where orders, counter and HIS locks disagree")
    print(f"waitlist (候补): {wl['freed']} places freed at once, {wl['waiting']} patients waiting -> "
          f"offered {wl['offered']} (must be {wl['freed']}), given twice {wl['given_twice']}, "
          f"oversold/disagreeing {wl['oversold']} (must be 0), locked at the HIS and ready to pay {wl['ready']}")
    if wl["offered"] != min(wl["freed"], wl["waiting"]) or wl["given_twice"] or wl["oversold"] or wl["failures"]:
        breaches.append(f"waitlist: {wl}")
    if breaches:
        print("CORRECTNESS BREACH: " + "; ".join(breaches))
        return 1
    print("correct: no slot given twice, capacity never exceeded")
    return 0


if __name__ == "__main__":
    sys.exit(main())
