"""outpatient bills paid through the platform, refund items

Revision ID: 0006_bills
Revises: 0005_booking
Create Date: 2026-11-27 10:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0006_bills'
down_revision = '0005_booking'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('bill_payment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('payment_id', sa.Integer(), nullable=False),
    sa.Column('bill_no', sa.String(length=32), nullable=False),
    sa.Column('card_no', sa.String(length=32), nullable=False),
    sa.Column('amount_fen', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('receipt_no', sa.String(length=32), nullable=True),
    sa.Column('settled_at', sa.DateTime(), nullable=True),
    sa.Column('guidance', sa.Text(), nullable=True),
    sa.Column('his_error', sa.String(length=255), nullable=True),
    sa.Column('created_at', sa.DateTime(), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('updated_at', sa.DateTime(), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['payment_id'], ['payment_order.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('payment_id', 'bill_no', name='uq_bill_payment_payment_bill')
    )
    with op.batch_alter_table('bill_payment', schema=None) as batch_op:
        batch_op.create_index('ix_bill_payment_bill_no', ['bill_no'], unique=False)
        batch_op.create_index(batch_op.f('ix_bill_payment_payment_id'), ['payment_id'], unique=False)

    op.create_table('refund_item',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('refund_id', sa.Integer(), nullable=False),
    sa.Column('bill_no', sa.String(length=32), nullable=False),
    sa.Column('item_seq', sa.Integer(), nullable=False),
    sa.Column('quantity', sa.Integer(), nullable=False),
    sa.Column('amount_fen', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['refund_id'], ['refund.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('refund_item', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_refund_item_refund_id'), ['refund_id'], unique=False)


def downgrade():
    with op.batch_alter_table('refund_item', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_refund_item_refund_id'))
    op.drop_table('refund_item')
    with op.batch_alter_table('bill_payment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_bill_payment_payment_id'))
        batch_op.drop_index('ix_bill_payment_bill_no')
    op.drop_table('bill_payment')
