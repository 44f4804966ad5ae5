"""The account's e-invoice for one of its payments (ownership checked, the HIS asked, errors translated)."""

from __future__ import annotations

import logging

from flask_babel import gettext as _

from app.his.errors import HisUnavailable
from app.his.errors import NotFound as HisNotFound
from app.his.interface import Invoice
from app.models import PaymentOrder
from app.services.errors import DomainError, Unavailable
from app.services.his_access import his_gateway
from app.payments.queries import owned_payment

log = logging.getLogger("invoices")

#: payment states in which money reached the hospital (an invoice exists, perhaps voided by a refund)
INVOICED = ("paid", "confirmed", "confirm_failed", "refunding", "partially_refunded", "refunded")


def invoice_for(owner_id: int, order_no: str) -> tuple[PaymentOrder, Invoice]:
    """The 财政电子票据 of the account's payment ``order_no``; another account's order is 404."""
    payment = owned_payment(order_no, owner_id)
    if payment.status not in INVOICED or not payment.channel_trade_no:
        raise DomainError(_("该订单尚未支付，没有电子票据"), code="not_paid", status=409)
    try:
        return payment, his_gateway().invoice(payment.channel_trade_no)
    except HisNotFound as exc:
        log.info("invoice not issued yet order=%s: %s", order_no, exc)
        raise DomainError(_("电子票据正在开具，请稍后再查看"), code="not_issued", status=409) from exc
    except HisUnavailable as exc:
        raise Unavailable(_("医院系统暂时无法连接，请稍后再试")) from exc
