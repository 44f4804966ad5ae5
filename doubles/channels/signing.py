"""The sandbox's own implementation of both channels' signatures, written against the channel
documentation with ``cryptography`` rather than the SDKs, so that tests cross-check the two.

The notification builders are public so tests can forge correctly signed notifications that
carry foreign app or merchant ids, stale timestamps, and so on.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
import uuid
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlencode

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.x509 import load_pem_x509_certificate

from app import clock
from app.channels.base import CHINA_TZ
from doubles.channels.keys import SandboxKeys

WechatSigner = Literal["certificate", "public_key"]
SIGNATURE_TYPE = "WECHATPAY2-SHA256-RSA2048"


@lru_cache(maxsize=32)
def _private_key(path: Path) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


@lru_cache(maxsize=32)
def _public_key(path: Path) -> rsa.RSAPublicKey:
    data = path.read_bytes()
    if b"CERTIFICATE" in data:
        key = load_pem_x509_certificate(data).public_key()
    else:
        key = serialization.load_pem_public_key(data)
    assert isinstance(key, rsa.RSAPublicKey)
    return key


def rsa_sha256_sign(key_path: Path, message: str) -> str:
    """Base64 RSA-SHA256 (PKCS#1 v1.5) signature, the scheme both channels use."""
    signature = _private_key(key_path).sign(message.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(signature).decode()


def rsa_sha256_verify(key_path: Path, message: str, signature: str) -> bool:
    """Check a base64 RSA-SHA256 signature with a public key or certificate file."""
    try:
        raw = base64.b64decode(signature, validate=True)
        _public_key(key_path).verify(raw, message.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError):
        return False
    return True


# -- WeChat Pay v3 ---------------------------------------------------------------------------


def wechat_signer_key(keys: SandboxKeys, signer: WechatSigner) -> tuple[Path, str]:
    """(private key, serial) for the platform certificate or the WeChat Pay public key."""
    if signer == "public_key":
        return keys.wechat_pubkey_key, keys.wechat_public_key_id
    return keys.wechat_platform_key, keys.wechat_platform_serial


def wechat_signed_headers(
    keys: SandboxKeys, body: str, signer: WechatSigner, timestamp: int | None = None
) -> dict[str, str]:
    """The Wechatpay-* headers WeChat puts on responses and notifications."""
    key_path, serial = wechat_signer_key(keys, signer)
    ts = str(int(time.time()) if timestamp is None else timestamp)
    nonce = secrets.token_hex(16).upper()
    return {
        "Wechatpay-Timestamp": ts,
        "Wechatpay-Nonce": nonce,
        "Wechatpay-Signature": rsa_sha256_sign(key_path, f"{ts}\n{nonce}\n{body}\n"),
        "Wechatpay-Serial": serial,
        "Wechatpay-Signature-Type": SIGNATURE_TYPE,
        "Request-ID": uuid.uuid4().hex,
    }


def wechat_encrypt(apiv3_key: str, plaintext: str, associated_data: str) -> dict[str, str]:
    """AEAD_AES_256_GCM resource as WeChat puts it in notifications."""
    nonce = secrets.token_hex(6)  # 12 ASCII characters, used as the bytes of the nonce
    ciphertext = AESGCM(apiv3_key.encode()).encrypt(
        nonce.encode(), plaintext.encode("utf-8"), associated_data.encode()
    )
    return {
        "algorithm": "AEAD_AES_256_GCM",
        "ciphertext": base64.b64encode(ciphertext).decode(),
        "associated_data": associated_data,
        "nonce": nonce,
    }


def wechat_notification_body(
    keys: SandboxKeys, event_type: str, resource: Mapping[str, Any], summary: str
) -> str:
    """A notification body with the resource encrypted under the API v3 key."""
    original_type = "transaction" if event_type.startswith("TRANSACTION") else "refund"
    encrypted = wechat_encrypt(
        keys.wechat_apiv3_key, json.dumps(resource, ensure_ascii=False, separators=(",", ":")), original_type
    )
    encrypted["original_type"] = original_type
    body = {
        "id": str(uuid.uuid4()),
        "create_time": clock.now().astimezone(CHINA_TZ).isoformat(timespec="seconds"),
        "resource_type": "encrypt-resource",
        "event_type": event_type,
        "summary": summary,
        "resource": encrypted,
    }
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def wechat_notification(
    keys: SandboxKeys,
    event_type: str,
    resource: Mapping[str, Any],
    signer: WechatSigner = "public_key",
    summary: str = "支付成功",
    timestamp: int | None = None,
) -> tuple[dict[str, str], bytes]:
    """(headers, body) of a signed, encrypted WeChat Pay notification."""
    body = wechat_notification_body(keys, event_type, resource, summary)
    headers = wechat_signed_headers(keys, body, signer, timestamp)
    headers["Content-Type"] = "application/json"
    return headers, body.encode("utf-8")


def wechat_verify_authorization(
    keys: SandboxKeys, authorization: str, method: str, signed_path: str, body: str, mchid: str
) -> str | None:
    """Check a merchant's ``Authorization`` header; return why it fails, or None if valid."""
    scheme, _, rest = authorization.partition(" ")
    if scheme != SIGNATURE_TYPE:
        return "unknown authorization scheme"
    fields: dict[str, str] = {}
    for part in rest.split(","):
        name, _, value = part.strip().partition("=")
        fields[name] = value.strip('"')
    if fields.get("mchid") != mchid:
        return "mchid does not match"
    if fields.get("serial_no", "").upper() != keys.wechat_merchant_serial.upper():
        return "unknown merchant certificate serial"
    try:
        if abs(time.time() - int(fields.get("timestamp", ""))) > 300:
            return "timestamp expired"
    except ValueError:
        return "bad timestamp"
    message = f"{method}\n{signed_path}\n{fields['timestamp']}\n{fields.get('nonce_str', '')}\n{body}\n"
    if not rsa_sha256_verify(keys.wechat_merchant_cert, message, fields.get("signature", "")):
        return "signature does not verify"
    return None


# -- Alipay ----------------------------------------------------------------------------------


def alipay_content(params: Mapping[str, str], exclude: tuple[str, ...]) -> str:
    """Sorted ``k=v&...`` of non-empty parameters, the string Alipay signs."""
    return "&".join(f"{k}={params[k]}" for k in sorted(params) if k not in exclude and params[k] != "")


def alipay_verify_request(keys: SandboxKeys, params: Mapping[str, str]) -> bool:
    """Verify a merchant request: every parameter but ``sign`` is signed (``sign_type`` too)."""
    return rsa_sha256_verify(keys.alipay_app_public_key, alipay_content(params, ("sign",)), params.get("sign", ""))


def alipay_sign_notification(keys: SandboxKeys, params: Mapping[str, str]) -> dict[str, str]:
    """Add ``sign``/``sign_type`` to notification or return parameters (both excluded from the content)."""
    clean = {k: v for k, v in params.items() if k not in ("sign", "sign_type") and v != ""}
    signed = dict(clean, sign_type="RSA2")
    signed["sign"] = rsa_sha256_sign(keys.alipay_platform_key, alipay_content(clean, ()))
    return signed


def alipay_notification(keys: SandboxKeys, params: Mapping[str, str]) -> tuple[dict[str, str], bytes]:
    """(headers, body) of a signed Alipay asynchronous notification (form encoded, UTF-8)."""
    body = urlencode(alipay_sign_notification(keys, params)).encode("utf-8")
    return {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}, body


def alipay_response(keys: SandboxKeys, response_type: str, payload: Mapping[str, Any]) -> str:
    """A gateway response whose ``sign`` covers the exact JSON text of the payload."""
    inner = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    sign = rsa_sha256_sign(keys.alipay_platform_key, inner)
    return f'{{"{response_type}":{inner},"sign":"{sign}"}}'
