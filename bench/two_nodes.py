"""Scale-out, shown: two app nodes, each in its own network namespace, behind one nginx, sharing MariaDB
and Redis, each with its own Huey consumer. A booking race and a payment storm run through the proxy;
one node is killed (SIGKILL, web and worker) in the middle of the storm. Exits 1 on any breach:
a slot given twice, counters that disagree, a payment the channel took that the platform did not
record and confirm, a payment recorded twice, or a booking the patient was told about that is missing.

    sudo .venv/bin/python bench/two_nodes.py                 # needs root (ip netns), nginx, socat
    sudo .venv/bin/python bench/two_nodes.py --racers 300 --storm 200 --proxy-port 5024

Layout (all on this machine; 10.219.x.x exist only on the veth pairs the script makes):

    driver (host) ──> nginx 127.0.0.1:<proxy-port>, 10.219.1.1:8080, 10.219.2.1:8080
                          ├─> node 1: netns hosp-n1, 10.219.1.2:8000  gunicorn run app + huey_consumer
                          └─> node 2: netns hosp-n2, 10.219.2.2:8000  gunicorn run app + huey_consumer
    both nodes ──> MariaDB through its Unix socket (/run/mysqld/mysqld.sock: a namespace has its own
                   loopback, not its own files) and Redis through a Unix socket socat forwards to
                   127.0.0.1:6379 (db --redis-db). The sandbox payment channels are served by the
                   nodes themselves (state in one shared file) and notify through the proxy.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.booking_race import book_request, prepare, run_parallel, verify  # noqa: E402

NODES = (("hosp-n1", "hv219a", "nv219a", "10.219.1.1", "10.219.1.2"),
         ("hosp-n2", "hv219b", "nv219b", "10.219.2.1", "10.219.2.2"))
SOCKET = "/run/mysqld/mysqld.sock"


def make_app():
    """The gunicorn / consumer factory of one node (everything from the environment the script sets)."""
    from app import create_app

    return create_app("development", SQLALCHEMY_DATABASE_URI=os.environ["BENCH_DB_URL"],
                      HIS_SIMULATOR_URL=os.environ["BENCH_HIS_URL"], WTF_CSRF_ENABLED=False,
                      PUBLIC_BASE_URL=os.environ["PUBLIC_BASE_URL"], SANDBOX_BASE_URL=os.environ["SANDBOX_BASE_URL"],
                      SANDBOX_STATE_URL=os.environ["SANDBOX_STATE_URL"],
                      SANDBOX_KEYS_DIR=os.environ["SANDBOX_KEYS_DIR"],
                      SLOT_PAGE_CACHE_URL=os.environ.get("SLOT_PAGE_CACHE_URL", ""),
                      SQLALCHEMY_ENGINE_OPTIONS={"pool_pre_ping": True, "pool_size": 8, "max_overflow": 0,
                                                 "pool_timeout": 60})


# -- the machine's plumbing ------------------------------------------------------------------------------

def sh(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(args, check=check, capture_output=True, text=True)


def netns_up() -> None:
    netns_down()
    for ns, host_if, ns_if, host_ip, ns_ip in NODES:
        sh("ip", "netns", "add", ns)
        sh("ip", "link", "add", host_if, "type", "veth", "peer", "name", ns_if)
        sh("ip", "link", "set", ns_if, "netns", ns)
        sh("ip", "addr", "add", f"{host_ip}/24", "dev", host_if)
        sh("ip", "link", "set", host_if, "up")
        sh("ip", "netns", "exec", ns, "ip", "addr", "add", f"{ns_ip}/24", "dev", ns_if)
        sh("ip", "netns", "exec", ns, "ip", "link", "set", ns_if, "up")
        sh("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")


def netns_down() -> None:
    for ns, host_if, *_ in NODES:
        sh("ip", "netns", "del", ns, check=False)
        sh("ip", "link", "del", host_if, check=False)


NGINX = """
user root;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {tmp}/nginx-body;
  proxy_temp_path {tmp}/nginx-proxy;
  fastcgi_temp_path {tmp}/nginx-fcgi;
  uwsgi_temp_path {tmp}/nginx-uwsgi;
  scgi_temp_path {tmp}/nginx-scgi;
  upstream hospital {{
    server 10.219.1.2:8000 max_fails=1 fail_timeout=10s;
    server 10.219.2.2:8000 max_fails=1 fail_timeout=10s;
    keepalive 64;
  }}
  server {{
    listen 127.0.0.1:{port};
    listen 10.219.1.1:8080;
    listen 10.219.2.1:8080;
    location = /metrics {{ return 404; }}
    location / {{
      proxy_pass http://hospital;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Request-ID $request_id;
      # a node that refuses the connection is skipped (the request was never sent, so even a POST is
      # safe to pass on); a request already sent to a node that dies gets 502, never a second copy
      proxy_next_upstream error timeout;
      proxy_connect_timeout 2s;
      proxy_read_timeout 120s;
    }}
  }}
}}
"""


class Node:
    def __init__(self, index: int, env: dict, workdir: Path) -> None:
        self.ns, _, _, self.host_ip, self.ip = NODES[index]
        self.name = f"node{index + 1}"
        self.env = dict(env, PUBLIC_BASE_URL=f"http://{self.host_ip}:8080",
                        SANDBOX_BASE_URL="http://127.0.0.1:8000/sandbox",
                        INSTANCE_DIR=str(workdir / self.name), PROMETHEUS_MULTIPROC_DIR=str(workdir / f"{self.name}-m"))
        Path(self.env["INSTANCE_DIR"]).mkdir(parents=True, exist_ok=True)
        Path(self.env["PROMETHEUS_MULTIPROC_DIR"]).mkdir(parents=True, exist_ok=True)
        self.logs = workdir
        self.procs: list[subprocess.Popen] = []

    def start(self, workers: int, threads: int) -> None:
        bindir = Path(sys.executable).parent
        web = ["ip", "netns", "exec", self.ns, str(bindir / "gunicorn"), "-w", str(workers), "-k", "gthread",
               "--threads", str(threads), "-b", "0.0.0.0:8000", "--keep-alive", "30", "--chdir", str(ROOT),
               "--log-level", "warning", "--timeout", "120", "bench.two_nodes:make_app()"]
        worker = ["ip", "netns", "exec", self.ns, str(bindir / "huey_consumer"), "bench.two_nodes_worker.huey",
                  "-w", "4", "-k", "thread", "-q"]
        for argv, what in ((web, "web"), (worker, "worker")):
            self.procs.append(subprocess.Popen(argv, env=self.env, cwd=str(ROOT), start_new_session=True,
                                               stdout=subprocess.DEVNULL,
                                               stderr=open(self.logs / f"{self.name}-{what}.log", "w")))

    def kill(self) -> None:
        """SIGKILL the web server and the worker with every child: a machine losing power."""
        for proc in self.procs:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for proc in self.procs:
            proc.wait(30)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for proc in self.procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def wait_ready(url: str, seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=5).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise SystemExit(f"not ready: {url}")


# -- the storm ---------------------------------------------------------------------------------------------

def storm(proxy: str, cookie_name: str, people: list, slice_id: int, sandbox, threads: int,
          kill_at: int, kill) -> dict:
    """Each patient books the hot slice through the proxy, opens the WeChat Pay cashier through the proxy
    and pays in the sandbox (whose notification goes back through the proxy). ``kill`` runs once, when
    ``kill_at`` payments have been made."""
    paid_lock = threading.Lock()
    state = {"paid": 0, "killed_at": None}

    def one(session: requests.Session, person) -> tuple[str, str | None]:
        cookie, patient_id = person
        session.cookies.clear()
        try:
            booked = session.post(f"{proxy}/h5/booking/slices/{slice_id}/confirm", data={"patient_id": patient_id},
                                  cookies={cookie_name: cookie}, allow_redirects=False, timeout=120)
        except requests.RequestException as exc:
            return f"book:transport:{type(exc).__name__}", None
        location = booked.headers.get("Location", "")
        if booked.status_code != 303 or "/h5/pay/" not in location:
            return f"book:{booked.status_code}", None
        order_no = location.rstrip("/").rsplit("/", 1)[-1]
        for _attempt in range(3):  # the patient taps 立即支付 again after a proxy error
            opened = session.post(f"{proxy}/h5/pay/{order_no}", cookies={cookie_name: cookie},
                                  allow_redirects=False, timeout=120)
            if opened.status_code in (200, 303):
                break
            time.sleep(1)
        else:
            return "cashier:failed", order_no
        try:
            result = sandbox.confirm_payment("wechat", order_no)
        except Exception as exc:  # noqa: BLE001 - the sandbox refusing (closed, expired) is an outcome
            return f"pay:refused:{type(exc).__name__}", order_no
        with paid_lock:
            state["paid"] += 1
            if state["paid"] == kill_at and state["killed_at"] is None:
                state["killed_at"] = time.time()
                threading.Thread(target=kill).start()
        return ("paid" if result is None or result.delivered else "paid:notify_pending"), order_no

    results, seconds = run_parallel(people, threads, one)
    state.update(results=[r if isinstance(r, tuple) else (str(r), None) for r in results], seconds=seconds)
    return state


def audit_payments(db_url: str, sandbox_state: Path, storm_orders: list[str]) -> dict:
    """Compare the channel's truth (the sandbox's state) with the platform's, order by order."""
    import sqlite3

    from sqlalchemy import create_engine, text

    conn = sqlite3.connect(sandbox_state)
    channel_paid = {row[0] for row in conn.execute(
        "SELECT out_trade_no FROM wx_transactions WHERE trade_state IN ('SUCCESS', 'REFUND')")}
    conn.close()
    engine = create_engine(db_url)
    with engine.connect() as db:
        local = {row.order_no: row for row in db.execute(text(
            "SELECT p.order_no, p.status, a.status AS booking FROM payment_order p "
            "JOIN appointment_order a ON a.id = p.appointment_id"))}
        paid_twice = db.execute(text(
            "SELECT COUNT(*) FROM (SELECT order_id FROM state_transition WHERE order_type = 'payment' "
            "AND to_status = 'paid' GROUP BY order_id HAVING COUNT(*) > 1) t")).scalar()
        refunds = db.execute(text("SELECT COUNT(*) FROM refund")).scalar()
    engine.dispose()
    orders = set(storm_orders)
    lost = sorted(no for no in channel_paid & orders if local.get(no) is None or
                  local[no].status != "confirmed" or local[no].booking != "booked")
    phantom = sorted(no for no, row in local.items() if row.status in ("paid", "confirmed") and no not in channel_paid)
    return {"channel_paid": len(channel_paid & orders), "lost": lost, "phantom": phantom, "paid_twice": paid_twice,
            "refunds": refunds, "confirmed": sum(1 for no in orders if local.get(no) is not None and
                                                 local[no].status == "confirmed")}


