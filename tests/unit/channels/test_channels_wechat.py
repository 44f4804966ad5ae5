"""WechatPayChannel driven through the real wechatpayv3 code against the WeChat Pay sandbox."""

from __future__ import annotations

import hashlib
import json
import time
from datetime import date, datetime, timedelta
from typing import Any

import pytest
import requests
from tests.unit.channels.channel_helpers import ChannelEnv, open_cashier, tap

from app import clock
from app.channels import (
    ChannelError,
    NotificationIgnored,
    NotificationRejected,
    OrderAlreadyPaid,
    WechatPayChannel,
    make_channels,
)
from app.channels.base import CHINA_TZ
from doubles.channels import wechat as sandbox_wechat
from doubles.channels.keys import ensure_sandbox_keys
from doubles.channels.signing import rsa_sha256_verify, wechat_notification

OPENID = "oPatient-sandbox-openid"


def start(env: ChannelEnv, order_no: str, amount_fen: int = 1500, expire_at: datetime | None = None) -> Any:
    return env.wechat.create_payment(
        order_no, amount_fen, "挂号费-产科门诊", OPENID, env.notify_url("wechat"),
        "http://h5.example/pay/return?o=" + order_no, expire_at,
    )


def pay(env: ChannelEnv, order_no: str, amount_fen: int = 1500) -> Any:
    """Create, open the sandbox cashier, tap 确认支付, and return the verified notification."""
    payment = start(env, order_no, amount_fen)
    _, confirm, _, fields = open_cashier(payment.sandbox_cashier_url)
    answer = tap(confirm, fields)
    assert answer.status_code == 303
    assert answer.headers["Location"] == "http://h5.example/pay/return?o=" + order_no
    return env.receiver.wait_order(order_no)[0].parsed


def resource(env: ChannelEnv, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "appid": env.wechat.appid, "mchid": env.wechat.mchid, "out_trade_no": "FORGED1",
        "transaction_id": "4200000000000000000000000001", "trade_type": "JSAPI", "trade_state": "SUCCESS",
        "success_time": clock.now().astimezone(CHINA_TZ).isoformat(timespec="seconds"),
        "payer": {"openid": OPENID}, "amount": {"total": 100, "payer_total": 100, "currency": "CNY"},
    }
    data.update(overrides)
    return data


# -- paying -------------------------------------------------------------------------------


def test_pay_notify_and_query(env: ChannelEnv, order_no: str) -> None:
    payment = start(env, order_no, 123450)
    params = payment.jsapi_params
    assert params["package"].startswith("prepay_id=wx")
    assert params["signType"] == "RSA"
    message = f"{params['appId']}\n{params['timeStamp']}\n{params['nonceStr']}\n{params['package']}\n"
    keys = ensure_sandbox_keys(env.keys_dir)
    assert rsa_sha256_verify(keys.wechat_merchant_cert, message, params["paySign"])

    page, confirm, _, fields = open_cashier(payment.sandbox_cashier_url)
    assert "1234.50" in page.text and "确认支付" in page.text and "取消" in page.text
    assert env.wechat.query_payment(order_no).state == "unpaid"

    assert tap(confirm, fields).status_code == 303
    note = env.receiver.wait_order(order_no)[0].parsed
    assert (note.order_no, note.amount_fen, note.app_id, note.mch_id) == (order_no, 123450, "wx_sandbox_appid",
                                                                          "1900000109")
    assert note.trade_no.startswith("4200") and note.notification_id
    assert note.paid_at is not None and note.paid_at.utcoffset() == CHINA_TZ.utcoffset(None)

    status = env.wechat.query_payment(order_no)
    assert (status.state, status.amount_fen, status.trade_no) == ("paid", 123450, note.trade_no)

    # a second tap on a stale page pays nothing twice and sends nothing new
    assert tap(confirm, fields).status_code == 303  # a notification would have gone inline, before the answer
    assert len(env.receiver.for_order(order_no)) == 1


def test_creating_twice_returns_the_same_prepay(env: ChannelEnv, order_no: str) -> None:
    first = start(env, order_no).raw["prepay_id"]
    assert start(env, order_no).raw["prepay_id"] == first
    with pytest.raises(ChannelError) as exc:
        start(env, order_no, amount_fen=1)
    assert exc.value.code == "INVALID_REQUEST"


