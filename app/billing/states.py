"""门诊缴费: the statuses of one bill within a payment (``bill_payment``), as stored (no migration)."""

from __future__ import annotations

from enum import StrEnum


class BillPaymentStatus(StrEnum):
    PENDING = "pending"    # paid through the platform, the HIS not yet asked
    SETTLED = "settled"    # the HIS settled it (a receipt number)
    REFUSED = "refused"    # the HIS refused it: its share is refunded
