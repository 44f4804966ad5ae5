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


def test_the_his_answers_behind_a_failed_confirmation_read_in_chinese(app, client):
    """A 医院结果未知 payment checked again (the HIS says: not applied) moves to 确认失败: the check's reason, the
    move's reason and the HIS 错误 are the payment commands' English; finance reads them on the detail and the trace."""
    from app.payments import commands as payments

    seed_staff_and_orders(app)
    with app.app_context():
        payment = db.session.scalars(select(PaymentOrder).where(PaymentOrder.status == "confirmed",
                                                                PaymentOrder.channel_trade_no.is_not(None))
                                     .order_by(PaymentOrder.id)).first()
        db.session.execute(update(PaymentOrder).where(PaymentOrder.id == payment.id)
                           .values(status="confirm_unknown", his_receipt_no=None))
        db.session.commit()
        order_no, payment_id = payment.order_no, payment.id
        assert payments.recheck_unknown(order_no) in ("confirm_failed", "refunding", "refunded")
    login(client, "finance")

    english = ("asked again", "trade not applied", "the HIS", "HIS:")
    detail = client.get(f"/paymentorderview/show/{payment_id}").get_data(as_text=True)
    assert "再次向医院核实" in detail and "医院答复：未入账" in detail
    assert not [e for e in english if e in detail], [e for e in english if e in detail]
    trace = client.get(f"/trace/?q={order_no}").get_data(as_text=True)
    assert "再次向医院核实" in trace and "医院答复：未入账" in trace
    assert not [e for e in english if e in trace], [e for e in english if e in trace]


def test_every_reason_the_payment_commands_compose_reads_in_chinese():
    """Each reason confirm_payment and its checks write, in every combination, has its Chinese."""
    from app.backoffice.orders import reason_label

    written = [
        "HIS refused: SLOT_FULL 号源已满; HIS: trade not applied",
        "HIS unavailable after 6 attempts: timeout; the HIS could not say whether it applied the trade",
        "asked again: the HIS had not said whether it applied the trade; HIS: trade not applied",
        "HIS refused: E01 处方已失效; the HIS holds the trade (86.50 yuan) but confirming it again failed: E02 已关账",
        "checked with the hospital by finance: not applied (已电话核实)",
        "finance check",
    ]
    for reason in written:
        text = reason_label(reason)
        assert not any(word in text for word in ("HIS refused", "HIS unavailable", "the HIS", "trade", "asked",
                                                 "checked", "finance check", "yuan")), (reason, text)
    assert reason_label(written[0]) == "医院拒绝：SLOT_FULL 号源已满；医院答复：未入账"
    assert "已电话核实" in reason_label(written[4]) and "finance" in reason_label(written[4])