def test_cancel_then_close(env: ChannelEnv, order_no: str) -> None:
    payment = start(env, order_no)
    _, confirm, cancel, fields = open_cashier(payment.sandbox_cashier_url)
    assert tap(cancel, fields).status_code == 303
    assert env.wechat.query_payment(order_no).state == "unpaid"

    env.wechat.close_payment(order_no)
    env.wechat.close_payment(order_no)  # closing twice is harmless
    assert env.wechat.query_payment(order_no).state == "closed"
    refused = tap(confirm, fields)
    assert refused.status_code == 400 and "已关闭" in refused.text
    assert env.receiver.for_order(order_no) == []


def test_expired_order_cannot_be_paid(env: ChannelEnv, order_no: str) -> None:
    payment = start(env, order_no, expire_at=clock.now().astimezone(CHINA_TZ) + timedelta(minutes=1))
    _, confirm, _, fields = open_cashier(payment.sandbox_cashier_url)
    clock.advance(timedelta(minutes=2))  # the patient leaves the cashier open past the deadline
    refused = tap(confirm, fields)
    assert refused.status_code == 400 and "截止" in refused.text


def test_close_after_payment_is_refused(env: ChannelEnv, order_no: str) -> None:
    pay(env, order_no)
    with pytest.raises(OrderAlreadyPaid):
        env.wechat.close_payment(order_no)


def test_unknown_order_is_unpaid(env: ChannelEnv) -> None:
    status = env.wechat.query_payment("NEVER-CREATED")
    assert (status.state, status.trade_no) == ("unpaid", None)


def test_tampered_pay_sign_is_refused_by_the_cashier(env: ChannelEnv, order_no: str) -> None:
    payment = start(env, order_no)
    bad = payment.sandbox_cashier_url.replace("nonceStr=", "nonceStr=x")
    assert requests.get(bad, timeout=10).status_code == 400


# -- refunds ------------------------------------------------------------------------------


def test_partial_and_full_refunds(env: ChannelEnv, order_no: str) -> None:
    pay(env, order_no, 300)
    first = env.wechat.refund(order_no, order_no + "R1", 100, 300, "患者取消挂号")
    assert (first.state, first.refund_fen) == ("processing", 100) and first.channel_refund_no

    # retrying with the same refund number is idempotent
    again = env.wechat.refund(order_no, order_no + "R1", 100, 300, "患者取消挂号")
    assert again.channel_refund_no == first.channel_refund_no

    note = env.receiver.wait_order(order_no, "refund")[0].parsed
    assert (note.refund_no, note.state, note.refund_fen, note.mch_id) == (order_no + "R1", "succeeded", 100,
                                                                          "1900000109")
    assert note.app_id is None and note.channel_refund_no == first.channel_refund_no
    assert env.wechat.query_refund(order_no, order_no + "R1").state == "succeeded"

    with pytest.raises(ChannelError) as exc:
        env.wechat.refund(order_no, order_no + "R2", 201, 300, "超额")
    assert exc.value.code == "INVALID_REQUEST"

    second = env.wechat.refund(order_no, order_no + "R2", 200, 300, "余额")
    assert second.state == "processing"
    env.receiver.wait_order(order_no, "refund", count=2)
    result = env.wechat.query_refund(order_no, order_no + "R2")
    assert (result.state, result.refund_fen) == ("succeeded", 200)
    assert env.wechat.query_payment(order_no).state == "refunded"


def test_refund_query_completes_a_refund_whose_notice_was_lost(env: ChannelEnv, order_no: str) -> None:
    pay(env, order_no, 500)
    env.wechat.refund(order_no, order_no + "R", 500, 500, "退号", notify_url=env.notify_url("wechat", "refund"))
    clock.advance(timedelta(seconds=5))  # past the channel's processing delay
    assert env.wechat.query_refund(order_no, order_no + "R").state == "succeeded"


def test_refund_of_unknown_refund_is_not_found(env: ChannelEnv) -> None:
    assert env.wechat.query_refund("NOPE", "NOPE-R").state == "not_found"


