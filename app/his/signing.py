"""Request signatures of the HIS contract (HMAC-SHA256), shared by caller and server.

string_to_sign = METHOD + "\\n" + PATH_WITH_QUERY + "\\n" + TIMESTAMP + "\\n" + NONCE + "\\n" + BODY
signature      = lowercase hex HMAC-SHA256(secret, string_to_sign)  (UTF-8; BODY is the raw bytes)
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

HEADER_APP_ID = "X-His-App-Id"
HEADER_TIMESTAMP = "X-His-Timestamp"
HEADER_NONCE = "X-His-Nonce"
HEADER_SIGNATURE = "X-His-Signature"
MAX_SKEW_SECONDS = 300


def sign(secret: str, method: str, path: str, timestamp: str, nonce: str, body: bytes) -> str:
    """The hex signature of one request; ``path`` includes the query string if any."""
    prefix = f"{method.upper()}\n{path}\n{timestamp}\n{nonce}\n".encode()
    return hmac.new(secret.encode(), prefix + body, hashlib.sha256).hexdigest()


def signed_headers(
    app_id: str, secret: str, method: str, path: str, body: bytes, now: float | None = None
) -> dict[str, str]:
    """Fresh timestamp, nonce and signature headers for one request."""
    timestamp = str(int(now if now is not None else time.time()))
    nonce = secrets.token_hex(16)
    return {
        HEADER_APP_ID: app_id,
        HEADER_TIMESTAMP: timestamp,
        HEADER_NONCE: nonce,
        HEADER_SIGNATURE: sign(secret, method, path, timestamp, nonce, body),
    }


def signature_matches(expected: str, given: str) -> bool:
    """Constant-time comparison of two hex signatures."""
    return hmac.compare_digest(expected.encode(), (given or "").lower().encode())
