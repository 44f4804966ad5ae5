"""Fixtures the functional test modules share, each defined beside the tests that made it: ``world``
(the synced HIS timetable, an account with a mother and her child, and a stranger) with the booking
tests, ``kind`` and ``paying`` (an order open at a sandbox cashier, its business faked) with the payment
core tests, ``faulty_his`` (the HIS with faults injected) with the money tests."""

from tests.functional.test_booking import world  # noqa: F401 - a fixture, found by name
from tests.functional.test_payments import kind, paying  # noqa: F401 - fixtures, found by name
from tests.money_helpers import faulty_his  # noqa: F401 - a fixture, found by name
from tests.security_helpers import operator  # noqa: F401 - a fixture, found by name
