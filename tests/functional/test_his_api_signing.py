"""The HIS-facing API's signature rule, tested through a probe route on the shared blueprint."""

from __future__ import annotations

import json
import time

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
