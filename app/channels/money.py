"""Exact conversion between integer fen and the yuan strings Alipay (and bill files) speak.

Never via float: ``0.1 + 0.2`` is not ``0.3`` and a hospital bill must add up to the fen.
"""

from __future__ import annotations

import re

_YUAN = re.compile(r"^(-?)(\d+)(?:\.(\d{1,2}))?$")


def yuan_to_fen(yuan: str | int) -> int:
    """``'1234.5'`` -> ``123450``; ``'0.01'`` -> ``1``. Rejects anything finer than a fen."""
    text = str(yuan).strip()
    match = _YUAN.match(text)
    if not match:
        raise ValueError(f"not a yuan amount: {yuan!r}")
    sign, whole, frac = match.groups()
    fen = int(whole) * 100 + int((frac or "").ljust(2, "0"))
    return -fen if sign else fen


def fen_to_yuan(fen: int) -> str:
    """``1`` -> ``'0.01'``; ``123450`` -> ``'1234.50'`` (always two decimals)."""
    if isinstance(fen, bool) or not isinstance(fen, int):
        raise TypeError(f"fen must be an int, got {type(fen).__name__}")
    sign = "-" if fen < 0 else ""
    whole, frac = divmod(abs(fen), 100)
    return f"{sign}{whole}.{frac:02d}"
