"""Money typed by people (yuan, as on the page) turned into integer fen without floating point."""

from __future__ import annotations

import re
import unicodedata

from app.channels.money import yuan_to_fen

_YUAN = re.compile(r"^([0-9]{1,9})(?:\.([0-9]{1,2}))?$")


def parse_yuan(text: str | None) -> int | None:
    """"100" -> 10000, "99.5" -> 9950, "0.01" -> 1; None for anything else (signs, commas, 3 decimals).

    Full-width digits from a Chinese input method ("１００") are read as the digits they are.
    """
    match = _YUAN.match(unicodedata.normalize("NFKC", text or "").strip())
    if match is None:
        return None
    return yuan_to_fen(match.group(0))
