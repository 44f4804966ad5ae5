"""Deposit refunds at discharge (出院结算退押金) the HIS asks for: POST /api/his/v1/deposit-refunds and the
status query, driven with valid, replayed, conflicting, expired/forged, over-limit, split and unknown
requests. Deposits are paid through the sandbox cashiers first, so every refund really reaches the
channel; the patient is told per refund and sees the refunded amounts on the 押金记录 page."""

from __future__ import annotations

import json
import threading
import time

import pytest
import requests
from sqlalchemy import func, select

from app import outbox
from app.channels import ChannelError
from app.extensions import db
from app.models import DepositRefundRequest, Notification, PaymentOrder, Refund, StateTransition
from app.inpatient import deposit_refunds
from app.payments import commands as payments
from app.billing.bills import HisRefundRefused
from app.services.signing import signed_headers
from tests import factories
from tests.factories import stay_with_balance, wait_for
from tests.helpers.bills import account, load, login
from tests.helpers.deposits import CARD, finance_signs_in, pay_deposit

PATH = "/api/his/v1/deposit-refunds"
OTHER_CARD = "8800000012"    # in hospital, another stay


def signed_post(app, client, payload, **sign):
    return factories.his_signed_post(app, client, PATH, payload, **sign)


def signed_get(app, client, request_no, *, secret=None):
    return factories.his_signed_get(app, client, f"{PATH}/{request_no}", secret=secret)


@pytest.fixture()
def stay(app, client, his, sandbox):
    """CARD's stay with two platform deposits: ¥1,000.00 by WeChat Pay, then ¥500.00 by Alipay (newest)."""
    wechat = account(app, CARD, "wechat")
    alipay = account(app, CARD, "alipay")
    older = pay_deposit(app, client, his, sandbox, wechat, "1000", "wechat")
    newer = pay_deposit(app, client, his, sandbox, alipay, "500", "alipay")
    return {"inpatient_no": his.inpatient_stay(CARD).inpatient_no, "older": older, "newer": newer,
            "wechat": wechat, "alipay": alipay}


def ask(stay, request_no, amount_fen, **extra):
    return {"request_no": request_no, "inpatient_no": stay["inpatient_no"], "amount_fen": amount_fen,
            "reason": "出院结算退押金", **extra}


def refund_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Refund))


def status_of(app, client, request_no) -> dict:
    return signed_get(app, client, request_no).get_json()["data"]


# -- the money goes back, split across payments ----------------------------------------------------------

def test_refund_is_split_newest_payment_first_and_reaches_both_channels(app, client, stay):
    response, _, _ = signed_post(app, client, ask(stay, "CY-0001", 80000))
    assert response.status_code == 201, response.get_json()
    data = response.get_json()["data"]
    assert data["request_no"] == "CY-0001" and data["inpatient_no"] == stay["inpatient_no"]
    assert data["amount_fen"] == 80000 and data["reason"] == "出院结算退押金"
    # the newest deposit (¥500 by Alipay) is emptied first, the rest comes from the WeChat Pay one
    assert [(r["order_no"], r["channel"], r["amount_fen"]) for r in data["refunds"]] == [
        (stay["newer"], "alipay", 50000), (stay["older"], "wechat", 30000)]
    assert all(r["refund_no"].startswith("TK") and r["deposit_no"] and r["trade_no"] for r in data["refunds"])

    assert wait_for(lambda: status_of(app, client, "CY-0001")["status"] == "success")
    final = status_of(app, client, "CY-0001")
    assert final["refunded_fen"] == 80000 and final["failed_fen"] == 0
    assert all(r["status"] == "success" and r["succeeded_at"] for r in final["refunds"])
    newer, older = load(app, stay["newer"]), load(app, stay["older"])
    assert (newer.status, newer.refunded_fen) == ("refunded", 50000)
    assert (older.status, older.refunded_fen) == ("partially_refunded", 30000)
    # the channels themselves hold the refunds, against the original payments
    with app.app_context():
        for refund in final["refunds"]:
            at_channel = payments.channels()[refund["channel"]].query_refund(refund["order_no"], refund["refund_no"])
            assert at_channel.state == "succeeded"
        # every step of every refund is on record: who, when, why
        for refund in db.session.scalars(select(Refund)):
            steps = db.session.execute(select(StateTransition.from_status, StateTransition.to_status,
                                              StateTransition.actor, StateTransition.reason)
                                       .where(StateTransition.order_type == "refund",
                                              StateTransition.order_id == refund.id)
                                       .order_by(StateTransition.id)).all()
            assert [(f, t) for f, t, _, _ in steps] == [("-", "requested"), ("requested", "processing"),
                                                         ("processing", "success")]
            assert steps[0][2:] == ("his", "出院结算退押金")
    # one notice per refund, to the account that paid it, linking to the deposit records
    with app.app_context():
        notices = db.session.scalars(select(Notification).where(Notification.kind == "refund_success")).all()
        assert sorted((n.owner_id, n.link.split("?")[0]) for n in notices) == sorted([
            (stay["alipay"]["user"], "/h5/inpatient/deposits"), (stay["wechat"]["user"], "/h5/inpatient/deposits")])
        assert all("出院结算退押金" in n.body for n in notices)


