"""python-alipay-sdk hides the code and message of AliPayException in name-mangled attributes."""

from __future__ import annotations

from alipay.exceptions import AliPayException


def alipay_error(exc: AliPayException) -> tuple[str, str]:
    """(code, raw message) of an AliPayException."""
    return (str(getattr(exc, "_AliPayException__code", "") or "refused"),
            str(getattr(exc, "_AliPayException__message", "") or exc))
