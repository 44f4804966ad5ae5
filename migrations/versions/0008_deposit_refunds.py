"""deposit refunds at discharge the HIS asks for: the request and its refund per deposit payment

Revision ID: 0008_deposit_refunds
Revises: 0007_attendance
Create Date: 2026-11-28 10:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0008_deposit_refunds'
down_revision = '0007_attendance'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('deposit_refund_request',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('request_no', sa.String(length=48), nullable=False),
    sa.Column('inpatient_no', sa.String(length=64), nullable=False),
    sa.Column('amount_fen', sa.Integer(), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('updated_at', sa.DateTime(), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('request_no')
    )
    with op.batch_alter_table('deposit_refund_request', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_deposit_refund_request_inpatient_no'), ['inpatient_no'], unique=False)

    op.create_table('deposit_refund_part',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('request_id', sa.Integer(), nullable=False),
    sa.Column('refund_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['refund_id'], ['refund.id'], ),
    sa.ForeignKeyConstraint(['request_id'], ['deposit_refund_request.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('refund_id')
    )
    with op.batch_alter_table('deposit_refund_part', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_deposit_refund_part_request_id'), ['request_id'], unique=False)


def downgrade():
    with op.batch_alter_table('deposit_refund_part', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_deposit_refund_part_request_id'))
    op.drop_table('deposit_refund_part')
    with op.batch_alter_table('deposit_refund_request', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_deposit_refund_request_inpatient_no'))
    op.drop_table('deposit_refund_request')
