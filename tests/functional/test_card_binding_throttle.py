"""Card binding throttles (issue 15): wrong identity details are counted per account and per card; past
the limit the patient reads a Chinese message with the cool-down, and the HIS is not asked at all."""

from __future__ import annotations

import datetime as dt

import pytest

from app import clock
from app.extensions import db
from tests import factories
from tests.security_helpers import at_window_start


@pytest.fixture(autouse=True)
def _clock():
    at_window_start()
    yield
    clock.reset()


def _form(card_no, name, id_number):
    return {"relation": "self", "name": name, "id_number": id_number, "phone": "13800138000", "card_no": card_no}


def test_wrong_details_are_throttled_per_card_and_the_his_is_not_asked(app, his, clean_db, monkeypatch):
    from app.identity import cards

    with app.app_context():
        card_no, name, real_id = cards_of_simulator(his)
        owners = [factories.channel_user() for _ in range(2)]
        db.session.commit()
        for n in range(5):
            with pytest.raises(cards.VerificationFailed):
                cards.bind_patient(owners[n % 2], _form(card_no, name, valid_id(n)))
        asked = []
        original = cards._verify_with_his
        monkeypatch.setattr(cards, "_verify_with_his", lambda form: asked.append(form) or original(form))
        with pytest.raises(cards.BindingThrottled) as refused:
            cards.bind_patient(owners[0], _form(card_no, name, real_id))  # even the right one now
        assert "分钟后再试" in refused.value.message and not asked
        clock.advance(dt.timedelta(hours=1, minutes=1))
        assert cards.bind_patient(owners[0], _form(card_no, name, real_id)).card_no == card_no


def test_one_account_is_throttled_across_cards(app, his, clean_db):
    from app.identity import cards

    with app.app_context():
        card_no, name, _real = cards_of_simulator(his)
        owner = factories.channel_user()
        db.session.commit()
        for n in range(5):
            with pytest.raises(cards.VerificationFailed):
                cards.bind_patient(owner, _form(f"{card_no[:-1]}{n}", name, valid_id(n)))
        with pytest.raises(cards.BindingThrottled):
            cards.bind_patient(owner, _form(card_no, name, valid_id(7)))


def test_the_patient_reads_the_cool_down(app, his, client, clean_db):
    with app.app_context():
        card_no, name, _real = cards_of_simulator(his)
        owner = factories.channel_user()
        db.session.commit()
        factories.login(client, owner)
    for n in range(6):
        page = client.post("/h5/patients/new", data=_form(card_no, name, valid_id(n)))
    text = page.get_data(as_text=True)
    assert "核验失败次数过多" in text and "分钟后再试" in text


def valid_id(n: int) -> str:
    """A well-formed ID number (checksum right) that is nobody's card."""
    from app.identity.id_numbers import is_valid_id_number

    base = f"44178119850101{n:03d}"
    for check in "0123456789X":
        if is_valid_id_number(base + check):
            return base + check
    raise AssertionError(base)


def cards_of_simulator(his):
    """(card number, name, ID number) of a card the HIS simulator knows."""
    from doubles.his.simulator.seed import generate_patients

    p = next(p for p in generate_patients() if p.id_number and p.card_no)
    return p.card_no, p.name, p.id_number