def test_deposit_records_page_shows_what_came_back(app, client, stay):
    response, _, _ = signed_post(app, client, ask(stay, "CY-0002", 80000))
    assert response.status_code == 201
    assert wait_for(lambda: status_of(app, client, "CY-0002")["status"] == "success")
    login(app, client, stay["wechat"]["user"])
    page = client.get(f"/h5/inpatient/deposits?patient_id={stay['wechat']['patient']}").get_data(as_text=True)
    assert 'data-refunded="30000"' in page and "已退回 ¥300.00" in page
    assert "data-deposit-refunds" in page and "押金已原路退回 ¥300.00" in page
    assert 'data-refunded="50000"' not in page  # the Alipay deposit is another account's order


def test_refunds_in_flight_show_as_being_processed(app, client, stay, monkeypatch):
    monkeypatch.setattr(outbox, "_enqueue", None)  # no worker: the refunds are written but not sent yet
    response, _, _ = signed_post(app, client, ask(stay, "CY-0003", 20000))
    assert response.status_code == 201 and response.get_json()["data"]["status"] == "processing"
    login(app, client, stay["alipay"]["user"])
    page = client.get(f"/h5/inpatient/deposits?patient_id={stay['alipay']['patient']}").get_data(as_text=True)
    assert 'data-refunding="20000"' in page and "退款处理中 ¥200.00" in page
    assert load(app, stay["newer"]).refunded_fen == 20000  # reserved at once: a second request cannot take it


# -- idempotency and conflicts ----------------------------------------------------------------------------

def test_the_same_request_again_answers_the_same_refunds(app, client, stay):
    payload = ask(stay, "CY-0010", 60000)
    first, _, _ = signed_post(app, client, payload)
    again, _, _ = signed_post(app, client, payload)  # the HIS retried after a timeout: new nonce, same number
    assert first.status_code == 201 and again.status_code == 200
    refund_nos = [r["refund_no"] for r in first.get_json()["data"]["refunds"]]
    assert [r["refund_no"] for r in again.get_json()["data"]["refunds"]] == refund_nos and len(refund_nos) == 2
    assert refund_count(app) == 2
    assert load(app, stay["newer"]).refunded_fen + load(app, stay["older"]).refunded_fen == 60000


@pytest.mark.parametrize("change", [{"amount_fen": 60001}, {"inpatient_no": "ZY99999999"}, {"reason": "退多了"}])
def test_the_same_request_no_with_another_body_is_a_conflict(app, client, stay, change):
    first, _, _ = signed_post(app, client, ask(stay, "CY-0011", 60000))
    assert first.status_code == 201
    conflict, _, _ = signed_post(app, client, {**ask(stay, "CY-0011", 60000), **change})
    assert conflict.status_code == 409 and conflict.get_json()["code"] == "request_conflict"
    assert refund_count(app) == 2
    assert status_of(app, client, "CY-0011")["amount_fen"] == 60000


