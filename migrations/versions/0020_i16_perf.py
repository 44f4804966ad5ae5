"""performance at a busy hospital's volume: daily rollups for 交易统计 and 数据分析, and the indexes the
back-office lists and the rollups read by (issue 16 item 11)

Revision ID: 0020_i16_perf
Revises: 0020_i15_security
Create Date: 2026-12-01 19:45:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0020_i16_perf'
down_revision = '0020_i15_security'
branch_labels = None
depends_on = None


INDEXES = (
    ('payment_order', 'ix_payment_created_at', ['created_at']),
    ('payment_order', 'ix_payment_paid_at', ['paid_at', 'channel', 'kind', 'status', 'amount_fen']),
    ('payment_order', 'ix_payment_updated_at', ['updated_at']),
    ('refund', 'ix_refund_created_at', ['created_at']),
    ('refund', 'ix_refund_status_succeeded', ['status', 'succeeded_at']),
    ('refund', 'ix_refund_updated_at', ['updated_at']),
    ('appointment_order', 'ix_appointment_created_at', ['created_at']),
    ('appointment_order', 'ix_appointment_confirmed_at', ['confirmed_at']),
    ('appointment_order', 'ix_appointment_updated_at', ['updated_at']),
    ('patient', 'ix_patient_unbound_at', ['unbound_at']),
    ('patient', 'ix_patient_updated_at', ['updated_at']),
    ('patient', 'ix_patient_phone', ['phone']),
    ('patient', 'ix_patient_name', ['name']),
    ('follow_event', 'ix_follow_event_at', ['at']),
    # 订单全链路: any number the patient or the channel has
    ('payment_order', 'ix_payment_his_receipt_no', ['his_receipt_no']),
    ('payment_order', 'ix_payment_business_ref', ['business_ref']),
    ('refund', 'ix_refund_channel_refund_no', ['channel_refund_no']),
    ('appointment_order', 'ix_appointment_his_visit_no', ['his_visit_no']),
)


def upgrade():
    op.create_table(
        'payment_day_rollup',
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('channel', sa.String(length=16), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('status', sa.String(length=24), nullable=False),
        sa.Column('paid_count', sa.Integer(), nullable=False),
        sa.Column('paid_fen', sa.BigInteger(), nullable=False),
        sa.Column('refund_count', sa.Integer(), nullable=False),
        sa.Column('refund_fen', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('day', 'channel', 'kind', 'status'),
    )
    op.create_table(
        'activity_day_rollup',
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('channel', sa.String(length=16), nullable=False),
        sa.Column('follow', sa.Integer(), nullable=False),
        sa.Column('unfollow', sa.Integer(), nullable=False),
        sa.Column('bind', sa.Integer(), nullable=False),
        sa.Column('unbind', sa.Integer(), nullable=False),
        sa.Column('booking_advance', sa.Integer(), nullable=False),
        sa.Column('booking_same_day', sa.Integer(), nullable=False),
        sa.Column('booking_fee_fen', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('day', 'channel'),
    )
    op.create_table(
        'rollup_day',
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('built_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('day'),
    )
    op.create_table(
        'rollup_stale_day',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('marked_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_rollup_stale_day_day', 'rollup_stale_day', ['day'], unique=False)
    op.create_table(
        'rollup_run',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('trigger', sa.String(length=16), nullable=False),
        sa.Column('first_day', sa.Date(), nullable=True),
        sa.Column('last_day', sa.Date(), nullable=True),
        sa.Column('days', sa.Integer(), nullable=False),
        sa.Column('started_at', sa.DateTime(), nullable=False),
        sa.Column('finished_at', sa.DateTime(), nullable=True),
        sa.Column('consistent_at', sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_rollup_run_consistent_at', 'rollup_run', ['consistent_at'], unique=False)
    for table, name, columns in INDEXES:
        op.create_index(name, table, columns, unique=False)


def downgrade():
    for table, name, _columns in reversed(INDEXES):
        op.drop_index(name, table_name=table)
    op.drop_index('ix_rollup_run_consistent_at', table_name='rollup_run')
    op.drop_table('rollup_run')
    op.drop_index('ix_rollup_stale_day_day', table_name='rollup_stale_day')
    op.drop_table('rollup_stale_day')
    op.drop_table('rollup_day')
    op.drop_table('activity_day_rollup')
    op.drop_table('payment_day_rollup')
