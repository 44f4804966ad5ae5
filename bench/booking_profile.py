"""Where a booking's CPU goes: one process, Flask's test client, a CPU clock (issue 19 item 5).

    .venv/bin/python bench/booking_profile.py                  # 300 bookings, 2,000 health requests
    .venv/bin/python bench/booking_profile.py --bookings 500 --top 40 --dump /tmp/booking.prof

It builds its own databases (``bench_profile`` and ``bench_profile_his`` on MariaDB, as
``bench/booking_race.py`` does), starts the HIS simulator in its own gunicorn behind the signed HTTP
contract (its CPU is another system's, not counted), then in this process books N patients into the
hot session exactly as the H5 confirm page is posted (signed-in session cookie, POST
/h5/booking/slices/<id>/confirm) and asks the bare health endpoint as often. It prints:

- CPU per request (``time.process_time``, this process only) of a booking and of a health request,
  and their ratio, measured interleaved (a booking, then health requests, ...) so the machine's load
  touches both alike;
- a cProfile of the bookings with the CPU clock, cut into the components of a request (request hooks,
  session, patient sign-in, the booking's statements, the payment order, the HIS call and its
  signature, ...) with each one's CPU per booking, and the top functions by own time.

Not part of the test suite; the gunicorn benchmark (``booking_race.py``) stays the measure of record.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import booking_race  # noqa: E402

DEFAULT_DB = "mysql+pymysql://root@127.0.0.1:3306/bench_profile?charset=utf8mb4"

# (component, file fragment, function name): a function's cumulative CPU is charged to its component.
# Nested ones are listed so that each can be read on its own; the report says which contain which.
COMPONENTS = [
    ("whole request (Flask test client)", "flask/app.py", "wsgi_app"),
    ("  before_request hooks", "flask/app.py", "preprocess_request"),
    ("    request id (logging_setup)", "app/logging_setup.py", "_assign_request_id"),
    ("    metrics timer", "app/operations/metrics.py", "_start_timer"),
    ("    staff policy guard", "app/security/__init__.py", "enforce_staff_policy"),
    ("    operator password guard", "app/admin/operators.py", "enforce_password_change"),
    ("  after_request hooks", "flask/app.py", "process_response"),
    ("    security headers + CSP nonce", "app/security_headers.py", "_harden"),
    ("    metrics count", "app/operations/metrics.py", "_count"),
    ("    session cookie save", "flask/sessions.py", "save_session"),
    ("  session cookie open", "flask/sessions.py", "open_session"),
    ("  Flask-Login user loader", "flask_login/login_manager.py", "_load_user"),
    ("  Babel locale", "flask_babel/__init__.py", "get_locale"),
    ("  teardown (session remove)", "flask/app.py", "do_teardown_appcontext"),
    ("  the view h5.booking_confirm", "h5/routes/booking.py", "booking_confirm"),
    ("    patient sign-in (h5.auth.current_user_id)", "h5/auth.py", "current_user_id"),
    ("    ORM ChannelUser (h5.auth.current_user)", "h5/auth.py", "current_user"),
    ("    slice, patient and limits read (booking_facts)", "app/registration/queries.py", "booking_facts"),
    ("    slice load, ORM (bookable_slice)", "app/registration/queries.py", "bookable_slice"),
    ("    registration book", "app/registration/commands.py", "book"),
    ("      hold_slot (rules, order, guarded UPDATE, COMMIT)", "app/registration/commands.py", "hold_slot"),
    ("        owned_patient (ORM)", "", "owned_patient"),
    ("        booking rules (settings)", "app/services/settings.py", "booking_rules"),
    ("        patient limits", "app/registration/rules.py", "check_patient_limits"),
    ("        take_place (guarded UPDATE)", "app/registration/commands.py", "take_place"),
    ("      lock_at_his (journal + metrics + HTTP)", "app/registration/commands.py", "lock_at_his"),
    ("        HttpHis._call", "app/his/http.py", "_call"),
    ("          signed_headers", "app/his/signing.py", "signed_headers"),
    ("          contract decode (from_plain)", "app/his/codec.py", "from_plain"),
    ("      open_cashier (payment order, move, COMMIT)", "app/registration/commands.py", "open_cashier"),
    ("        payments.open_payment_order", "app/payments/commands.py", "open_payment_order"),
    ("        payments.create_payment_order (ORM)", "app/payments/commands.py", "create_payment_order"),
    ("        states.move", "app/services/states.py", "move"),
    ("      states.record (transition INSERTs, all)", "app/services/states.py", "record"),
    ("      unit of work (COMMITs, after-commit hooks)", "app/services/uow.py", "unit_of_work"),
    ("    url_for", "flask/helpers.py", "url_for"),
    ("  SQLAlchemy: Session.commit (all)", "sqlalchemy/orm/session.py", "commit"),
    ("  SQLAlchemy: Session.flush (all)", "sqlalchemy/orm/session.py", "flush"),
    ("  SQLAlchemy: Session.execute (all)", "sqlalchemy/orm/session.py", "execute"),
    ("  SQLAlchemy: Connection._execute_context (all SQL)", "sqlalchemy/engine/base.py", "_execute_context"),
    ("  PyMySQL: Cursor.execute (all SQL, wire)", "pymysql/cursors.py", "execute"),
    ("  logging (all lines)", "logging/__init__.py", "_log"),
]


def component_table(stats: pstats.Stats, n: int) -> list[tuple[str, float, int]]:
    """(component, CPU ms per booking, calls per booking) from a profile of ``n`` bookings."""
    out = []
    for label, fragment, name in COMPONENTS:
        total = calls = 0.0
        for (filename, _line, func), (_cc, nc, _tt, ct, _callers) in stats.stats.items():
            if func == name and fragment in filename.replace("\\", "/"):
                total += ct
                calls += nc
        out.append((label, total / n * 1000, calls / n))
    return out


def measure_floor(app, engine, replay: list[tuple[str, object]], lock_args: tuple[tuple, dict], his_base: str,
                  n: int) -> tuple[float, float, float]:
    """CPU ms of the booking's statements replayed on a bare PyMySQL connection and through a bare SQLAlchemy
    Connection (each unit of work ends in a ROLLBACK where the booking committed: a round trip alike, nothing
    written), and of its HIS lock (idempotent on the order number) on a bare HttpHis: no journal, no metrics."""
    import pymysql

    from app.his.http import HttpHis

    url = engine.url
    raw = pymysql.connect(host=url.host, port=url.port or 3306, user=url.username, password=url.password or "",
                          database=url.database, charset="utf8mb4", autocommit=False)

    def fresh(k: int) -> list[tuple[str, object]]:
        """The captured statements with new order numbers (the captured booking's rows stay, unique keys hold)."""
        def renumbered(params):
            if not isinstance(params, dict):
                return params
            return {key: (f"{value[:2]}F{k:0{len(value) - 3}d}" if key in ("order_no", "active_key") and value
                          else value) for key, value in params.items()}
        return [(statement, renumbered(params)) for statement, params in replay]

    variants = iter([fresh(k) for k in range(2 * n + 40)])  # built before the clock runs

    def bare() -> None:
        with raw.cursor() as cur:
            for statement, params in next(variants):
                if statement == "COMMIT":
                    raw.rollback()
                else:
                    cur.execute(statement, params)
                    cur.fetchall()
        raw.rollback()

    conn = engine.connect()

    def core() -> None:
        for statement, params in next(variants):
            if statement == "COMMIT":
                conn.rollback()
            elif statement.lstrip().upper().startswith("SELECT"):
                conn.exec_driver_sql(statement, params).all()
            else:
                conn.exec_driver_sql(statement, params)
        conn.rollback()

    his = HttpHis(his_base, app.config["HIS_APP_ID"], app.config["HIS_SECRET"])

    def cpu(fn) -> float:
        for _ in range(10):
            fn()
        t = time.process_time()
        for _ in range(n):
            fn()
        return (time.process_time() - t) / n * 1000

    try:
        return cpu(bare), cpu(core), cpu(lambda: his._call(*lock_args[0], **lock_args[1]))
    finally:
        conn.close()
        raw.close()
        his.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db-url", default=DEFAULT_DB)
    parser.add_argument("--bookings", type=int, default=300)
    parser.add_argument("--health-per-booking", type=int, default=5)
    parser.add_argument("--his-port", type=int, default=5333)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--dump", default="", help="write the raw profile here (for snakeviz, pstats)")
    args = parser.parse_args()
    parts = args.db_url.split("?")[0].rsplit("/", 1)
    his_url = f"{parts[0]}/{parts[1]}_his?charset=utf8mb4"
    instance = tempfile.mkdtemp(prefix="bench-profile-")
    os.environ.update(INSTANCE_DIR=instance, HUEY_URL="memory://", BENCH_DB_URL=args.db_url, BENCH_HIS_URL=his_url)
    warm = 20
    total = warm + 2 * args.bookings + 1  # and the one whose statements are listed
    world = booking_race.prepare(args.db_url, his_url, 0, total, 1)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    his_procs: list[subprocess.Popen] = []
    try:
        booking_race.start_servers([args.his_port], 2, 4, env, his_procs, factory="bench.booking_race:make_his()",
                                   probe="/his/v1/health")
        # one Flask-AppBuilder app per process: the one prepare() built, switched to the HIS over HTTP
        app = world["app"]
        app.config.update(HIS_MODE="http", HIS_BASE_URL=f"http://127.0.0.1:{args.his_port}/his/v1",
                          HIS_APP_ID=booking_race.HIS_APP_ID, HIS_SECRET=booking_race.HIS_SECRET)
        app.extensions.pop("his_gateway", None)
        client = app.test_client()
        people = iter(world["people"])
        cookie_name, hot = world["cookie_name"], world["hot_slice"]

        def book() -> None:
            cookie, patient_id = next(people)
            client.set_cookie(cookie_name, cookie)
            r = client.post(f"/h5/booking/slices/{hot}/confirm", data={"patient_id": patient_id})
            if r.status_code != 303 or "/h5/pay/" not in r.headers.get("Location", ""):
                raise SystemExit(f"booking refused: {r.status_code} {r.get_data(as_text=True)[:300]}")

        def health() -> None:
            client.delete_cookie(cookie_name)
            if client.get("/api/health/live").status_code != 200:
                raise SystemExit("health not 200")

        for _ in range(warm):
            book()
            health()
        # 0. the statements of one booking, as the database receives them
        from sqlalchemy import event

        from app.extensions import db

        with app.app_context():
            engine = db.engine
        replay: list[tuple[str, object]] = []  # (statement, parameters) as PyMySQL got them; "COMMIT" between units

        def keep(_conn, _cursor, statement, params, _context, _many):
            replay.append((statement, params))

        def committed(_conn):
            replay.append(("COMMIT", None))

        # every command on the wire (statements, COMMITs, the pool's pings and rollbacks), not only the statements
        import pymysql.connections as wire_module
        from pymysql.constants import COMMAND

        wire: list[str] = []
        send = wire_module.Connection._execute_command

        def counted(self, command, sql):
            text = sql.decode(errors="replace") if isinstance(sql, bytes) else str(sql)
            wire.append("PING" if command == COMMAND.COM_PING else " ".join(text.split())[:40])
            return send(self, command, sql)

        from app.his.http import HttpHis

        locks: list[tuple] = []  # the HIS call's own arguments (the gateway's wrappers hold bound methods)
        his_call = HttpHis._call

        def lock_kept(self, *call_args, **call_kw):
            locks.append((call_args, call_kw))
            return his_call(self, *call_args, **call_kw)

        event.listen(engine, "before_cursor_execute", keep)
        event.listen(engine, "commit", committed)
        wire_module.Connection._execute_command = counted
        HttpHis._call = lock_kept
        try:
            book()
        finally:
            event.remove(engine, "before_cursor_execute", keep)
            event.remove(engine, "commit", committed)
            wire_module.Connection._execute_command = send
            HttpHis._call = his_call
        statements = [" ".join(statement.split())[:160] for statement, _ in replay if statement != "COMMIT"]
        # 1. CPU per request, interleaved
        book_cpu = health_cpu = 0.0
        for _ in range(args.bookings):
            t = time.process_time()
            book()
            book_cpu += time.process_time() - t
            t = time.process_time()
            for _ in range(args.health_per_booking):
                health()
            health_cpu += time.process_time() - t
        per_book = book_cpu / args.bookings * 1000
        per_health = health_cpu / (args.bookings * args.health_per_booking) * 1000
        # 2. the profile (CPU clock) of as many bookings again
        profiler = cProfile.Profile(time.process_time)
        profiler.enable()
        for _ in range(args.bookings):
            book()
        profiler.disable()
        # 3. the profile of health requests, for the hooks every request pays
        health_profiler = cProfile.Profile(time.process_time)
        health_profiler.enable()
        for _ in range(args.bookings):
            health()
        health_profiler.disable()
        # 4. the floor: the same statements and COMMITs (rolled back: nothing written twice) on a bare PyMySQL
        # connection and through a bare SQLAlchemy Connection, and the same HIS lock on a bare signed client
        floor = measure_floor(app, engine, replay, locks[0], f"http://127.0.0.1:{args.his_port}/his/v1",
                              args.bookings)
    finally:
        for proc in his_procs:
            proc.terminate()
            proc.wait(30)

    load = os.getloadavg()
    print(f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}; {args.bookings} bookings, "
          f"{args.bookings * args.health_per_booking} health requests, interleaved, one process, test client")
    print(f"CPU per request: booking {per_book:.2f} ms, health {per_health:.3f} ms, ratio {per_book / per_health:.1f}")
    if args.dump:
        profiler.dump_stats(args.dump)
    stats = pstats.Stats(profiler)
    hstats = pstats.Stats(health_profiler)
    print(f"statements of one booking on the platform's database ({len(statements)}, COMMITs not counted):")
    for n, statement in enumerate(statements, 1):
        print(f"  {n:2d}. {statement}")
    print(f"commands on the wire for one booking ({len(wire)}: statements, COMMITs, the pool's pings and rollbacks):")
    print("  " + " · ".join(w.split(" ")[0] for w in wire))
    print()
    sql_bare, sql_core, his_bare = floor
    floor_ms = per_health + sql_bare + his_bare
    print("the floor (what any booking on this stack pays before its own logic, CPU ms, same process):")
    print(f"  the booking's {len([r for r in replay if r[0] != 'COMMIT'])} statements and "
          f"{len([r for r in replay if r[0] == 'COMMIT'])} COMMITs on bare PyMySQL {sql_bare:.3f}, through a bare "
          f"SQLAlchemy Connection {sql_core:.3f}; the HIS lock on a bare signed client {his_bare:.3f}")
    with_core = per_health + sql_core + his_bare
    print(f"  health + bare statements + bare HIS call = {floor_ms:.3f} ms = {floor_ms / per_health:.1f}x health; "
          f"with SQLAlchemy's Connection {with_core:.3f} ms = {with_core / per_health:.1f}x "
          f"(target <= 4; the booking {per_book / per_health:.1f}x)")
    print()
    print("| component | CPU ms / booking | calls / booking | CPU ms / health request |")
    print("|---|---|---|---|")
    health_rows = {label: (ms, calls) for label, ms, calls in component_table(hstats, args.bookings)}
    for label, ms, calls in component_table(stats, args.bookings):
        hms = health_rows[label][0]
        print(f"| {label} | {ms:.2f} | {calls:.1f} | {hms:.3f} |")
    print()
    print(f"top {args.top} functions by own CPU (bookings):")
    stats.sort_stats("tottime").print_stats(args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
