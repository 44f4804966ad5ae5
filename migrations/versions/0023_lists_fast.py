"""the bookings list's 就诊日期 range reads an index, not the whole table (issue 16 item 11)

Revision ID: 0023_lists_fast
Revises: 0022_perf_finish
Create Date: 2026-12-01 23:58:00

"""
from alembic import op


revision = '0023_lists_fast'
down_revision = '0022_perf_finish'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_appointment_clinic_date', 'appointment_order', ['clinic_date'], unique=False)


def downgrade():
    op.drop_index('ix_appointment_clinic_date', table_name='appointment_order')
