"""AlipayChannel driven through the real python-alipay-sdk code against the Alipay sandbox."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit

import pytest
import requests
from tests.unit.channels.channel_helpers import ChannelEnv, open_cashier, tap

from app import clock
from app.channels import (
    AlipayChannel,
    ChannelError,
    NotificationIgnored,
    NotificationRejected,
    OrderAlreadyPaid,
)
from app.channels.base import CHINA_TZ
from doubles.channels.keys import ensure_sandbox_keys
from doubles.channels.signing import (
    alipay_content,
    alipay_notification,
    rsa_sha256_verify,
)

RETURN_URL = "http://h5.example/pay/return"


def start(env: ChannelEnv, order_no: str, amount_fen: int = 1500, expire_at: datetime | None = None) -> Any:
    return env.alipay.create_payment(
        order_no, amount_fen, "门诊缴费-检验费", None, env.notify_url("alipay", "any"), RETURN_URL, expire_at,
    )


def pay(env: ChannelEnv, order_no: str, amount_fen: int = 1500) -> Any:
    """Open the wap cashier, tap 确认支付, and return the verified notification."""
    _, confirm, _, fields = open_cashier(start(env, order_no, amount_fen).redirect_url)
    answer = tap(confirm, fields)
    assert answer.status_code == 303
    return env.receiver.wait_order(order_no)[0].parsed


def notice(env: ChannelEnv, **overrides: str) -> dict[str, str]:
    params = {
        "notify_time": "2024-05-01 10:00:03", "notify_type": "trade_status_sync", "notify_id": "n1",
        "charset": "utf-8", "version": "1.0", "app_id": env.alipay.app_id, "auth_app_id": env.alipay.app_id,
        "trade_no": "2024050122001400000000000001", "out_trade_no": "FORGED1", "buyer_id": "2088102177846880",
        "seller_id": env.alipay.seller_id, "trade_status": "TRADE_SUCCESS", "total_amount": "1234.50",
        "subject": "检验费", "gmt_create": "2024-05-01 10:00:00", "gmt_payment": "2024-05-01 10:00:02",
    }
    params.update(overrides)
    return params


# -- paying -------------------------------------------------------------------------------


@pytest.mark.parametrize(("amount_fen", "yuan"), [(1, "0.01"), (123450, "1234.50"), (10, "0.10")])
def test_pay_amounts_are_exact(env: ChannelEnv, order_no: str, amount_fen: int, yuan: str) -> None:
    payment = start(env, order_no, amount_fen)
    biz = json.loads(parse_qs(urlsplit(payment.redirect_url).query)["biz_content"][0])
    assert biz["total_amount"] == yuan and biz["product_code"] == "QUICK_WAP_WAY"
    page, confirm, _, fields = open_cashier(payment.redirect_url)
    assert f'data-amount="{yuan}"' in page.text
    answer = tap(confirm, fields)
    assert answer.status_code == 303

    # the sync return carries a signed query (never proof of payment, but well formed)
    location = answer.headers["Location"]
    assert location.startswith(RETURN_URL + "?")
    back = dict(parse_qsl(urlsplit(location).query))
    keys = ensure_sandbox_keys(env.keys_dir)
    assert rsa_sha256_verify(keys.alipay_public_key, alipay_content(back, ("sign", "sign_type")), back["sign"])
    assert back["total_amount"] == yuan

    note = env.receiver.wait_order(order_no)[0].parsed
    assert (note.amount_fen, note.app_id, note.mch_id) == (amount_fen, "2021000000000000", "2088000000000001")
    assert note.notification_id and note.paid_at is not None
    status = env.alipay.query_payment(order_no)
    assert (status.state, status.amount_fen, status.trade_no) == ("paid", amount_fen, note.trade_no)


def test_unopened_trade_is_unpaid_and_closing_it_is_harmless(env: ChannelEnv, order_no: str) -> None:
    start(env, order_no)
    status = env.alipay.query_payment(order_no)
    assert (status.state, status.trade_no) == ("unpaid", None)
    env.alipay.close_payment(order_no)


def test_cancel_then_close(env: ChannelEnv, order_no: str) -> None:
    _, confirm, cancel, fields = open_cashier(start(env, order_no).redirect_url)
    answer = tap(cancel, fields)
    assert answer.status_code == 303 and answer.headers["Location"] == RETURN_URL
    assert env.alipay.query_payment(order_no).state == "unpaid"
    env.alipay.close_payment(order_no)
    env.alipay.close_payment(order_no)  # closing twice is harmless
    assert env.alipay.query_payment(order_no).state == "closed"
    assert tap(confirm, fields).status_code == 400
    assert requests.get(start(env, order_no).redirect_url, timeout=10).status_code == 400
    assert env.receiver.for_order(order_no) == []


def test_close_after_payment_is_refused(env: ChannelEnv, order_no: str) -> None:
    pay(env, order_no)
    with pytest.raises(OrderAlreadyPaid):
        env.alipay.close_payment(order_no)


def test_expired_link_cannot_be_paid(env: ChannelEnv, order_no: str) -> None:
    expired = start(env, order_no, expire_at=clock.now().astimezone(CHINA_TZ) - timedelta(minutes=1))
    page = requests.get(expired.redirect_url, timeout=10)
    assert page.status_code == 400 and "超时" in page.text


def test_sdk_default_product_code_is_refused(env: ChannelEnv, order_no: str) -> None:
    """The SDK's own wap pay sends QUICK_WAP_PAY; the adapter must override it."""
    query = env.alipay.client.api_alipay_trade_wap_pay("x", order_no, "1.00", notify_url=env.notify_url("alipay"))
    page = requests.get(f"{env.alipay.gateway}?{query}", timeout=10)
    assert page.status_code == 400 and "QUICK_WAP_WAY" in page.text


