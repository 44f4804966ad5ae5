"""HttpHis and the HIS server at the transport level: signatures, replays, timeouts, 5xx."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import requests
from flask import Flask

from app.his import errors
from app.his.http import HttpHis
from app.his.signing import HEADER_SIGNATURE, HEADER_TIMESTAMP, signed_headers

APP_ID, SECRET = "test-platform", "test-secret-0123456789"  # as in conftest.credentials


@pytest.fixture(autouse=True)
def _same_credentials(credentials: tuple[str, str]) -> None:
    assert credentials == (APP_ID, SECRET)


def _get(server: Any, path: str, headers: dict[str, str]) -> requests.Response:
    return requests.get(server.url + path, headers=headers, timeout=5)


def test_signed_request_is_accepted(his_server: Any) -> None:
    headers = signed_headers(APP_ID, SECRET, "GET", "/his/v1/health", b"")
    resp = _get(his_server, "/his/v1/health", headers)
    assert resp.status_code == 200 and resp.json()["data"]["ok"] is True


def test_bad_signature_is_rejected(his_server: Any) -> None:
    headers = signed_headers(APP_ID, "wrong-secret", "GET", "/his/v1/health", b"")
    resp = _get(his_server, "/his/v1/health", headers)
    assert resp.status_code == 401 and resp.json()["code"] == "unauthorized"
    with pytest.raises(errors.HisAuthError):
        HttpHis(his_server.url, APP_ID, "wrong-secret", timeout=5).health()
    with pytest.raises(errors.HisAuthError):
        HttpHis(his_server.url, "someone-else", SECRET, timeout=5).health()


def test_missing_headers_are_rejected(his_server: Any) -> None:
    resp = _get(his_server, "/his/v1/departments", {})
    assert resp.status_code == 401 and resp.json()["code"] == "unauthorized"


def test_replayed_nonce_is_rejected(his_server: Any) -> None:
    headers = signed_headers(APP_ID, SECRET, "GET", "/his/v1/health", b"")
    assert _get(his_server, "/his/v1/health", headers).status_code == 200
    replay = _get(his_server, "/his/v1/health", headers)
    assert replay.status_code == 401 and "nonce" in replay.json()["message"]


def test_stale_timestamp_is_rejected(his_server: Any) -> None:
    headers = signed_headers(APP_ID, SECRET, "GET", "/his/v1/health", b"", now=time.time() - 301)
    resp = _get(his_server, "/his/v1/health", headers)
    assert resp.status_code == 401 and "timestamp" in resp.json()["message"]
    future = signed_headers(APP_ID, SECRET, "GET", "/his/v1/health", b"", now=time.time() + 400)
    assert _get(his_server, "/his/v1/health", future).status_code == 401


def test_tampered_query_or_body_is_rejected(his_server: Any) -> None:
    headers = signed_headers(APP_ID, SECRET, "GET", "/his/v1/doctors?department_code=OB", b"")
    resp = _get(his_server, "/his/v1/doctors?department_code=GY", headers)
    assert resp.status_code == 401
    body = json.dumps({"card_no": "8800000001", "name": "x", "id_number": "y"}).encode()
    headers = signed_headers(APP_ID, SECRET, "POST", "/his/v1/cards/verify", body)
    resp = requests.post(his_server.url + "/his/v1/cards/verify", data=body + b" ",
                         headers=headers, timeout=5)  # fmt: skip
    assert resp.status_code == 401


def test_business_errors_are_json_4xx(his_server: Any) -> None:
    body = json.dumps({"amount_fen": "12.5", "trade_no": "T", "channel": "wechat"}).encode()
    path = "/his/v1/bills/B000000001/settle"
    headers = signed_headers(APP_ID, SECRET, "POST", path, body)
    resp = requests.post(his_server.url + path, data=body, headers=headers, timeout=5)
    assert resp.status_code == 400
    assert resp.json()["code"] == "invalid_request" and resp.json()["message"]
    headers = signed_headers(APP_ID, SECRET, "GET", "/his/v1/cards/0000000000/bills", b"")
    resp = _get(his_server, "/his/v1/cards/0000000000/bills", headers)
    assert resp.status_code == 404 and resp.json()["code"] == "not_found"
    headers = signed_headers(APP_ID, SECRET, "GET", "/his/v1/nothing-here", b"")
    assert _get(his_server, "/his/v1/nothing-here", headers).status_code == 404


def test_timeout_becomes_his_unavailable(serve: Any) -> None:
    slow = Flask("slow_his")

    @slow.route("/his/v1/health")
    def health() -> str:
        time.sleep(1.0)
        return "{}"

    server = serve(slow)
    try:
        started = time.monotonic()
        with pytest.raises(errors.HisUnavailable) as caught:
            HttpHis(server.url, APP_ID, SECRET, timeout=0.2).health()
        assert time.monotonic() - started < 0.9
        assert caught.value.code == "his_unavailable"
    finally:
        server.stop()


def test_connection_refused_becomes_his_unavailable(serve: Any) -> None:
    server = serve(Flask("gone"))
    url = server.url
    server.stop()
    with pytest.raises(errors.HisUnavailable):
        HttpHis(url, APP_ID, SECRET, timeout=1).list_departments()


@pytest.mark.parametrize(
    ("status", "body"),
    [(500, '{"code":"internal_error","message":"boom"}'), (502, "<html>bad gateway</html>"),
     (200, "not json"), (200, '{"data": [{"code": 1}]}'), (404, "<html>nginx</html>"),
     (302, '{"data": []}')],  # a redirect is never followed: the signature covers the path
)  # fmt: skip
def test_broken_answers_become_his_unavailable(serve: Any, status: int, body: str) -> None:
    broken = Flask("broken_his")

    @broken.route("/his/v1/departments")
    def departments() -> tuple[str, int]:
        return body, status

    server = serve(broken)
    try:
        with pytest.raises(errors.HisUnavailable):
            HttpHis(server.url, APP_ID, SECRET, timeout=2).list_departments()
    finally:
        server.stop()


def test_unknown_business_code_stays_a_business_error(serve: Any) -> None:
    odd = Flask("odd_his")

    @odd.route("/his/v1/departments")
    def departments() -> tuple[str, int]:
        return '{"code":"patient_deceased","message":"患者已故"}', 409

    server = serve(odd)
    try:
        with pytest.raises(errors.HisBusinessError) as caught:
            HttpHis(server.url, APP_ID, SECRET, timeout=2).list_departments()
        assert caught.value.code == "patient_deceased"
    finally:
        server.stop()


def test_signature_covers_the_header_values() -> None:
    a = signed_headers(APP_ID, SECRET, "GET", "/his/v1/health", b"", now=1_700_000_000)
    assert a[HEADER_TIMESTAMP] == "1700000000" and len(a[HEADER_SIGNATURE]) == 64