def test_an_abnormal_refund_is_reported_abnormal_not_failed(env: ChannelEnv, order_no: str) -> None:
    """WeChat ABNORMAL (the card the money goes back to was cancelled) needs handling; it is not final."""
    pay(env, order_no, 800)
    env.sandbox.refunds_on_hold = True
    try:
        env.wechat.refund(order_no, order_no + "RA", 800, 800, "退号", notify_url=env.notify_url("wechat", "refund"))
        assert env.sandbox.refund_abnormal(order_no + "RA")
    finally:
        env.sandbox.refunds_on_hold = False
    note = env.receiver.wait_order(order_no, "refund")[-1].parsed
    assert note.state == "abnormal"
    assert env.wechat.query_refund(order_no, order_no + "RA").state == "abnormal"
    env.sandbox.refund_abnormal_resolved(order_no + "RA")
    assert env.receiver.wait_order(order_no, "refund", count=2)[-1].parsed.state == "succeeded"
    assert env.wechat.query_refund(order_no, order_no + "RA").state == "succeeded"


def test_refund_of_unpaid_order_is_refused(env: ChannelEnv, order_no: str) -> None:
    start(env, order_no)
    with pytest.raises(ChannelError):
        env.wechat.refund(order_no, order_no + "R", 100, 1500, "x")


# -- bills --------------------------------------------------------------------------------


def test_trade_bill_lists_payments_and_refunds(env: ChannelEnv, order_no: str) -> None:
    pay(env, order_no, 1)
    env.wechat.refund(order_no, order_no + "R", 1, 1, "退号")
    env.receiver.wait_order(order_no, "refund")
    rows = [r for r in env.wechat.download_bill(clock.now().astimezone(CHINA_TZ).date()) if r.order_no == order_no]
    kinds = {(r.kind, r.amount_fen, r.refund_no) for r in rows}
    assert kinds == {("payment", 1, None), ("refund", 1, order_no + "R")}
    assert all(r.trade_no.startswith("4200") for r in rows)


def test_bill_for_an_empty_day_is_empty(env: ChannelEnv) -> None:
    assert env.wechat.download_bill(date(2001, 1, 1)) == []


def test_bill_with_a_wrong_hash_is_refused(env: ChannelEnv, order_no: str, monkeypatch: pytest.MonkeyPatch) -> None:
    pay(env, order_no, 2)
    real_sha1 = hashlib.sha1
    monkeypatch.setattr(sandbox_wechat.hashlib, "sha1", lambda data: real_sha1(data + b"tampered"))
    with pytest.raises(ChannelError) as exc:
        env.wechat.download_bill(clock.now().astimezone(CHINA_TZ).date())
    assert exc.value.code == "BILL_HASH_MISMATCH"


# -- notifications: delivery ------------------------------------------------------------------


def test_unanswered_notification_is_retried_until_accepted(env: ChannelEnv, order_no: str) -> None:
    env.receiver.fail_orders[order_no] = 2
    pay(env, order_no)
    record = env.sandbox.notifications(order_no)[0]
    assert record["attempts"] == 3 and record["delivered_at"] is not None


def test_retries_follow_the_schedule_after_inline_attempts(env: ChannelEnv, order_no: str) -> None:
    env.receiver.fail_orders[order_no] = 3
    payment = start(env, order_no)
    _, confirm, _, fields = open_cashier(payment.sandbox_cashier_url)
    tap(confirm, fields)
    record = env.sandbox.notifications(order_no)[0]
    assert record["delivered_at"] is None and record["attempts"] == 3
    assert record["id"] not in [r.notification_id for r in env.sandbox.deliver_due()]  # due only in 15 s
    results = [r for r in env.sandbox.deliver_due(now=time.time() + 16) if r.notification_id == record["id"]]
    assert results and results[0].delivered
    assert env.receiver.wait_order(order_no)[0].parsed.amount_fen == 1500


def test_replay_delivers_the_same_notification(env: ChannelEnv, order_no: str) -> None:
    first = pay(env, order_no)
    nid = env.sandbox.notifications(order_no)[0]["id"]
    assert env.sandbox.redeliver(nid).delivered
    both = env.receiver.wait_order(order_no, count=2)
    assert both[1].parsed.notification_id == first.notification_id
    assert both[1].parsed.trade_no == first.trade_no
    # the exact same request replayed still verifies (deduplication is the caller's job)
    again = env.wechat.parse_payment_notification(both[0].headers, both[0].body)
    assert again == both[0].parsed


# -- notifications: rejection -----------------------------------------------------------------