def test_tampered_cashier_url_is_refused(env: ChannelEnv, order_no: str) -> None:
    url = start(env, order_no, 100).redirect_url.replace("1.00", "0.01")
    page = requests.get(url, timeout=10)
    assert page.status_code == 400 and "isv.invalid-signature" in page.text


# -- refunds ------------------------------------------------------------------------------


def test_partial_and_full_refunds(env: ChannelEnv, order_no: str) -> None:
    pay(env, order_no, 123450)
    first = env.alipay.refund(order_no, order_no + "R1", 3450, 123450, "检验项目取消")
    assert (first.state, first.refund_fen) == ("succeeded", 3450)
    note = env.receiver.wait_order(order_no, "refund")[0].parsed
    assert (note.refund_no, note.refunded_total_fen, note.state) == (order_no + "R1", 3450, "succeeded")
    assert note.succeeded_at is not None
    assert env.alipay.query_payment(order_no).state == "paid"

    # a retry with the same refund number is answered fund_change=N and read back
    again = env.alipay.refund(order_no, order_no + "R1", 3450, 123450, "检验项目取消")
    assert (again.state, again.refund_fen) == ("succeeded", 3450)

    with pytest.raises(ChannelError) as exc:
        env.alipay.refund(order_no, order_no + "R2", 120001, 123450, "超额")
    assert exc.value.code == "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL"

    env.alipay.refund(order_no, order_no + "R2", 120000, 123450, "余额")
    notes = env.receiver.wait_order(order_no, "refund", count=2)
    assert notes[1].parsed.refunded_total_fen == 123450
    assert env.alipay.query_refund(order_no, order_no + "R2").refund_fen == 120000
    assert env.alipay.query_refund(order_no, order_no + "R9").state == "not_found"
    assert env.alipay.query_payment(order_no).state == "refunded"


def test_refund_of_unpaid_trade_is_refused(env: ChannelEnv, order_no: str) -> None:
    with pytest.raises(ChannelError) as exc:
        env.alipay.refund(order_no, order_no + "R", 1, 1, "x")
    assert exc.value.code == "ACQ.TRADE_NOT_EXIST"


