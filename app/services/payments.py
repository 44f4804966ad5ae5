"""Moved to ``app.payments`` (commands, queries, states). This name stays while modules other engineers
own (booking, admin, maternity, waitlist, invoices, cli, operations) still import it."""

from app.payments.commands import *  # noqa: F403
from app.payments.commands import _KINDS  # noqa: F401  (tests plug fake kinds in)
from app.payments.queries import owned_payment  # noqa: F401
