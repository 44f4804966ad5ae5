"""Yuan strings <-> integer fen, exactly."""

from __future__ import annotations

import pytest

from app.channels.money import fen_to_yuan, yuan_to_fen


@pytest.mark.parametrize(
    ("yuan", "fen"),
    [("0.01", 1), ("0.1", 10), ("0.10", 10), ("1234.5", 123450), ("1234.50", 123450), ("1", 100),
     ("0", 0), ("0.00", 0), ("-0.01", -1), ("-1234.5", -123450), (" 12.30 ", 1230), ("99999999.99", 9999999999),
     (7, 700)],
)
def test_yuan_to_fen(yuan: str, fen: int) -> None:
    assert yuan_to_fen(yuan) == fen


@pytest.mark.parametrize("bad", ["0.001", "1e3", "", ".5", "1.", "1,000.00", "¥1", "abc", "1.2.3", "NaN", "0x10"])
def test_yuan_to_fen_refuses_what_is_not_a_fen_amount(bad: str) -> None:
    with pytest.raises(ValueError):
        yuan_to_fen(bad)


@pytest.mark.parametrize(("fen", "yuan"), [(1, "0.01"), (10, "0.10"), (123450, "1234.50"), (0, "0.00"),
                                           (-1, "-0.01"), (100, "1.00"), (9999999999, "99999999.99")])
def test_fen_to_yuan(fen: int, yuan: str) -> None:
    assert fen_to_yuan(fen) == yuan
    assert yuan_to_fen(fen_to_yuan(fen)) == fen


@pytest.mark.parametrize("bad", [0.01, 1.0, "1", True, None])
def test_fen_to_yuan_takes_integers_only(bad: object) -> None:
    with pytest.raises(TypeError):
        fen_to_yuan(bad)  # type: ignore[arg-type]


def test_float_sums_would_be_wrong_but_fen_sums_are_not() -> None:
    assert 0.1 + 0.2 != 0.3
    assert fen_to_yuan(yuan_to_fen("0.1") + yuan_to_fen("0.2")) == "0.30"