# -- bills --------------------------------------------------------------------------------


def test_trade_bill_lists_payments_and_refunds(env: ChannelEnv, order_no: str) -> None:
    pay(env, order_no, 123450)
    env.alipay.refund(order_no, order_no + "R", 1, 123450, "找零")
    rows = [r for r in env.alipay.download_bill(clock.now().astimezone(CHINA_TZ).date()) if r.order_no == order_no]
    assert {(r.kind, r.amount_fen, r.refund_no) for r in rows} == {
        ("payment", 123450, None), ("refund", 1, order_no + "R"),
    }


def test_bill_for_an_empty_day_is_empty(env: ChannelEnv) -> None:
    assert env.alipay.download_bill(date(2001, 1, 1)) == []


# -- notifications ------------------------------------------------------------------------


@pytest.fixture
def genuine(env: ChannelEnv, order_no: str) -> tuple[dict[str, str], bytes]:
    pay(env, order_no)
    item = env.receiver.wait_order(order_no)[0]
    return item.headers, item.body


def rejected(env: ChannelEnv, body: bytes, headers: dict[str, str] | None = None) -> str:
    with pytest.raises(NotificationRejected) as exc:
        env.alipay.parse_payment_notification(headers or {}, body)
    return exc.value.code


def with_param(body: bytes, **changes: str) -> bytes:
    params = dict(parse_qsl(body.decode()))
    params.update(changes)
    return urlencode(params).encode()


def test_tampered_amount_is_rejected(env: ChannelEnv, genuine: tuple[dict[str, str], bytes]) -> None:
    _, body = genuine
    assert rejected(env, with_param(body, total_amount="0.01")) == "SIGNATURE_INVALID"


def test_wrong_or_missing_signature_is_rejected(env: ChannelEnv, genuine: tuple[dict[str, str], bytes]) -> None:
    _, body = genuine
    keys = ensure_sandbox_keys(env.keys_dir)
    _, other = alipay_notification(keys, notice(env))
    other_sign = dict(parse_qsl(other.decode()))["sign"]
    assert rejected(env, with_param(body, sign=other_sign)) == "SIGNATURE_INVALID"
    assert rejected(env, with_param(body, sign="@@not-base64@@")) == "SIGNATURE_INVALID"
    stripped = urlencode([(k, v) for k, v in parse_qsl(body.decode()) if k != "sign"]).encode()
    assert rejected(env, stripped) == "MISSING_SIGNATURE"
    assert rejected(env, with_param(body, sign_type="RSA")) == "BAD_SIGN_TYPE"


def test_signature_by_another_key_is_rejected(env: ChannelEnv) -> None:
    keys = ensure_sandbox_keys(env.keys_dir)
    from doubles.channels.signing import rsa_sha256_sign

    params = notice(env)
    params["sign"] = rsa_sha256_sign(keys.alipay_app_key, alipay_content(params, ()))
    params["sign_type"] = "RSA2"
    assert rejected(env, urlencode(params).encode()) == "SIGNATURE_INVALID"


def test_malformed_bodies_are_rejected(env: ChannelEnv, genuine: tuple[dict[str, str], bytes]) -> None:
    _, body = genuine
    assert rejected(env, b"\xff\xfe") == "MALFORMED"
    assert rejected(env, b"") == "MISSING_SIGNATURE"
    assert rejected(env, body + b"&app_id=2021000000000000") == "MALFORMED"  # duplicate parameter


def test_foreign_app_and_seller_are_rejected(env: ChannelEnv) -> None:
    keys = ensure_sandbox_keys(env.keys_dir)
    ok = env.alipay.parse_payment_notification(*alipay_notification(keys, notice(env)))
    assert (ok.order_no, ok.amount_fen) == ("FORGED1", 123450)
    assert rejected(env, alipay_notification(keys, notice(env, app_id="2021009999999999"))[1]) == "FOREIGN_APPID"
    assert rejected(env, alipay_notification(keys, notice(env, seller_id="2088999999999999"))[1]) == "FOREIGN_SELLER"


