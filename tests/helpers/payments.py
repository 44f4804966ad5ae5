"""The payment core: a fake business kind standing in for registration/outpatient/deposit, and the
sandbox channel's books emptied."""

from __future__ import annotations

from app.payments import commands as payments


class FakeKind:
    """Records what the core asked of the business; ``confirm_error`` makes the HIS refuse or fail."""

    def __init__(self):
        self.confirm_error: Exception | None = None
        self.calls: list[tuple[str, str]] = []

    def confirm(self, payment):
        self.calls.append(("confirm", payment.order_no))
        if self.confirm_error is not None:
            raise self.confirm_error
        return payments.ConfirmOutcome(receipt_no=f"R-{payment.order_no[-6:]}", guidance=("请到二楼西药房取药",))

    def on_confirmed(self, payment, outcome):
        self.calls.append(("confirmed", payment.order_no))

    def on_closed(self, payment):
        self.calls.append(("closed", payment.order_no))

    def on_confirm_failed(self, payment, reason):
        self.calls.append(("confirm_failed", payment.order_no))

    def on_refunded(self, payment, refund):
        self.calls.append(("refunded", payment.order_no))

    def result_url(self, payment):
        return "/h5/"


def wipe_sandbox(sandbox) -> None:
    """Start the channel's books empty, so today's bill holds only this test's payments."""
    with sandbox.store.transaction() as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            if not table.startswith("sqlite_"):
                conn.execute(f"DELETE FROM {table}")
