"""Resident ID numbers (GB 11643): check digit, region, birth date."""

from __future__ import annotations

import datetime as dt

import pytest

from app import clock
from app.identity.id_numbers import (
    birth_date_of,
    gender_of,
    id_number_check_digit,
    is_valid_id_number,
)


@pytest.mark.parametrize(
    "number", ["11010519491231002X", "441781198802140028", "11010519491231002x"]
)
def test_known_valid_numbers(number: str) -> None:
    assert is_valid_id_number(number)


def test_check_digit() -> None:
    assert id_number_check_digit("11010519491231002") == "X"
    assert id_number_check_digit("44052418800101001") == "4"
    with pytest.raises(ValueError):
        id_number_check_digit("1234")
    with pytest.raises(ValueError):
        id_number_check_digit("4405241880010100A")


@pytest.mark.parametrize(
    "number",
    [
        "110105194912310021",  # wrong check digit
        "11010519491231002",  # 17 characters
        "1101051949123100211",  # 19 characters
        "990105194912310021",  # no such province
        "441781199902300012",  # 30 February
        "441781180001010012",  # before 1900
        "44178119491231002Y",
        "４40524188001010014",  # full-width digit
        "",
    ],
)
def test_invalid_numbers(number: str) -> None:
    assert not is_valid_id_number(number)


def test_future_birth_date_is_invalid() -> None:
    first17 = f"441781{clock.today() + dt.timedelta(days=2):%Y%m%d}001"
    assert not is_valid_id_number(first17 + id_number_check_digit(first17))


def test_birth_date_and_gender() -> None:
    assert birth_date_of("11010519491231002X") == dt.date(1949, 12, 31)
    assert gender_of("11010519491231002X") == "F"
    assert gender_of("440524188001010014") == "M"
    assert not is_valid_id_number("440524188001010014")  # born 1880: before 1900
