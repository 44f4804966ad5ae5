"""Locally generated keys for the sandbox channels, created once and shared by every process.

Both sides read the same directory: the sandbox gateways sign with the "platform" keys and
verify with the merchant's public keys; ``make_channels`` in sandbox mode loads the merchant's
private keys and the platform's public keys from here, exactly as live mode loads files the
hospital downloaded from the merchant platforms.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import string
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from app import clock

MANIFEST = "manifest.json"
WECHAT_PUBLIC_KEY_ID = "PUB_KEY_ID_0119000000SANDBOX"


@dataclass(frozen=True)
class SandboxKeys:
    """Paths and identifiers of one sandbox key set (all PEM files, PKCS#8 / SPKI)."""

    directory: Path
    wechat_merchant_key: Path
    wechat_merchant_cert: Path
    wechat_merchant_serial: str
    wechat_platform_key: Path
    wechat_platform_cert: Path
    wechat_platform_serial: str
    wechat_pubkey_key: Path
    wechat_public_key: Path
    wechat_public_key_id: str
    wechat_apiv3_key: str
    alipay_app_key: Path
    alipay_app_public_key: Path
    alipay_platform_key: Path
    alipay_public_key: Path

    @staticmethod
    def read(path: Path) -> str:
        """The text of one key file."""
        return path.read_text(encoding="utf-8")


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _private_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _public_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _self_signed(key: rsa.RSAPrivateKey, common_name: str) -> x509.Certificate:
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Payment Sandbox"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )
    now = clock.now()
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    os.chmod(tmp, 0o600)
    tmp.replace(path)


def _generate(directory: Path) -> dict[str, str]:
    manifest: dict[str, str] = {}
    for name in ("wechat_merchant", "wechat_platform"):
        key = _new_key()
        cert = _self_signed(key, name)
        _write(directory / f"{name}_key.pem", _private_pem(key))
        _write(directory / f"{name}_cert.pem", cert.public_bytes(serialization.Encoding.PEM))
        manifest[f"{name}_serial"] = format(cert.serial_number, "X")
    for name, public in (
        ("wechat_pubkey", "wechat_public_key"),
        ("alipay_app", "alipay_app_public_key"),
        ("alipay_platform", "alipay_public_key"),
    ):
        key = _new_key()
        _write(directory / f"{name}_key.pem", _private_pem(key))
        _write(directory / f"{public}.pem", _public_pem(key))
    alphabet = string.ascii_letters + string.digits
    manifest["wechat_apiv3_key"] = "".join(secrets.choice(alphabet) for _ in range(32))
    manifest["wechat_public_key_id"] = WECHAT_PUBLIC_KEY_ID
    return manifest


def ensure_sandbox_keys(directory: str | os.PathLike[str]) -> SandboxKeys:
    """Load the key set in ``directory``, generating it on first use.

    Safe when several processes start at once: generation happens under a file lock and the
    manifest is written last, so a reader never sees half a key set.
    """
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=True)
    manifest_path = root / MANIFEST
    if not manifest_path.exists():
        with open(root / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                if not manifest_path.exists():
                    manifest = _generate(root)
                    _write(manifest_path, json.dumps(manifest, indent=2).encode())
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    return SandboxKeys(
        directory=root,
        wechat_merchant_key=root / "wechat_merchant_key.pem",
        wechat_merchant_cert=root / "wechat_merchant_cert.pem",
        wechat_merchant_serial=manifest["wechat_merchant_serial"],
        wechat_platform_key=root / "wechat_platform_key.pem",
        wechat_platform_cert=root / "wechat_platform_cert.pem",
        wechat_platform_serial=manifest["wechat_platform_serial"],
        wechat_pubkey_key=root / "wechat_pubkey_key.pem",
        wechat_public_key=root / "wechat_public_key.pem",
        wechat_public_key_id=manifest["wechat_public_key_id"],
        wechat_apiv3_key=manifest["wechat_apiv3_key"],
        alipay_app_key=root / "alipay_app_key.pem",
        alipay_app_public_key=root / "alipay_app_public_key.pem",
        alipay_platform_key=root / "alipay_platform_key.pem",
        alipay_public_key=root / "alipay_public_key.pem",
    )
