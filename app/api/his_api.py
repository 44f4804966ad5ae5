"""The API the hospital's HIS calls (停诊 events, refunds it starts): one blueprint, one signature rule.

Every request is signed by the HIS with HMAC-SHA256 over METHOD, PATH, TIMESTAMP, NONCE and BODY
(see app/services/signing.py and docs/his-api.md); stale timestamps and reused nonces are refused.
Endpoints live in their domain modules and register on ``his_api_bp`` with ``@signed_by_his``.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable

from flask import Blueprint, current_app, jsonify, request

from app.services.signing import SignatureRejected, accept_signed_call

log = logging.getLogger("his_api")
his_api_bp = Blueprint("his_api", __name__, url_prefix="/api/his/v1")
MAX_BODY = 256 * 1024


def error(code: str, message: str, status: int):
    return jsonify(code=code, message=message), status


class BadBody(Exception):
    """The request body is not the JSON object an endpoint expects; ``answer`` is the error response."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.answer = error("invalid_request", message, 400)


def json_body() -> object:
    """The request's JSON body, or ``BadBody`` for anything else: another content type, bytes that are
    not UTF-8, text that is not JSON, or JSON nested deeper than Python parses (never a 500)."""
    if not request.is_json:
        raise BadBody("Content-Type must be application/json")
    try:
        text = request.get_data(cache=True).decode("utf-8")
    except UnicodeDecodeError:
        raise BadBody("body must be UTF-8 encoded JSON") from None
    try:
        payload = json.loads(text)
    except (ValueError, RecursionError):
        raise BadBody("body is not valid JSON") from None
    if payload is None:
        raise BadBody("body is not valid JSON")
    return payload


def signed_by_his(view: Callable) -> Callable:
    """Refuse any call that is not signed by the HIS, is stale, or replays a nonce (401)."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        if (request.content_length or 0) > MAX_BODY:
            return error("too_large", "request body too large", 413)
        body = request.get_data(cache=True)
        try:
            accept_signed_call(request.headers, request.method, request.path, body,
                               current_app.config["HIS_EVENT_APP_ID"], current_app.config["HIS_EVENT_SECRET"])
        except SignatureRejected as rejected:
            log.warning("HIS API call refused path=%s reason=%s", request.path, rejected.reason)
            return error("unauthorized", rejected.reason, 401)
        return view(*args, **kwargs)

    return wrapper