def test_non_payment_events_are_ignored(env: ChannelEnv) -> None:
    keys = ensure_sandbox_keys(env.keys_dir)
    for params in (notice(env, trade_status="WAIT_BUYER_PAY"), notice(env, trade_status="TRADE_CLOSED"),
                   notice(env, out_biz_no="R1", refund_fee="1.00", gmt_refund="2024-05-01 11:00:00.123")):
        with pytest.raises(NotificationIgnored):
            env.alipay.parse_payment_notification(*alipay_notification(keys, params))
    with pytest.raises(NotificationIgnored):
        env.alipay.parse_refund_notification(*alipay_notification(keys, notice(env)))


def test_replay_returns_the_same_notification(env: ChannelEnv, order_no: str) -> None:
    first = pay(env, order_no)
    nid = env.sandbox.notifications(order_no)[0]["id"]
    assert env.sandbox.redeliver(nid).delivered
    both = env.receiver.wait_order(order_no, count=2)
    assert both[1].parsed == first
    assert env.alipay.parse_payment_notification(both[0].headers, both[0].body) == first


def test_notification_is_retried_until_success(env: ChannelEnv, order_no: str) -> None:
    env.receiver.fail_orders[order_no] = 2
    pay(env, order_no)
    record = env.sandbox.notifications(order_no)[0]
    assert record["attempts"] == 3 and record["delivered_at"] is not None


def test_ack_is_the_exact_word_success(env: ChannelEnv) -> None:
    assert env.alipay.notification_ack(True) == ("success", 200, "text/plain")
    assert env.alipay.notification_ack(False)[0] == "fail"


def test_bare_base64_keys_are_accepted(env: ChannelEnv) -> None:
    keys = ensure_sandbox_keys(env.keys_dir)

    def bare(pem: str) -> str:
        return "".join(line for line in pem.splitlines() if not line.startswith("-----"))

    channel = AlipayChannel(
        app_id=env.alipay.app_id,
        app_private_key=bare(keys.read(keys.alipay_app_key)),
        alipay_public_key=bare(keys.read(keys.alipay_public_key)),
        gateway=env.alipay.gateway,
    )
    assert channel.query_payment("NEVER-OPENED").state == "unpaid"


def test_response_signed_by_an_unexpected_key_is_refused(env: ChannelEnv) -> None:
    keys = ensure_sandbox_keys(env.keys_dir)
    channel = AlipayChannel(
        app_id=env.alipay.app_id, app_private_key=keys.read(keys.alipay_app_key),
        alipay_public_key=keys.read(keys.wechat_public_key), gateway=env.alipay.gateway,
    )
    with pytest.raises(ChannelError) as exc:
        channel.query_payment("ANY")
    assert exc.value.code == "RESPONSE_SIGNATURE_INVALID"


def test_foreign_app_id_is_refused_by_the_gateway(env: ChannelEnv) -> None:
    keys = ensure_sandbox_keys(env.keys_dir)
    channel = AlipayChannel(
        app_id="2021009999999999", app_private_key=keys.read(keys.alipay_app_key),
        alipay_public_key=keys.read(keys.alipay_public_key), gateway=env.alipay.gateway,
    )
    with pytest.raises(ChannelError) as exc:
        channel.query_payment("ANY")
    assert exc.value.code == "isv.invalid-app-id"


def test_notifications_endpoint_lists_and_replays(env: ChannelEnv, order_no: str) -> None:
    pay(env, order_no)
    listed = requests.get(f"{env.sandbox_url}/sandbox/notifications", params={"order_no": order_no}, timeout=10)
    [record] = listed.json()
    replay = requests.post(f"{env.sandbox_url}/sandbox/notifications/{record['id']}/redeliver", timeout=10)
    assert replay.json()["delivered"] is True
    env.receiver.wait_order(order_no, count=2)
