"""money never lost, never paid twice: the per-item refund guard of paid bills, the HIS's answers about
trades kept as evidence, the outbox of calls made after a commit, the HIS side of reconciliation

Revision ID: 0014_money
Revises: 0017_mothers
Create Date: 2026-12-01 16:00:00

"""
import json

import sqlalchemy as sa
from alembic import op

revision = '0014_money'
down_revision = '0017_mothers'
branch_labels = None
depends_on = None


def _backfill_bill_items() -> None:
    """Every bill paid before this migration gets its item rows, with the units its refunds took."""
    conn = op.get_bind()
    payments = dict(conn.execute(sa.text("SELECT id, detail_json FROM payment_order WHERE kind = 'outpatient'")).all())
    taken = {(bill_no, seq, payment_id): int(qty or 0) for bill_no, seq, payment_id, qty in conn.execute(sa.text(
        "SELECT ri.bill_no, ri.item_seq, r.payment_id, SUM(ri.quantity) FROM refund_item ri "
        "JOIN refund r ON r.id = ri.refund_id WHERE r.status <> 'failed' "
        "GROUP BY ri.bill_no, ri.item_seq, r.payment_id")).all()}
    rows = []
    for bp_id, payment_id, bill_no in conn.execute(sa.text("SELECT id, payment_id, bill_no FROM bill_payment")).all():
        detail = json.loads(payments.get(payment_id) or "{}")
        bill = next((b for b in detail.get("bills", []) if b.get("bill_no") == bill_no), None)
        for item in (bill or {}).get("items", []):
            quantity = int(item["quantity"])
            rows.append({"bill_payment_id": bp_id, "item_seq": int(item["seq"]), "quantity": quantity,
                         "unit_price_fen": int(item["unit_price_fen"]),
                         "refunded_qty": min(quantity, taken.get((bill_no, int(item["seq"]), payment_id), 0))})
    if rows:
        conn.execute(sa.text("INSERT INTO bill_payment_item (bill_payment_id, item_seq, quantity, unit_price_fen, "
                             "refunded_qty) VALUES (:bill_payment_id, :item_seq, :quantity, :unit_price_fen, "
                             ":refunded_qty)"), rows)


def upgrade():
    op.create_table('bill_payment_item',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('bill_payment_id', sa.Integer(), nullable=False),
    sa.Column('item_seq', sa.Integer(), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('unit_price_fen', sa.Integer(), nullable=False),
    sa.Column('refunded_qty', sa.Integer(), nullable=False),
    sa.CheckConstraint('refunded_qty >= 0 AND refunded_qty <= quantity', name='ck_bill_payment_item_refunded'),
    sa.ForeignKeyConstraint(['bill_payment_id'], ['bill_payment.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('bill_payment_id', 'item_seq', name='uq_bill_payment_item_seq')
    )
    _backfill_bill_items()
    op.create_table('his_check',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('payment_id', sa.Integer(), nullable=False),
    sa.Column('trade_no', sa.String(length=64), nullable=False),
    sa.Column('asked_at', sa.DateTime(), nullable=False),
    sa.Column('why', sa.String(length=255), nullable=False),
    sa.Column('answer', sa.String(length=16), nullable=False),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['payment_id'], ['payment_order.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('his_check', schema=None) as batch_op:
        batch_op.create_index('ix_his_check_payment', ['payment_id', 'asked_at'], unique=False)

    op.create_table('outbox_task',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=48), nullable=False),
    sa.Column('ref', sa.String(length=96), nullable=False),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(), nullable=False),
    sa.Column('last_error', sa.String(length=255), nullable=True),
    sa.Column('done_at', sa.DateTime(), nullable=True),
    sa.Column('created_at', sa.DateTime(), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('updated_at', sa.DateTime(), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('kind', 'ref', name='uq_outbox_task_kind_ref')
    )
    with op.batch_alter_table('outbox_task', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_task_status_next', ['status', 'next_attempt_at'], unique=False)

    with op.batch_alter_table('reconciliation_item', schema=None) as batch_op:
        batch_op.add_column(sa.Column('source', sa.String(length=16), server_default='channel', nullable=False))
        batch_op.add_column(sa.Column('evidence', sa.Text(), nullable=True))


def downgrade():
    with op.batch_alter_table('reconciliation_item', schema=None) as batch_op:
        batch_op.drop_column('evidence')
        batch_op.drop_column('source')
    with op.batch_alter_table('outbox_task', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_task_status_next')
    op.drop_table('outbox_task')
    with op.batch_alter_table('his_check', schema=None) as batch_op:
        batch_op.drop_index('ix_his_check_payment')
    op.drop_table('his_check')
    op.drop_table('bill_payment_item')
