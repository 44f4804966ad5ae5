"""The one HMAC-SHA256 request signature of the hospital integration, both directions.

string_to_sign = METHOD + "\\n" + PATH_WITH_QUERY + "\\n" + TIMESTAMP + "\\n" + NONCE + "\\n" + BODY
signature      = lowercase hex HMAC-SHA256(secret, string_to_sign)  (BODY is the raw bytes, any encoding)

The platform calling the HIS sends ``X-His-*`` headers (``HIS_HEADERS``); the HIS calling the platform
sends ``X-*`` headers (``PLATFORM_HEADERS``, docs/his-api.md "Inbound"). Both are checked here by
``check_signed``: app id, header shapes, the timestamp window and the signature; the caller then
spends the nonce in its own store (the simulator's table, the platform's ``api_nonce``).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass

MAX_SKEW_SECONDS = 300


@dataclass(frozen=True)
class HeaderNames:
    app_id: str
    timestamp: str
    nonce: str
    signature: str


HIS_HEADERS = HeaderNames("X-His-App-Id", "X-His-Timestamp", "X-His-Nonce", "X-His-Signature")
PLATFORM_HEADERS = HeaderNames("X-App-Id", "X-Timestamp", "X-Nonce", "X-Signature")
HEADER_APP_ID, HEADER_TIMESTAMP, HEADER_NONCE, HEADER_SIGNATURE = (
    HIS_HEADERS.app_id, HIS_HEADERS.timestamp, HIS_HEADERS.nonce, HIS_HEADERS.signature)


class SignatureRejected(Exception):
    """The call is not from whom it claims, is stale, or is malformed; ``reason`` says which."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def sign(secret: str, method: str, path: str, timestamp: str, nonce: str, body: bytes) -> str:
    """The hex signature of one request; ``path`` includes the query string if any."""
    prefix = f"{method.upper()}\n{path}\n{timestamp}\n{nonce}\n".encode()
    return hmac.new(secret.encode(), prefix + body, hashlib.sha256).hexdigest()


def signature_matches(expected: str, given: str) -> bool:
    """Constant-time comparison of two hex signatures (anything that is not ASCII never matches)."""
    try:
        return hmac.compare_digest(expected.encode("ascii"), (given or "").lower().encode("ascii"))
    except UnicodeEncodeError:
        return False


def signed_headers(app_id: str, secret: str, method: str, path: str, body: bytes, now: float | None = None,
                   names: HeaderNames = HIS_HEADERS, nonce: str | None = None,
                   timestamp: int | None = None) -> dict[str, str]:
    """Fresh timestamp, nonce and signature headers for one request."""
    ts = str(int(now if now is not None else time.time()) if timestamp is None else timestamp)
    nonce = nonce or secrets.token_hex(16)
    return {names.app_id: app_id, names.timestamp: ts, names.nonce: nonce,
            names.signature: sign(secret, method, path, ts, nonce, body)}


def check_signed(headers: Mapping[str, str], method: str, path: str, body: bytes, app_id: str, secret: str,
                 *, names: HeaderNames, now: float | None = None, min_nonce: int = 1) -> str:
    """Accept a signed request or raise SignatureRejected; returns the nonce for the caller to spend."""
    if headers.get(names.app_id) != app_id:
        raise SignatureRejected("unknown app id")
    timestamp = headers.get(names.timestamp, "") or ""
    nonce = headers.get(names.nonce, "") or ""
    signature = headers.get(names.signature, "") or ""
    if not (timestamp.isascii() and timestamp.isdigit() and signature and nonce.isascii()
            and min_nonce <= len(nonce) <= 64):
        raise SignatureRejected("missing signature headers")
    if abs((time.time() if now is None else now) - int(timestamp)) > MAX_SKEW_SECONDS:
        raise SignatureRejected("timestamp outside the allowed window")
    if not signature_matches(sign(secret, method, path, timestamp, nonce, body), signature):
        raise SignatureRejected("bad signature")
    return nonce