@pytest.fixture
def genuine(env: ChannelEnv, order_no: str) -> tuple[dict[str, str], bytes]:
    pay(env, order_no)
    item = env.receiver.wait_order(order_no)[0]
    return item.headers, item.body


def rejected(env: ChannelEnv, headers: dict[str, str], body: bytes) -> str:
    with pytest.raises(NotificationRejected) as exc:
        env.wechat.parse_payment_notification(headers, body)
    return exc.value.code


def test_tampered_body_is_rejected(env: ChannelEnv, genuine: tuple[dict[str, str], bytes]) -> None:
    headers, body = genuine
    data = json.loads(body)
    data["summary"] = "支付成功!"
    assert rejected(env, headers, json.dumps(data, ensure_ascii=False).encode()) == "SIGNATURE_INVALID"


def test_signature_of_another_message_is_rejected(env: ChannelEnv, genuine: tuple[dict[str, str], bytes]) -> None:
    headers, body = genuine
    keys = ensure_sandbox_keys(env.keys_dir)
    other_headers, _ = wechat_notification(keys, "TRANSACTION.SUCCESS", resource(env))
    forged = dict(headers, **{"Wechatpay-Signature": other_headers["Wechatpay-Signature"]})
    assert rejected(env, forged, body) == "SIGNATURE_INVALID"


def test_signature_by_an_unknown_key_is_rejected(env: ChannelEnv, genuine: tuple[dict[str, str], bytes]) -> None:
    headers, body = genuine
    keys = ensure_sandbox_keys(env.keys_dir)
    # signed with the merchant's own key but claiming the WeChat Pay public key id
    from doubles.channels.signing import rsa_sha256_sign

    ts, nonce = headers["Wechatpay-Timestamp"], headers["Wechatpay-Nonce"]
    signature = rsa_sha256_sign(keys.wechat_merchant_key, f"{ts}\n{nonce}\n{body.decode()}\n")
    assert rejected(env, dict(headers, **{"Wechatpay-Signature": signature}), body) == "SIGNATURE_INVALID"
    assert rejected(env, dict(headers, **{"Wechatpay-Serial": "NOT-HEX"}), body) in ("INVALID", "SIGNATURE_INVALID")


def test_missing_headers_and_garbage_are_rejected(env: ChannelEnv, genuine: tuple[dict[str, str], bytes]) -> None:
    headers, body = genuine
    assert rejected(env, {}, body) == "BAD_TIMESTAMP"
    assert rejected(env, {k: v for k, v in headers.items() if k != "Wechatpay-Signature"}, body) == "MISSING_SIGNATURE"
    assert rejected(env, headers, b"not json") == "SIGNATURE_INVALID"
    lowered = {k.lower(): v for k, v in headers.items()}
    assert env.wechat.parse_payment_notification(lowered, body).amount_fen == 1500


def test_stale_timestamp_is_rejected(env: ChannelEnv) -> None:
    keys = ensure_sandbox_keys(env.keys_dir)
    headers, body = wechat_notification(keys, "TRANSACTION.SUCCESS", resource(env), timestamp=int(time.time()) - 600)
    assert rejected(env, headers, body) == "STALE_TIMESTAMP"


def test_foreign_appid_and_mchid_are_rejected(env: ChannelEnv) -> None:
    keys = ensure_sandbox_keys(env.keys_dir)
    good = wechat_notification(keys, "TRANSACTION.SUCCESS", resource(env))
    assert env.wechat.parse_payment_notification(*good).order_no == "FORGED1"
    assert rejected(env, *wechat_notification(keys, "TRANSACTION.SUCCESS", resource(env, appid="wxOTHER"))) == (
        "FOREIGN_APPID"
    )
    assert rejected(env, *wechat_notification(keys, "TRANSACTION.SUCCESS", resource(env, mchid="1234567890"))) == (
        "FOREIGN_MCHID"
    )


def test_other_events_are_ignored_not_rejected(env: ChannelEnv) -> None:
    keys = ensure_sandbox_keys(env.keys_dir)
    refund_event = wechat_notification(keys, "REFUND.SUCCESS", {
        "mchid": env.wechat.mchid, "out_trade_no": "A", "out_refund_no": "B", "refund_id": "50",
        "refund_status": "SUCCESS", "amount": {"total": 1, "refund": 1},
    })
    with pytest.raises(NotificationIgnored):
        env.wechat.parse_payment_notification(*refund_event)
    assert env.wechat.parse_refund_notification(*refund_event).refund_fen == 1


