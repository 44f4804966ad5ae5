"""Helpers the test modules share, one module per aggregate or journey (booking, bills, deposits,
payments, ...). Test modules import from here, never from each other; shared fixtures live in the
conftest.py of the narrowest directory that covers their users."""
