"""operators created from 操作员 carry a phone (issue 16 item 6); 巡检报告 kept to compare (item 10); the HIS call journal (item 2)

Revision ID: 0021_i16_backoffice
Revises: 0020_i16_perf
Create Date: 2026-12-01 20:10:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0021_i16_backoffice'
down_revision = '0020_i16_perf'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('operator_profile') as batch:
        batch.add_column(sa.Column('phone', sa.String(length=20), nullable=True))
    op.create_table(
        'inspection_record',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('generated_at', sa.DateTime(), nullable=False),
        sa.Column('since', sa.DateTime(), nullable=False),
        sa.Column('problem_count', sa.Integer(), nullable=False),
        sa.Column('findings_json', sa.Text(), nullable=False),
        sa.Column('volumes_json', sa.Text(), nullable=False),
        sa.Column('saved_by', sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_inspection_record_generated_at', 'inspection_record', ['generated_at'])
    op.create_table(
        'his_call',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('at', sa.DateTime(), nullable=False),
        sa.Column('method', sa.String(length=48), nullable=False),
        sa.Column('ref', sa.String(length=64), nullable=False),
        sa.Column('request', sa.Text(), nullable=True),
        sa.Column('outcome', sa.String(length=64), nullable=False),
        sa.Column('answer', sa.Text(), nullable=True),
        sa.Column('duration_ms', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_his_call_ref', 'his_call', ['ref'])


def downgrade():
    op.drop_index('ix_his_call_ref', table_name='his_call')
    op.drop_table('his_call')
    op.drop_index('ix_inspection_record_generated_at', table_name='inspection_record')
    op.drop_table('inspection_record')
    with op.batch_alter_table('operator_profile') as batch:
        batch.drop_column('phone')