def slot_ledger(db_url: str, his_url: str, slice_ids: list[int]) -> dict:
    """Per slice: platform live orders L, platform counter B, HIS active locks H, and orphan HIS locks O
    (a lock the HIS holds for an order the platform ended as ``lock_failed``: a node killed between the
    HIS lock and recording it; the HIS frees it after LOCK_MINUTES). Consistent means H == L + O and
    B is L, or L + O once the timetable sync has adopted the HIS's count (the HIS is the truth for
    places). Anything else, or any count above capacity, is a breach."""
    from sqlalchemy import create_engine, text

    engine = create_engine(db_url)
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT s.id, s.his_slice_id, s.capacity, s.booked, (SELECT COUNT(*) FROM appointment_order o "
            "WHERE o.slice_id = s.id AND o.status IN ('holding','pending_payment','paid','booked')) AS live "
            f"FROM schedule_slice s WHERE s.id IN ({','.join(map(str, slice_ids))})")).all()
        ended = set(conn.execute(text("SELECT order_no FROM appointment_order WHERE status = 'lock_failed'"))
                    .scalars())
    engine.dispose()
    his = create_engine(his_url)
    with his.connect() as conn:
        locks = conn.execute(text("SELECT slice_id, order_no FROM his_locks WHERE status IN ('locked','confirmed')"
                                  " AND slice_id LIKE 'SBENCH%'")).all()
    his.dispose()
    bad, orphans = [], 0
    for sid, his_id, capacity, booked, live in rows:
        held = [order_no for s, order_no in locks if s == his_id]
        orphan = sum(1 for order_no in held if order_no in ended)
        orphans += orphan
        if len(held) != live + orphan or booked not in (live, live + orphan) or max(live, booked, len(held)) > capacity:
            bad.append(f"slice {sid}: live {live}, counter {booked}, HIS locks {len(held)}, orphan {orphan}")
    return {"bad": bad, "orphans": orphans}


