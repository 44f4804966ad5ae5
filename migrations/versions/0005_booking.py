"""booking: one live booking per patient and clinic session; the HIS guidance kept on the order

Revision ID: 0005_booking
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa

revision = "0005_booking"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("appointment_order", schema=None) as batch_op:
        batch_op.add_column(sa.Column("active_key", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("guidance", sa.Text(), nullable=True))
        batch_op.create_unique_constraint("uq_appointment_order_active_key", ["active_key"])


def downgrade():
    with op.batch_alter_table("appointment_order", schema=None) as batch_op:
        batch_op.drop_constraint("uq_appointment_order_active_key", type_="unique")
        batch_op.drop_column("guidance")
        batch_op.drop_column("active_key")
