"""Signed inbound calls (the HIS calling us): HMAC-SHA256, timestamp window, one-time nonce.

String to sign: METHOD \\n PATH \\n TIMESTAMP \\n NONCE \\n BODY (raw bytes as UTF-8).
Headers: X-App-Id, X-Timestamp (unix seconds), X-Nonce, X-Signature (lowercase hex).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import time

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.models import ApiNonce
from app.models.base import utcnow

WINDOW_SECONDS = 300


class SignatureRejected(Exception):
    """The call is not from whom it claims, is stale, or is a replay; ``reason`` says which."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def sign(secret: str, method: str, path: str, timestamp: str, nonce: str, body: bytes) -> str:
    message = "\n".join([method.upper(), path, timestamp, nonce, body.decode("utf-8")])
    return hmac.new(secret.encode(), message.encode("utf-8"), hashlib.sha256).hexdigest()


def signed_headers(app_id: str, secret: str, method: str, path: str, body: bytes,
                   nonce: str | None = None, timestamp: int | None = None) -> dict[str, str]:
    """Headers for a signed call (used by the HIS simulator, tests and the integration docs)."""
    import secrets

    ts = str(int(time.time()) if timestamp is None else timestamp)
    nonce = nonce or secrets.token_hex(12)
    return {"X-App-Id": app_id, "X-Timestamp": ts, "X-Nonce": nonce,
            "X-Signature": sign(secret, method, path, ts, nonce, body), "Content-Type": "application/json"}


def verify(headers, method: str, path: str, body: bytes, app_id: str, secret: str,
           now: float | None = None) -> None:
    """Accept the call or raise SignatureRejected. The nonce is recorded in the caller's transaction.

    A replayed nonce hits the unique key (caller, nonce) and is refused, across all app processes.
    """
    if headers.get("X-App-Id") != app_id:
        raise SignatureRejected("unknown app id")
    ts, nonce, signature = headers.get("X-Timestamp", ""), headers.get("X-Nonce", ""), headers.get("X-Signature", "")
    if not (ts.isdigit() and nonce and signature) or len(nonce) > 64:
        raise SignatureRejected("missing signature headers")
    now = time.time() if now is None else now
    if abs(now - int(ts)) > WINDOW_SECONDS:
        raise SignatureRejected("timestamp outside the allowed window")
    expected = sign(secret, method, path, ts, nonce, body)
    if not hmac.compare_digest(expected, signature.lower()):
        raise SignatureRejected("bad signature")
    try:
        with db.session.begin_nested():
            db.session.add(ApiNonce(caller=app_id, nonce=nonce))
    except IntegrityError:
        raise SignatureRejected("replayed nonce") from None


def accept_signed_call(headers, method: str, path: str, body: bytes, app_id: str, secret: str) -> None:
    """Verify an inbound call and spend its nonce now (committed even if the handler later refuses
    the content, so the same signed request can never be replayed). Raises SignatureRejected."""
    try:
        verify(headers, method, path, body, app_id, secret)
    except SignatureRejected:
        db.session.rollback()
        raise
    db.session.commit()


def prune_nonces() -> int:
    """Delete nonces older than twice the window; returns how many."""
    cutoff = utcnow() - dt.timedelta(seconds=2 * WINDOW_SECONDS)
    result = db.session.execute(delete(ApiNonce).where(ApiNonce.seen_at < cutoff))
    db.session.commit()
    return result.rowcount or 0
