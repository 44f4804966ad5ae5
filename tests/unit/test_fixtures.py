"""The suite's own fixtures leave nothing behind for the next test (it runs in random order)."""

from __future__ import annotations

import datetime as dt

from app import clock
from tests.factories import public_urls


def test_live_server_urls_are_put_back_after_the_test(app):
    """``live_server`` used to point PUBLIC_BASE_URL at its socket for the rest of the run, so a later
    test's notice links depended on whether a browser test had run before it."""
    configured = {k: app.config[k] for k in ("PUBLIC_BASE_URL", "SANDBOX_BASE_URL")}
    app.extensions["payment_channels"] = object()
    with public_urls(app, "http://127.0.0.1:1"):
        assert app.config["PUBLIC_BASE_URL"] == "http://127.0.0.1:1"
        assert app.config["SANDBOX_BASE_URL"] == "http://127.0.0.1:1/sandbox"
        assert "payment_channels" not in app.extensions  # rebuilt for the server's address
        app.extensions["payment_channels"] = object()
    assert {k: app.config[k] for k in configured} == configured
    assert "payment_channels" not in app.extensions  # rebuilt for the configured address


def test_a_moved_clock_is_put_back_after_the_test_part_1():
    """Each of the two leaves the clock moved; whichever runs second sees the real time again."""
    assert not clock.is_moved()
    clock.freeze(dt.datetime(2001, 1, 1, 9, 0))
    assert clock.today() == dt.date(2001, 1, 1)


def test_a_moved_clock_is_put_back_after_the_test_part_2():
    assert not clock.is_moved()
    clock.travel(dt.datetime(2001, 1, 1, 9, 0))
    assert clock.today() == dt.date(2001, 1, 1)