def test_wrong_apiv3_key_cannot_decrypt(env: ChannelEnv, genuine: tuple[dict[str, str], bytes]) -> None:
    keys = ensure_sandbox_keys(env.keys_dir)
    other = WechatPayChannel(
        appid=env.wechat.appid, mchid=env.wechat.mchid, private_key=keys.read(keys.wechat_merchant_key),
        cert_serial_no=keys.wechat_merchant_serial, apiv3_key="0" * 32,
        public_key=keys.read(keys.wechat_public_key), public_key_id=keys.wechat_public_key_id,
        gateway=env.wechat.gateway,
    )
    with pytest.raises(NotificationRejected):
        other.parse_payment_notification(*genuine)


# -- keys and modes -------------------------------------------------------------------------


def test_certificate_mode_and_migration(env: ChannelEnv, order_no: str) -> None:
    keys = ensure_sandbox_keys(env.keys_dir)
    cert_mode = make_channels(dict(env.config, SANDBOX_WECHAT_VERIFY="certificate"))["wechat"]
    # responses signed with the platform certificate downloaded from /v3/certificates
    assert cert_mode.query_payment("NEVER-CREATED").state == "unpaid"
    by_cert = wechat_notification(keys, "TRANSACTION.SUCCESS", resource(env), signer="certificate")
    by_public_key = wechat_notification(keys, "TRANSACTION.SUCCESS", resource(env), signer="public_key")
    assert cert_mode.parse_payment_notification(*by_cert).amount_fen == 100
    # an account migrating to the public key still accepts certificate-signed notifications
    assert env.wechat.parse_payment_notification(*by_cert).amount_fen == 100
    assert env.wechat.parse_payment_notification(*by_public_key).amount_fen == 100
    with pytest.raises(NotificationRejected):
        cert_mode.parse_payment_notification(*by_public_key)  # it was never given the public key


def test_response_signed_by_an_unexpected_key_is_refused(env: ChannelEnv) -> None:
    keys = ensure_sandbox_keys(env.keys_dir)
    wrong = WechatPayChannel(
        appid=env.wechat.appid, mchid=env.wechat.mchid, private_key=keys.read(keys.wechat_merchant_key),
        cert_serial_no=keys.wechat_merchant_serial, apiv3_key=keys.wechat_apiv3_key,
        public_key=keys.read(keys.alipay_public_key), public_key_id=keys.wechat_public_key_id,
        gateway=env.wechat.gateway,
    )
    with pytest.raises(ChannelError) as exc:
        wrong.create_payment("X" + str(time.time_ns()), 1, "x", OPENID, "http://h5.example/n", None, None)
    assert exc.value.code == "RESPONSE_SIGNATURE_INVALID"


def test_request_signed_by_an_unknown_merchant_key_is_refused(env: ChannelEnv) -> None:
    keys = ensure_sandbox_keys(env.keys_dir)
    impostor = WechatPayChannel(
        appid=env.wechat.appid, mchid=env.wechat.mchid, private_key=keys.read(keys.alipay_app_key),
        cert_serial_no=keys.wechat_merchant_serial, apiv3_key=keys.wechat_apiv3_key,
        public_key=keys.read(keys.wechat_public_key), public_key_id=keys.wechat_public_key_id,
        gateway=env.wechat.gateway,
    )
    with pytest.raises(ChannelError) as exc:
        impostor.query_payment("ANY")
    assert exc.value.code == "SIGN_ERROR"


def test_unreachable_gateway_is_unavailable(env: ChannelEnv) -> None:
    from app.channels import ChannelUnavailable

    cfg = dict(env.config, SANDBOX_BASE_URL="http://127.0.0.1:9/sandbox")
    with pytest.raises(ChannelUnavailable):
        make_channels(cfg)["wechat"].query_payment("ANY")


def test_ack_format(env: ChannelEnv) -> None:
    assert env.wechat.notification_ack(True) == ("", 204, "text/plain")
    body, status, content_type = env.wechat.notification_ack(False, "签名错误")
    assert status == 400 and content_type == "application/json"
    assert json.loads(body) == {"code": "FAIL", "message": "签名错误"}
