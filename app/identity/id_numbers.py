"""Resident identity card numbers (居民身份证号码, GB 11643-1999).

An 18-character number: 6 region digits, 8 birth-date digits (YYYYMMDD), a 3-digit sequence
(odd = male, even = female) and a check character computed with ISO 7064 MOD 11-2 ('0'-'9' or 'X').
"""

from __future__ import annotations

import datetime as dt

from app import clock

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CHARS = "10X98765432"
# First two digits: provinces, autonomous regions, municipalities (GB/T 2260), plus 71/81/82.
_PROVINCES = frozenset(
    {
        "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37",
        "41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64",
        "65", "71", "81", "82",
    }
)  # fmt: skip


def id_number_check_digit(first17: str) -> str:
    """Return the GB 11643 check character ('0'-'9' or 'X') for the first 17 digits.

    Raises ValueError unless ``first17`` is exactly 17 ASCII digits.
    """
    if len(first17) != 17 or not first17.isascii() or not first17.isdigit():
        raise ValueError("the first 17 characters of an ID number must be digits")
    total = sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True))
    return _CHECK_CHARS[total % 11]


def birth_date_of(id_number: str) -> dt.date | None:
    """The birth date encoded in an 18-character ID number, or None when it is not a date."""
    try:
        return dt.date(int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14]))
    except ValueError:
        return None


def gender_of(id_number: str) -> str:
    """'M' when the sequence digit (17th) is odd, else 'F'."""
    return "M" if int(id_number[16]) % 2 else "F"


def is_valid_id_number(s: str, today: dt.date | None = None) -> bool:
    """True only for an 18-character number with a known province, a real birth date
    (1900-01-01 .. today) and the right check character (lower-case 'x' is accepted)."""
    if not isinstance(s, str) or len(s) != 18:
        return False
    first17, check = s[:17], s[17].upper()
    if not first17.isascii() or not first17.isdigit():
        return False
    if first17[:2] not in _PROVINCES or first17[2:6] == "0000":
        return False
    born = birth_date_of(s)
    if born is None or born < dt.date(1900, 1, 1) or born > (today or clock.today()):
        return False
    return id_number_check_digit(first17) == check
