"""Reading payments: what a page or a command looks up, with the account's ownership checked."""

from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import select

from app.extensions import db
from app.models import PaymentOrder, Refund
from app.services.errors import Forbidden


def payment_by_no(order_no: str) -> PaymentOrder | None:
    return db.session.scalar(select(PaymentOrder).where(PaymentOrder.order_no == order_no))


def refund_by_no(refund_no: str) -> Refund | None:
    return db.session.scalar(select(Refund).where(Refund.refund_no == refund_no))


def owned_payment(order_no: str, owner_id: int) -> PaymentOrder:
    """The account's payment order, or 404 (another account's order is indistinguishable from none)."""
    order = payment_by_no(order_no)
    if order is None or order.owner_id != owner_id:
        raise Forbidden(_("订单不存在"))
    return order
