"""Helpers of the money tests (issue 14): a paid outpatient bill with a one-unit item, signed HIS calls
over real HTTP from many threads at once, and a marker for what only MariaDB can prove."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from typing import Any

import pytest
import requests
from sqlalchemy import func, select

from app.extensions import db
from app.his.interface import BillItem
from app.models import PaymentOrder, Refund
from app.services.signing import signed_headers

#: an adult woman's card of the simulator seed (产科门诊), used for bills added by the tests
CARD = "8800000019"
#: the one-unit item the HIS asks to refund ten times at once (9.80 yuan, as in the issue)
ONE_UNIT = BillItem("维生素B6片", "西药", "10mg×100片/瓶", 1, 980, 980)
OTHER = BillItem("血常规", "化验", "", 1, 5000, 5000)

needs_mariadb = pytest.mark.skipif(
    not os.environ.get("TEST_DATABASE_URL", "").startswith("mysql"),
    reason="row locks and REPEATABLE READ snapshots exist only on MariaDB (SQLite serialises writers); "
           "CI runs this with TEST_DATABASE_URL=mysql+pymysql://…")


def at_once(n: int, work: Callable[[int], Any], timeout: float = 120) -> list[Any]:
    """Run ``work(i)`` for i in 0..n-1 in n threads released together; returns each answer (or the
    exception it raised), in index order."""
    barrier = threading.Barrier(n)
    answers: list[Any] = [None] * n

    def run(i: int) -> None:
        try:
            barrier.wait()
            answers[i] = work(i)
        except Exception as exc:  # noqa: BLE001 - the test counts every outcome
            answers[i] = exc

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    return answers


def his_post(app, base_url: str, path: str, payload: object) -> requests.Response:
    """POST to the platform's HIS API over HTTP, signed as the HIS signs (a fresh nonce each call)."""
    body = json.dumps(payload, ensure_ascii=False).encode()
    headers = signed_headers(app.config["HIS_EVENT_APP_ID"], app.config["HIS_EVENT_SECRET"], "POST", path, body)
    return requests.post(base_url + path, data=body, headers=headers, timeout=60)


def paid_bill(app, client, his, sandbox, items=(ONE_UNIT, OTHER), channel: str = "wechat") -> dict:
    """A new bill on CARD paid through the platform and settled at the HIS."""
    from tests.helpers.bills import account, load, login, open_and_pay

    bill = his.add_bill(CARD, list(items))
    acc = account(app, CARD, channel)
    login(app, client, acc["user"])
    order_no = open_and_pay(app, client, sandbox, acc, [bill], channel)
    assert load(app, order_no).status == "confirmed"
    return {"order_no": order_no, "bill": bill, "account": acc}


def refunded_total(app, order_no: str) -> int:
    """Fen that left (or is leaving) through the channel for an order: every refund not failed."""
    with app.app_context():
        return int(db.session.scalar(
            select(func.coalesce(func.sum(Refund.amount_fen), 0)).join(PaymentOrder)
            .where(PaymentOrder.order_no == order_no, Refund.status != "failed")) or 0)


class FaultyHis:
    """A HIS gateway with faults injected per method: ``down`` (refuses before doing anything),
    ``lost`` (does it, then its answer is lost: the caller sees a timeout), ``slow`` (does it, answers
    after ``delay`` seconds, i.e. after the caller's timeout: the same as lost, and slower)."""

    def __init__(self, inner, delay: float = 0.0) -> None:
        self.inner = inner
        self.faults: dict[str, str] = {}
        self.calls: list[tuple[str, str]] = []
        self.delay = delay

    def __getattr__(self, name: str):
        target = getattr(self.inner, name)
        if not callable(target):
            return target

        def call(*args, **kwargs):
            from app.his.errors import HisUnavailable

            mode = self.faults.get(name) or self.faults.get("*")
            self.calls.append((name, mode or "ok"))
            if mode == "down":
                raise HisUnavailable("HIS unreachable: ConnectionError (injected)")
            result = target(*args, **kwargs)
            if mode in ("lost", "slow"):
                if mode == "slow" and self.delay:
                    import time

                    time.sleep(self.delay)
                raise HisUnavailable("HIS did not answer within 8 s (injected: the answer was lost)")
            return result

        return call


@pytest.fixture()
def faulty_his(app, his):
    """The test's simulator behind a FaultyHis, as the platform's gateway."""
    faulty = FaultyHis(his)
    app.extensions["his_gateway"] = faulty
    yield faulty
    app.extensions["his_gateway"] = his