def test_concurrent_arrivals_of_one_request_refund_once(app, stay):
    """Eight copies of one request at once (the HIS retried while the first was still running)."""
    answers: list[str] = []
    barrier = threading.Barrier(8)

    def arrive():
        with app.app_context():
            barrier.wait()
            try:
                request, created = deposit_refunds.his_deposit_refund(ask(stay, "CY-RACE", 120000))
                answers.append(f"{'created' if created else 'again'}:{[p.refund_id for p in request.parts]}")
            except Exception as exc:  # noqa: BLE001 - any failure is what this test counts
                answers.append(f"error:{exc!r}")
            finally:
                db.session.remove()

    threads = [threading.Thread(target=arrive) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sum(a.startswith("created") for a in answers) == 1, answers
    assert len({a.split(":", 1)[1] for a in answers}) == 1, answers  # every answer names the same refunds
    assert refund_count(app) == 2
    assert load(app, stay["newer"]).refunded_fen + load(app, stay["older"]).refunded_fen == 120000


def test_concurrent_requests_never_refund_more_than_was_paid(app, stay):
    """Six different requests each for the whole ¥1,500.00 at once: exactly one is carried out."""
    outcomes: list[str] = []
    barrier = threading.Barrier(6)

    def request(n):
        with app.app_context():
            barrier.wait()
            try:
                deposit_refunds.his_deposit_refund(ask(stay, f"CY-RUSH-{n}", 150000))
                outcomes.append("ok")
            except HisRefundRefused as exc:
                outcomes.append(exc.code)
            except Exception as exc:  # noqa: BLE001
                outcomes.append(f"error:{exc!r}")
            finally:
                db.session.remove()

    threads = [threading.Thread(target=request, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(outcomes) == ["exceeds_paid"] * 5 + ["ok"], outcomes
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(DepositRefundRequest)) == 1
        assert db.session.scalar(select(func.sum(Refund.amount_fen))) == 150000


# -- never more than was paid, nothing for an unknown stay -------------------------------------------------

def test_more_than_is_left_is_refused_and_changes_nothing(app, client, stay):
    over, _, _ = signed_post(app, client, ask(stay, "CY-0020", 150001))
    assert over.status_code == 409 and over.get_json()["code"] == "exceeds_paid"
    assert refund_count(app) == 0 and load(app, stay["older"]).refunded_fen == 0
    assert load(app, stay["newer"]).status == "confirmed"
    assert signed_get(app, client, "CY-0020").status_code == 404  # a refused request leaves no trace
    # part of it, then the rest exactly, then nothing is left
    assert signed_post(app, client, ask(stay, "CY-0021", 100000))[0].status_code == 201
    rest, _, _ = signed_post(app, client, ask(stay, "CY-0022", 50001))
    assert rest.status_code == 409 and rest.get_json()["code"] == "exceeds_paid"
    assert signed_post(app, client, ask(stay, "CY-0023", 50000))[0].status_code == 201
    assert wait_for(lambda: status_of(app, client, "CY-0023")["status"] == "success")
    empty, _, _ = signed_post(app, client, ask(stay, "CY-0024", 1))
    assert empty.status_code == 409 and empty.get_json()["code"] == "exceeds_paid"
    assert (load(app, stay["newer"]).status, load(app, stay["older"]).status) == ("refunded", "refunded")
    assert refund_count(app) == 3


def test_a_refused_channel_refund_fails_and_its_amount_can_be_asked_again(app, client, stay, monkeypatch):
    channel = None
    with app.app_context():
        channel = payments.channels()["alipay"]
    original = channel.refund

    def refuse(*args, **kwargs):
        raise ChannelError("ACQ.TRADE_HAS_FINISHED", "交易已完结")

    monkeypatch.setattr(channel, "refund", refuse)
    response, _, _ = signed_post(app, client, ask(stay, "CY-0030", 80000))
    assert response.status_code == 201
    assert wait_for(lambda: status_of(app, client, "CY-0030")["status"] == "failed")
    data = status_of(app, client, "CY-0030")
    assert data["failed_fen"] == 50000 and data["refunded_fen"] == 30000
    alipay_part = next(r for r in data["refunds"] if r["channel"] == "alipay")
    assert alipay_part["status"] == "failed" and "ACQ.TRADE_HAS_FINISHED" in alipay_part["failure_reason"]
    newer = load(app, stay["newer"])
    assert newer.flag == "refund_failed" and newer.refunded_fen == 0  # finance sees it; the amount is free again
    # finance staff find it where every refund is listed, the deposit payment flagged
    finance_signs_in(app, client)
    refunds_page = client.get("/refundview/list/").get_data(as_text=True)
    failed_row = next(row for row in refunds_page.split("<tr")[1:] if alipay_part["refund_no"] in row)
    assert "退款失败" in failed_row and stay["newer"] in failed_row
    payment_page = client.get(f"/paymentorderview/show/{newer.id}").get_data(as_text=True)
    assert "退款失败" in payment_page.split("标记")[1][:300] and alipay_part["refund_no"] in payment_page
    monkeypatch.setattr(channel, "refund", original)
    retry, _, _ = signed_post(app, client, ask(stay, "CY-0031", 50000))
    assert retry.status_code == 201
    assert [r["order_no"] for r in retry.get_json()["data"]["refunds"]] == [stay["newer"]]
    assert wait_for(lambda: status_of(app, client, "CY-0031")["status"] == "success")


def test_unknown_stay_and_a_stay_without_platform_deposits_are_not_found(app, client, his, stay):
    unknown, _, _ = signed_post(app, client, ask(stay, "CY-0040", 100, inpatient_no="ZY99999999"))
    assert unknown.status_code == 404 and unknown.get_json()["code"] == "not_found"
    window_only = his.inpatient_stay(OTHER_CARD).inpatient_no  # deposits paid at the window only
    response, _, _ = signed_post(app, client, ask(stay, "CY-0041", 100, inpatient_no=window_only))
    assert response.status_code == 404 and response.get_json()["code"] == "not_found"
    assert signed_get(app, client, "CY-NOPE").status_code == 404
    assert refund_count(app) == 0


def test_a_deposit_not_yet_credited_at_the_his_is_not_drawn_on(app, client, his, sandbox):
    acc = account(app, CARD)
    order_no = pay_deposit(app, client, his, sandbox, acc, "300")
    with app.app_context():  # as if the money had just arrived and the HIS had not credited it yet
        db.session.execute(PaymentOrder.__table__.update().where(PaymentOrder.order_no == order_no)
                           .values(status="paid", his_receipt_no=None))
        db.session.commit()
    response, _, _ = signed_post(app, client, {"request_no": "CY-0050", "amount_fen": 100,
                                               "inpatient_no": his.inpatient_stay(CARD).inpatient_no})
    assert response.status_code == 404 and refund_count(app) == 0


# -- signatures and bodies --------------------------------------------------------------------------------

def test_replayed_expired_forged_and_tampered_requests_are_refused(app, client, stay):
    payload = ask(stay, "CY-0060", 10000)
    expired, _, _ = signed_post(app, client, payload, timestamp=int(time.time()) - 301)
    assert expired.status_code == 401 and "window" in expired.get_json()["message"]
    forged, _, _ = signed_post(app, client, payload, secret="not-the-hospital")
    assert forged.status_code == 401 and forged.get_json() == {"code": "unauthorized", "message": "bad signature"}
    body = json.dumps(payload).encode()
    headers = signed_headers(app.config["HIS_EVENT_APP_ID"], app.config["HIS_EVENT_SECRET"], "POST", PATH, body)
    tampered = client.post(PATH, data=body.replace(b"10000", b"99999"), headers=headers)
    assert tampered.status_code == 401
    assert client.post(PATH, json=payload).status_code == 401  # unsigned
    assert signed_get(app, client, "CY-0060", secret="not-the-hospital").status_code == 401
    assert refund_count(app) == 0
    first, headers, body = signed_post(app, client, payload)
    assert first.status_code == 201
    replay = client.post(PATH, data=body, headers=headers)
    assert replay.status_code == 401 and replay.get_json() == {"code": "unauthorized", "message": "replayed nonce"}
    assert refund_count(app) == 1


@pytest.mark.parametrize("payload", [
    [1, 2],
    {"inpatient_no": "ZY00000001", "amount_fen": 100},
    {"request_no": "bad no!", "inpatient_no": "ZY00000001", "amount_fen": 100},
    {"request_no": "R1", "amount_fen": 100},
    {"request_no": "R1", "inpatient_no": "  ", "amount_fen": 100},
    {"request_no": "R1", "inpatient_no": "ZY00000001"},
    {"request_no": "R1", "inpatient_no": "ZY00000001", "amount_fen": 0},
    {"request_no": "R1", "inpatient_no": "ZY00000001", "amount_fen": -100},
    {"request_no": "R1", "inpatient_no": "ZY00000001", "amount_fen": 123.45},
    {"request_no": "R1", "inpatient_no": "ZY00000001", "amount_fen": "12345"},
    {"request_no": "R1", "inpatient_no": "ZY00000001", "amount_fen": True},
    {"request_no": "R1", "inpatient_no": "ZY00000001", "amount_fen": 100, "reason": "长" * 201},
])
def test_bad_bodies_are_refused_with_invalid_request(app, client, his, payload):
    response, _, _ = signed_post(app, client, payload)
    assert response.status_code == 400 and response.get_json()["code"] == "invalid_request"
    assert refund_count(app) == 0


def test_not_json_is_refused(app, client, his):
    response, _, _ = signed_post(app, client, None, raw=b"request_no=1")
    assert response.status_code == 400 and response.get_json()["code"] == "invalid_request"


# -- the simulator's 出院结算 asks the running platform ---------------------------------------------------

LOW_BALANCE_CARD = "8800000012"  # in hospital, the deposits paid at the window do not cover the costs


def test_simulator_discharge_sends_the_signed_refund_request_end_to_end(app, client, his, sandbox):
    """The patient tops up twice through the platform; at discharge ¥1,300.00 is left over: the ¥500.00
    paid last goes back whole, ¥800.00 of the first one; the stay's balance ends at zero."""
    acc = account(app, LOW_BALANCE_CARD)
    stay = stay_with_balance(his, LOW_BALANCE_CARD, -22680)
    first = pay_deposit(app, client, his, sandbox, acc, "1026.80")  # the ¥226.80 owed and ¥800.00 more
    last = pay_deposit(app, client, his, sandbox, acc, "500")
    runner = app.test_cli_runner()
    result = runner.invoke(args=["his", "discharge", stay.inpatient_no])
    assert result.exit_code == 0, result.output
    assert "¥1300.00 to go back to the original payments" in result.output
    assert f"platform asked ({app.config['PUBLIC_BASE_URL']}/api/his/v1/deposit-refunds)" in result.output
    request_no = f"CY{stay.inpatient_no}"
    assert wait_for(lambda: status_of(app, client, request_no)["status"] == "success")
    data = status_of(app, client, request_no)
    assert [(r["order_no"], r["amount_fen"]) for r in data["refunds"]] == [(last, 50000), (first, 80000)]
    assert (load(app, last).status, load(app, last).refunded_fen) == ("refunded", 50000)
    assert (load(app, first).status, load(app, first).refunded_fen) == ("partially_refunded", 80000)
    settled = his.inpatient_stay(LOW_BALANCE_CARD)
    assert settled.status == "discharged" and settled.balance_fen == 0

    again = runner.invoke(args=["his", "discharge", stay.inpatient_no])  # the HIS sends it again
    assert again.exit_code == 0 and "already settled" in again.output and ": success:" in again.output
    assert refund_count(app) == 2
    login(app, client, acc["user"])
    page = client.get(f"/h5/inpatient/deposits?patient_id={acc['patient']}").get_data(as_text=True)
    assert "押金已原路退回 ¥1300.00" in page and 'data-refunded="50000"' in page and 'data-refunded="80000"' in page


def test_simulator_discharge_handles_the_request_in_process_when_the_platform_is_down(app, client, his, sandbox,
                                                                                      monkeypatch):
    import doubles.his.cli as his_cli

    acc = account(app, LOW_BALANCE_CARD)
    stay = stay_with_balance(his, LOW_BALANCE_CARD, -5000)
    order_no = pay_deposit(app, client, his, sandbox, acc, "150")  # the ¥50.00 owed and ¥100.00 more

    def unreachable(path, payload):
        raise requests.ConnectionError("connection refused")

    monkeypatch.setattr(his_cli, "_post_to_platform", unreachable)
    result = app.test_cli_runner().invoke(args=["his", "discharge", stay.inpatient_no])
    assert result.exit_code == 0, result.output
    assert "platform not reachable: handled in-process" in result.output and order_no in result.output
    assert wait_for(lambda: status_of(app, client, f"CY{stay.inpatient_no}")["status"] == "success")
    assert load(app, order_no).refunded_fen == 10000


def test_simulator_discharge_with_a_shortfall_asks_the_platform_nothing(app, client, his):
    stay = stay_with_balance(his, LOW_BALANCE_CARD, -22680)
    result = app.test_cli_runner().invoke(args=["his", "discharge", stay.inpatient_no])
    assert result.exit_code == 0, result.output
    assert "still owes ¥226.80" in result.output and "original payments" not in result.output
    assert refund_count(app) == 0
