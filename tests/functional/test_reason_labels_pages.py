"""订单全链路, the order's detail and 退费记录 show why an order moved in Chinese (not "refunds settled")."""

from __future__ import annotations

from sqlalchemy import select, update

from app.extensions import db
from app.models import PaymentOrder, Refund, StateTransition
from tests.backoffice_helpers import login, seed_staff_and_orders


def test_reasons_the_commands_wrote_read_in_chinese_where_staff_look(app, client):
    seed_staff_and_orders(app)
    with app.app_context():
        refund = db.session.scalars(select(Refund).order_by(Refund.id)).first()
        payment = db.session.get(PaymentOrder, refund.payment_id)
        order_no, refund_no = payment.order_no, refund.refund_no
        db.session.execute(update(Refund).where(Refund.id == refund.id)
                           .values(failure_reason="channel notification: closed"))
        db.session.execute(update(StateTransition).where(StateTransition.order_type == "payment",
                                                         StateTransition.order_id == payment.id)
                           .values(reason="channel reports paid"))
        db.session.commit()
        payment_id = payment.id
    login(client, "admin")

    trace = client.get(f"/trace/?q={order_no}").get_data(as_text=True)
    assert "渠道通知已支付" in trace and "渠道通知：退款已关闭" in trace
    assert "channel reports paid" not in trace and "channel notification" not in trace

    detail = client.get(f"/paymentorderview/show/{payment_id}").get_data(as_text=True)
    assert "渠道通知已支付" in detail and "channel reports paid" not in detail

    refunds = client.get(f"/refundview/list/?_flt_0_refund_no={refund_no}").get_data(as_text=True)
    assert refund_no in refunds
    assert "渠道通知：退款已关闭" in refunds and "channel notification" not in refunds
