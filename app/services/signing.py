"""Signed inbound calls (the HIS calling us): the one signature of app/his/signing.py with the platform's
header names (X-App-Id, X-Timestamp, X-Nonce, X-Signature), and the nonce spent once in ``api_nonce``.

String to sign: METHOD \\n PATH \\n TIMESTAMP \\n NONCE \\n BODY (the raw bytes).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.his import signing as his_signing
from app.his.signing import MAX_SKEW_SECONDS, PLATFORM_HEADERS, SignatureRejected
from app.models import ApiNonce
from app.models.base import utcnow
from app.services.uow import savepoint, unit_of_work

WINDOW_SECONDS = MAX_SKEW_SECONDS

__all__ = ["SignatureRejected", "accept_signed_call", "prune_nonces", "signed_headers", "verify"]


def signed_headers(app_id: str, secret: str, method: str, path: str, body: bytes,
                   nonce: str | None = None, timestamp: int | None = None) -> dict[str, str]:
    """Headers for a signed call to the platform (used by the HIS simulator, tests and the docs)."""
    headers = his_signing.signed_headers(app_id, secret, method, path, body, names=PLATFORM_HEADERS,
                                         nonce=nonce, timestamp=timestamp)
    return {**headers, "Content-Type": "application/json"}


def verify(headers, method: str, path: str, body: bytes, app_id: str, secret: str,
           now: float | None = None) -> None:
    """Accept the call or raise SignatureRejected. The nonce is recorded in the caller's transaction.

    A replayed nonce hits the unique key (caller, nonce) and is refused, across all app processes.
    """
    nonce = his_signing.check_signed(headers, method, path, body, app_id, secret, names=PLATFORM_HEADERS, now=now)
    try:
        with savepoint():
            db.session.add(ApiNonce(caller=app_id, nonce=nonce))
    except IntegrityError:
        raise SignatureRejected("replayed nonce") from None


def accept_signed_call(headers, method: str, path: str, body: bytes, app_id: str, secret: str) -> None:
    """Verify an inbound call and spend its nonce now (committed even if the handler later refuses
    the content, so the same signed request can never be replayed). Raises SignatureRejected."""
    with unit_of_work():  # a refusal rolls the spent nonce back with everything else
        verify(headers, method, path, body, app_id, secret)


def prune_nonces() -> int:
    """Delete nonces older than twice the window; returns how many."""
    cutoff = utcnow() - dt.timedelta(seconds=2 * WINDOW_SECONDS)
    with unit_of_work():
        result = db.session.execute(delete(ApiNonce).where(ApiNonce.seen_at < cutoff))
    return result.rowcount or 0
