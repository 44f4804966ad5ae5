"""The HIS-facing API's signature rule, tested through a probe route on the shared blueprint."""

from __future__ import annotations

import json
import time

import pytest

from app.services.signing import signed_headers


@pytest.fixture(scope="module")
def probe_path(app):
    # A route only this test module mounts; real endpoints (events, refunds) use the same decorator.
    from flask import Blueprint, jsonify

    from app.api.his_api import signed_by_his

    bp = Blueprint("his_api_probe", __name__)

    @bp.post("/api/his/v1/_probe")
    @signed_by_his
    def probe():
        return jsonify(ok=True)

    if "his_api_probe" not in app.blueprints:
        # Earlier tests (browser, booking) have already served requests; Flask's late-setup guard
        # protects real set-up, not a probe route only this module uses.
        served, app._got_first_request = app._got_first_request, False
        try:
            app.register_blueprint(bp)
        finally:
            app._got_first_request = served
    return "/api/his/v1/_probe"


def _post(client, app, path, payload, **sign):
    body = json.dumps(payload).encode()
    headers = signed_headers(app.config["HIS_EVENT_APP_ID"], sign.pop("secret", app.config["HIS_EVENT_SECRET"]),
                             "POST", path, body, **sign)
    return client.post(path, data=body, headers=headers), headers, body


def test_valid_signature_passes(app, client, probe_path):
    response, _, _ = _post(client, app, probe_path, {"a": 1})
    assert response.status_code == 200


def test_replayed_nonce_is_refused(app, client, probe_path):
    response, headers, body = _post(client, app, probe_path, {"a": 1})
    assert response.status_code == 200
    replay = client.post(probe_path, data=body, headers=headers)
    assert replay.status_code == 401 and replay.get_json()["message"] == "replayed nonce"


def test_expired_timestamp_is_refused(app, client, probe_path):
    response, _, _ = _post(client, app, probe_path, {"a": 1}, timestamp=int(time.time()) - 301)
    assert response.status_code == 401 and "window" in response.get_json()["message"]


def test_forged_signature_is_refused(app, client, probe_path):
    response, _, _ = _post(client, app, probe_path, {"a": 1}, secret="not-the-secret")
    assert response.status_code == 401 and response.get_json()["message"] == "bad signature"


def test_tampered_body_is_refused(app, client, probe_path):
    body = json.dumps({"amount_fen": 1}).encode()
    headers = signed_headers(app.config["HIS_EVENT_APP_ID"], app.config["HIS_EVENT_SECRET"], "POST", probe_path, body)
    response = client.post(probe_path, data=json.dumps({"amount_fen": 100000}).encode(), headers=headers)
    assert response.status_code == 401
