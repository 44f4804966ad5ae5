"""for mothers and children: pregnancy on the card, 孕妇学校 classes and bookings, 诊前签到, 候补 waitlist,
English names of departments and doctors

Revision ID: 0017_mothers
Revises: 0008_deposit_refunds
Create Date: 2026-12-01 16:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0017_mothers'
down_revision = '0008_deposit_refunds'
branch_labels = None
depends_on = None


def _stamps():
    return [sa.Column('created_at', sa.DateTime(), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
            sa.Column('updated_at', sa.DateTime(), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False)]


def upgrade():
    with op.batch_alter_table('department', schema=None) as batch_op:
        batch_op.add_column(sa.Column('name_en', sa.String(length=128), nullable=True))
    with op.batch_alter_table('doctor', schema=None) as batch_op:
        batch_op.add_column(sa.Column('name_en', sa.String(length=64), nullable=True))

    op.create_table('pregnancy',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('lmp_date', sa.Date(), nullable=False),
    sa.Column('due_date', sa.Date(), nullable=False),
    sa.Column('given', sa.String(length=8), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    *_stamps(),
    sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('patient_id')
    )
    op.create_table('prenatal_class',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=64), nullable=False),
    sa.Column('intro', sa.Text(), nullable=True),
    sa.Column('teacher', sa.String(length=32), nullable=True),
    sa.Column('location', sa.String(length=128), nullable=False),
    sa.Column('starts_at', sa.DateTime(), nullable=False),
    sa.Column('ends_at', sa.DateTime(), nullable=False),
    sa.Column('capacity', sa.Integer(), nullable=False),
    sa.Column('booked', sa.Integer(), nullable=False),
    sa.Column('fee_fen', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    *_stamps(),
    sa.CheckConstraint('booked >= 0 AND booked <= capacity', name='ck_class_not_oversold'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('class_booking',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('booking_no', sa.String(length=32), nullable=False),
    sa.Column('class_id', sa.Integer(), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('fee_fen', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('active_key', sa.String(length=64), nullable=True),
    *_stamps(),
    sa.ForeignKeyConstraint(['class_id'], ['prenatal_class.id'], ),
    sa.ForeignKeyConstraint(['owner_id'], ['channel_user.id'], ),
    sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('active_key'),
    sa.UniqueConstraint('booking_no')
    )
    with op.batch_alter_table('class_booking', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_class_booking_class_id'), ['class_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_class_booking_owner_id'), ['owner_id'], unique=False)

    op.create_table('check_in',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('appointment_id', sa.Integer(), nullable=False),
    sa.Column('checked_in_at', sa.DateTime(), nullable=False),
    sa.Column('queue_no', sa.String(length=16), nullable=False),
    sa.Column('location', sa.String(length=128), nullable=True),
    sa.Column('distance_m', sa.Integer(), nullable=True),
    *_stamps(),
    sa.ForeignKeyConstraint(['appointment_id'], ['appointment_order.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('appointment_id', name='uq_check_in_appointment')
    )
    op.create_table('waitlist_entry',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('schedule_id', sa.Integer(), nullable=False),
    sa.Column('slice_ids', sa.String(length=255), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('active_key', sa.String(length=64), nullable=True),
    sa.Column('order_id', sa.Integer(), nullable=True),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('offered_at', sa.DateTime(), nullable=True),
    sa.Column('ended_at', sa.DateTime(), nullable=True),
    sa.Column('end_reason', sa.String(length=255), nullable=True),
    *_stamps(),
    sa.ForeignKeyConstraint(['order_id'], ['appointment_order.id'], ),
    sa.ForeignKeyConstraint(['owner_id'], ['channel_user.id'], ),
    sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], ),
    sa.ForeignKeyConstraint(['schedule_id'], ['schedule.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('active_key')
    )
    with op.batch_alter_table('waitlist_entry', schema=None) as batch_op:
        batch_op.create_index('ix_waitlist_schedule_status', ['schedule_id', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_waitlist_entry_owner_id'), ['owner_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_waitlist_entry_patient_id'), ['patient_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_waitlist_entry_order_id'), ['order_id'], unique=False)


def downgrade():
    op.drop_table('waitlist_entry')
    op.drop_table('check_in')
    op.drop_table('class_booking')
    op.drop_table('prenatal_class')
    op.drop_table('pregnancy')
    with op.batch_alter_table('doctor', schema=None) as batch_op:
        batch_op.drop_column('name_en')
    with op.batch_alter_table('department', schema=None) as batch_op:
        batch_op.drop_column('name_en')
