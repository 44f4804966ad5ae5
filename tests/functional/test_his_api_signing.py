"""The HIS-facing API's signature rule, tested through a probe route on the shared blueprint."""

from __future__ import annotations

import json
import time

import pytest
from flask import jsonify

from app.api.his_api import signed_by_his
from app.services.signing import signed_headers


PATH = "/api/his/v1/_probe"


@signed_by_his
def probe():
    return jsonify(ok=True)


def _call(app, body: bytes, headers: dict):
    """Call the decorated probe in a request context (real endpoints use the same decorator)."""
    with app.test_request_context(PATH, method="POST", data=body, headers=headers):
        response = app.make_response(probe())
        return response.status_code, response.get_json()


def _post(client, app, path, payload, **sign):
    body = json.dumps(payload).encode()
    headers = signed_headers(app.config["HIS_EVENT_APP_ID"], sign.pop("secret", app.config["HIS_EVENT_SECRET"]),
                             "POST", path, body, **sign)
    return _call(app, body, headers), headers, body


def test_valid_signature_passes(app, clean_db):
    (status, _), _, _ = _post(None, app, PATH, {"a": 1})
    assert status == 200


def test_replayed_nonce_is_refused(app, clean_db):
    (status, _), headers, body = _post(None, app, PATH, {"a": 1})
    assert status == 200
    assert _call(app, body, headers) == (401, {"code": "unauthorized", "message": "replayed nonce"})


def test_expired_timestamp_is_refused(app, clean_db):
    (status, body), _, _ = _post(None, app, PATH, {"a": 1}, timestamp=int(time.time()) - 301)
    assert status == 401 and "window" in body["message"]


def test_forged_signature_is_refused(app, clean_db):
    (status, body), _, _ = _post(None, app, PATH, {"a": 1}, secret="not-the-secret")
    assert status == 401 and body["message"] == "bad signature"


def test_tampered_body_is_refused(app, clean_db):
    body = json.dumps({"amount_fen": 1}).encode()
    headers = signed_headers(app.config["HIS_EVENT_APP_ID"], app.config["HIS_EVENT_SECRET"], "POST", PATH, body)
    assert _call(app, json.dumps({"amount_fen": 100000}).encode(), headers)[0] == 401


# -- hostile bodies get 400/401, never a 500 (issue 14) --------------------------------------------------

@pytest.mark.parametrize("path", ["/api/his/v1/refunds", "/api/his/v1/deposit-refunds", "/api/his/v1/events"])
def test_an_unsigned_non_utf8_body_is_401_not_500(client, clean_db, path):
    body = "退费".encode("gbk") + b"\xff\xfe"
    headers = {"X-App-Id": "his", "X-Timestamp": str(int(time.time())), "X-Nonce": "n" * 16,
               "X-Signature": "0" * 64, "Content-Type": "application/json"}
    assert client.post(path, data=body, headers=headers).status_code == 401
    assert client.post(path, data=body, headers={"Content-Type": "application/json"}).status_code == 401


@pytest.mark.parametrize("path", ["/api/his/v1/refunds", "/api/his/v1/deposit-refunds", "/api/his/v1/events"])
def test_a_signed_non_utf8_body_is_400(app, client, clean_db, path):
    body = "退费".encode("gbk")
    headers = signed_headers(app.config["HIS_EVENT_APP_ID"], app.config["HIS_EVENT_SECRET"], "POST", path, body)
    response = client.post(path, data=body, headers=headers)
    assert response.status_code == 400 and response.get_json()["code"] == "invalid_request"


@pytest.mark.parametrize("path", ["/api/his/v1/refunds", "/api/his/v1/deposit-refunds", "/api/his/v1/events"])
def test_json_nested_100000_deep_is_400(app, client, clean_db, path):
    body = b"[" * 100_000 + b"]" * 100_000
    headers = signed_headers(app.config["HIS_EVENT_APP_ID"], app.config["HIS_EVENT_SECRET"], "POST", path, body)
    response = client.post(path, data=body, headers=headers)
    assert response.status_code in (400, 413) and response.get_json()["code"] in ("invalid_request", "too_large")
    body = b'{"a":' * 20_000 + b"1" + b"}" * 20_000  # within the size limit, far deeper than any request
    headers = signed_headers(app.config["HIS_EVENT_APP_ID"], app.config["HIS_EVENT_SECRET"], "POST", path, body)
    response = client.post(path, data=body, headers=headers)
    assert response.status_code == 400 and response.get_json()["code"] == "invalid_request"


def test_one_signature_for_both_directions(app, clean_db):
    """The platform's inbound check and the HIS contract share app/his/signing.py: no second HMAC."""
    import inspect

    from app.his import signing as his_signing
    from app.services import signing as platform_signing

    assert "hmac" not in inspect.getsource(platform_signing)
    body = json.dumps({"a": "退费"}, ensure_ascii=False).encode()
    ts, nonce = str(int(time.time())), "nonce-0001"
    headers = {"X-App-Id": app.config["HIS_EVENT_APP_ID"], "X-Timestamp": ts, "X-Nonce": nonce,
               "X-Signature": his_signing.sign(app.config["HIS_EVENT_SECRET"], "POST", PATH, ts, nonce, body)}
    assert _call(app, body, headers)[0] == 200
