"""Money and personal-data formatting shared by pages, exports, messages and logs."""

from __future__ import annotations

from app import clock
from app.channels.money import fen_to_yuan


def yuan(fen: int | None) -> str:
    """Integer fen as yuan with two decimals, without floating point: 12345 -> "123.45"."""
    return "" if fen is None else fen_to_yuan(int(fen))


def yuan_grouped(fen: int | None) -> str:
    """Yuan with thousand separators for staff screens: 123456789 -> "1,234,567.89"."""
    if fen is None:
        return ""
    text = fen_to_yuan(int(fen))
    sign, text = ("-", text[1:]) if text.startswith("-") else ("", text)
    whole, _, cents = text.partition(".")
    return f"{sign}{int(whole):,}.{cents}"


def mask_name(name: str | None) -> str:
    """张三 -> 张*, 欧阳娜娜 -> 欧**娜: enough to recognise, not to identify."""
    if not name:
        return ""
    if len(name) <= 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def mask_phone(phone: str | None) -> str:
    """13812345678 -> 138****5678."""
    if not phone:
        return ""
    return phone[:3] + "****" + phone[-4:] if len(phone) >= 7 else "****"


def mask_id_number(id_number: str | None) -> str:
    """441781199001011234 -> 4417**********1234."""
    if not id_number:
        return ""
    return id_number[:4] + "*" * (len(id_number) - 8) + id_number[-4:] if len(id_number) > 8 else "****"


def beijing(at, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A naive-UTC database timestamp shown in Beijing time (UTC+8)."""
    return clock.display(at, fmt)
