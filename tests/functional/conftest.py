"""Fixtures the functional test modules share: ``world`` (the synced HIS timetable, an account with a
mother and her child, and a stranger) is defined with the booking tests and offered to every module."""

from tests.functional.test_booking import world  # noqa: F401 - a fixture, found by name
