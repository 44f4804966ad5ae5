"""The staff second factor: TOTP (RFC 6238, any authenticator app) with single-use recovery codes.

The secret is stored encrypted with a key derived from SECRET_KEY (a database dump alone cannot mint
codes); the QR code is drawn here (segno, SVG), never by a third-party service; recovery codes are
shown once and kept only as hashes.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import secrets

import pyotp
import segno
from cryptography.fernet import Fernet, InvalidToken
from flask import current_app

from app import clock
from app.security.throttle import Throttle

ISSUER = "阳春市妇幼保健院"
RECOVERY_CODES = 10
# Codes already used to sign in (operator:code), refused for at least 90 s: the validity of one code.
USED_CODES = Throttle("totp.used", 1, dt.timedelta(seconds=90))


def _fernet() -> Fernet:
    digest = hashlib.sha256(b"totp|" + str(current_app.config["SECRET_KEY"]).encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def new_secret() -> str:
    return pyotp.random_base32()


def seal(secret: str) -> str:
    return _fernet().encrypt(secret.encode()).decode()


def unseal(sealed: str | None) -> str | None:
    if not sealed:
        return None
    try:
        return _fernet().decrypt(sealed.encode()).decode()
    except InvalidToken:
        return None


def provisioning_uri(secret: str, username: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=ISSUER)


def qr_svg(uri: str) -> str:
    """The enrolment QR code as inline SVG markup."""
    return segno.make(uri, error="m").svg_inline(scale=5, dark="#000", light="#fff")


def code_ok(secret: str | None, code: str) -> bool:
    """True for the current 30-second code (one step of clock drift either way)."""
    code = (code or "").strip().replace(" ", "")
    if not secret or not code.isdigit() or len(code) != 6:
        return False
    return pyotp.TOTP(secret).verify(code, for_time=_moment(), valid_window=1)


def _moment() -> dt.datetime:
    return clock.utcnow().replace(tzinfo=dt.UTC)


def current_code(secret: str) -> str:
    """The code an authenticator shows now (tests and the demo use it)."""
    return pyotp.TOTP(secret).at(_moment())


def _hash_code(code: str) -> str:
    return hashlib.sha256(code.strip().lower().replace("-", "").encode()).hexdigest()


def new_recovery_codes() -> tuple[list[str], str]:
    """Ten fresh codes (to show once) and what to store (their hashes, JSON)."""
    codes = [f"{secrets.token_hex(3)}-{secrets.token_hex(3)}" for _ in range(RECOVERY_CODES)]
    return codes, json.dumps([_hash_code(c) for c in codes])


def use_recovery_code(stored: str | None, code: str) -> str | None:
    """The stored list without ``code`` when it is one of them (used up), else None."""
    try:
        hashes = json.loads(stored or "[]")
    except ValueError:
        return None
    digest = _hash_code(code or "")
    if not code or digest not in hashes:
        return None
    hashes.remove(digest)
    return json.dumps(hashes)
