"""today's partial rollup: the 10-minute refresh rolls today up to a moment, so a page reads only the
minutes since from the order tables (issue 16 item 11)

Revision ID: 0022_perf_finish
Revises: 0021_i16_backoffice
Create Date: 2026-12-01 23:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0022_perf_finish'
down_revision = '0021_i16_backoffice'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'rollup_partial',
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('upto', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('day'),
    )


def downgrade():
    op.drop_table('rollup_partial')