# -- main ----------------------------------------------------------------------------------------------------

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", default="bench_two", help="MariaDB database (its HIS: <db>_his); recreated")
    parser.add_argument("--racers", type=int, default=300)
    parser.add_argument("--slots", type=int, default=30)
    parser.add_argument("--storm", type=int, default=200, help="patients who book and pay in the storm")
    parser.add_argument("--threads", type=int, default=24)
    parser.add_argument("--workers", type=int, default=2, help="gthread workers per node")
    parser.add_argument("--server-threads", type=int, default=6)
    parser.add_argument("--proxy-port", type=int, default=5024)
    parser.add_argument("--redis-db", type=int, default=10)
    parser.add_argument("--converge", type=int, default=360, help="seconds allowed for the sweeps to finish")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root: network namespaces need it")
    for tool in ("nginx", "socat", "ip"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} not found: apt-get install nginx-light socat iproute2")

    workdir = Path(tempfile.mkdtemp(prefix="two-nodes-"))
    os.chmod(workdir, 0o755)
    tcp = f"mysql+pymysql://root@127.0.0.1:3306/{args.db}?charset=utf8mb4"
    tcp_his = f"mysql+pymysql://root@127.0.0.1:3306/{args.db}_his?charset=utf8mb4"
    sock = f"mysql+pymysql://root@localhost/{args.db}?unix_socket={SOCKET}&charset=utf8mb4"
    sock_his = f"mysql+pymysql://root@localhost/{args.db}_his?unix_socket={SOCKET}&charset=utf8mb4"
    redis_sock = workdir / "redis.sock"
    redis_url = f"unix://{redis_sock}?db={args.redis_db}"
    shared = dict(os.environ, BENCH_DB_URL=sock, BENCH_HIS_URL=sock_his, HUEY_URL=redis_url,
                  SLOT_PAGE_CACHE_URL=redis_url, SANDBOX_STATE_URL=f"sqlite:///{workdir / 'sandbox.db'}",
                  SANDBOX_KEYS_DIR=str(workdir / "sandbox_keys"), PYTHONPATH=str(ROOT), APP_ENV="development")
    os.environ.update(INSTANCE_DIR=str(workdir / "driver"), HUEY_URL="memory://", BENCH_DB_URL=tcp,
                      BENCH_HIS_URL=tcp_his)
    print(f"preparing {args.db} and {args.db}_his: {args.racers} racers + {args.storm} storm patients ...", flush=True)
    world = prepare(tcp, tcp_his, args.racers, args.storm, args.slots)
    import redis

    redis.Redis(host="127.0.0.1", port=6379, db=args.redis_db).flushdb()

    helpers: list[subprocess.Popen] = []
    nodes: list[Node] = []
    breaches: list[str] = []
    try:
        helpers.append(subprocess.Popen(["socat", f"UNIX-LISTEN:{redis_sock},fork,mode=777",
                                         "TCP:127.0.0.1:6379"], start_new_session=True))
        netns_up()
        (workdir / "nginx.conf").write_text(NGINX.format(tmp=workdir, port=args.proxy_port))
        for sub in ("nginx-body", "nginx-proxy", "nginx-fcgi", "nginx-uwsgi", "nginx-scgi"):
            (workdir / sub).mkdir()
        helpers.append(subprocess.Popen(["nginx", "-c", str(workdir / "nginx.conf"), "-p", str(workdir),
                                         "-g", "daemon off;"], start_new_session=True))
        for index in range(2):
            node = Node(index, shared, workdir)
            node.start(args.workers, args.server_threads)
            nodes.append(node)
        for node in nodes:
            wait_ready(f"http://{node.ip}:8000/api/health/live")
        proxy = f"http://127.0.0.1:{args.proxy_port}"
        wait_ready(f"{proxy}/api/health/live")
        ready = requests.get(f"{proxy}/api/health/ready", timeout=30).json()
        print(f"two nodes up behind nginx {proxy}; readiness: "
              f"{ {k: v['ok'] for k, v in ready['checks'].items()} }", flush=True)

        # 1. the booking race across nodes
        people, cookie_name = world["people"], world["cookie_name"]
        racers = people[:args.racers]
        barrier = threading.Barrier(len(racers))
        outcomes: list[str] = [""] * len(racers)

        def race(i: int) -> None:
            cookie, patient_id = racers[i]
            barrier.wait()
            outcomes[i] = book_request(proxy, cookie_name, cookie, patient_id,
                                       world["race_slices"][i % len(world["race_slices"])])[0]

        pool = [threading.Thread(target=race, args=(i,)) for i in range(len(racers))]
        for t in pool:
            t.start()
        for t in pool:
            t.join()
        accepted = outcomes.count("accepted")
        race_errors = sum(1 for o in outcomes if o not in ("accepted", "full"))
        print(f"race: {len(racers)} patients -> {args.slots} slots through the proxy: accepted {accepted}, "
              f"full {outcomes.count('full')}, other {race_errors}", flush=True)

        # 2. the payment storm, node 2 killed in the middle
        # the patient's side of WeChat Pay: the sandbox engine on the same state the nodes serve
        import config
        from doubles.channels import settings_from_config
        from doubles.channels.core import PaymentSandbox

        cfg = {key: getattr(config.Config, key) for key in dir(config.Config) if key.isupper()}
        sandbox = PaymentSandbox(settings_from_config(cfg, shared["SANDBOX_STATE_URL"], shared["SANDBOX_KEYS_DIR"]))
        victim = nodes[1]
        stormers = people[args.racers:args.racers + args.storm]
        print(f"storm: {len(stormers)} patients book and pay through the proxy; {victim.name} is killed after "
              f"{len(stormers) // 3} payments ...", flush=True)
        result = storm(proxy, cookie_name, stormers, world["hot_slice"], sandbox, args.threads,
                       max(len(stormers) // 3, 1), victim.kill)
        kinds: dict[str, int] = {}
        for outcome, _order in result["results"]:
            kinds[outcome] = kinds.get(outcome, 0) + 1
        storm_orders = [order for outcome, order in result["results"] if order]
        print(f"  {result['seconds']:.1f} s; outcomes {kinds}; {victim.name} killed "
              f"{'yes' if result['killed_at'] else 'NO'}", flush=True)

        # 3. the survivor finishes: channel redeliveries, then its consumer's minute sweeps (HIS
        #    confirmations a killed worker never ran; places held by a booking the killed node never
        #    took to the HIS are given back after booking.STALE_HOLD_SECONDS)
        deadline = time.monotonic() + args.converge
        while True:
            sandbox.deliver_due(now=time.time() + 3600)  # the channel's retries, without their waits
            checked = audit_payments(tcp, workdir / "sandbox.db", storm_orders)
            slots = verify(tcp, tcp_his, world["race_slices"], world["hot_slice"])
            ledger = slot_ledger(tcp, tcp_his, [*world["race_slices"], world["hot_slice"]])
            if (not checked["lost"] and not ledger["bad"]) or time.monotonic() > deadline:
                break
            time.sleep(5)
        waited = args.converge - max(0, deadline - time.monotonic())
        print(f"  converged in {waited:.0f} s: channel paid {checked['channel_paid']}, platform confirmed "
              f"{checked['confirmed']}, lost {len(checked['lost'])}, recorded without channel payment "
              f"{len(checked['phantom'])}, paid twice {checked['paid_twice']}, refunds {checked['refunds']}")
        print(f"  slots: oversold {slots['oversold']}, race orders {slots['race_live']}, storm orders "
              f"{slots['hot_live']}; counters that disagree {len(ledger['bad'])} {ledger['bad'] or ''}; orphan HIS "
              f"locks {ledger['orphans']} (a node killed between the HIS lock and recording it: the HIS frees "
              f"them after LOCK_MINUTES, the platform's own order gave its place back)")

        if accepted != min(args.slots, len(racers)):
            breaches.append(f"race accepted {accepted} != {args.slots}")
        if slots["race_live"] != accepted:
            breaches.append(f"race orders {slots['race_live']} != accepted {accepted}")
        if slots["oversold"] or ledger["bad"]:
            breaches.append(f"oversold {slots['oversold']}, counters disagreeing {ledger['bad']}")
        if checked["lost"]:
            breaches.append(f"{len(checked['lost'])} payments taken by the channel not confirmed: "
                            f"{checked['lost'][:5]}")
        if checked["phantom"] or checked["paid_twice"]:
            breaches.append(f"phantom {len(checked['phantom'])}, paid twice {checked['paid_twice']}")
        if not result["killed_at"]:
            breaches.append("the node was never killed (storm too small)")
        if checked["channel_paid"] < len(stormers) // 2:
            breaches.append(f"only {checked['channel_paid']} of {len(stormers)} patients could pay")
    finally:
        for node in nodes:
            node.stop()
        for proc in helpers:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(20)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
        netns_down()
        print(f"logs: {workdir}")
    if breaches:
        print("BREACH: " + "; ".join(breaches))
        return 1
    print("correct across two nodes: no slot given twice, no payment lost or doubled, node loss survived")
    return 0


if __name__ == "__main__":
    sys.exit(main())
