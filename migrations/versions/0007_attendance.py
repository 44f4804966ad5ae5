"""attendance: when the HIS says the patient checked in (已就诊)

Revision ID: 0007_attendance
Revises: 0006_bills
Create Date: 2026-11-28 10:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0007_attendance'
down_revision = '0006_bills'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('appointment_order', schema=None) as batch_op:
        batch_op.add_column(sa.Column('attended_at', sa.DateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table('appointment_order', schema=None) as batch_op:
        batch_op.drop_column('attended_at')
