"""operations: repair requests (数据维护申请) with a four-eyes CHECK; the booking's order insert no longer
share-locks the hot slice row (no FOREIGN KEY on appointment_order.slice_id, an index instead)

Revision ID: 0019_ops
Revises: 0014_money
Create Date: 2026-12-01 16:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0019_ops'
down_revision = '0014_money'
branch_labels = None
depends_on = None


SLICE_FK = "fk_appointment_order_slice_id_schedule_slice"
NAMING = {"fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s"}


def _drop_slice_foreign_key():
    bind = op.get_bind()
    if bind.dialect.name == "mysql":
        names = bind.execute(sa.text(
            "SELECT CONSTRAINT_NAME FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = DATABASE() "
            "AND TABLE_NAME = 'appointment_order' AND COLUMN_NAME = 'slice_id' "
            "AND REFERENCED_TABLE_NAME = 'schedule_slice'")).scalars().all()
        for name in names:
            op.drop_constraint(name, 'appointment_order', type_='foreignkey')
        indexes = {i["name"] for i in sa.inspect(bind).get_indexes('appointment_order')}
        if 'slice_id' in indexes:  # the index InnoDB made for the foreign key
            op.drop_index('slice_id', table_name='appointment_order')
        op.create_index('ix_appointment_order_slice_id', 'appointment_order', ['slice_id'], unique=False)
    else:
        with op.batch_alter_table('appointment_order', schema=None, naming_convention=NAMING) as batch_op:
            batch_op.drop_constraint(SLICE_FK, type_='foreignkey')
            batch_op.create_index('ix_appointment_order_slice_id', ['slice_id'], unique=False)


def upgrade():
    _drop_slice_foreign_key()
    op.create_table('repair_request',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('target_type', sa.String(length=16), nullable=False),
    sa.Column('target_id', sa.Integer(), nullable=False),
    sa.Column('order_no', sa.String(length=40), nullable=False),
    sa.Column('field', sa.String(length=32), nullable=False),
    sa.Column('before_value', sa.String(length=64), nullable=True),
    sa.Column('after_value', sa.String(length=64), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('proposed_by_id', sa.Integer(), nullable=False),
    sa.Column('proposed_by', sa.String(length=64), nullable=False),
    sa.Column('proposed_at', sa.DateTime(), nullable=False),
    sa.Column('decided_by_id', sa.Integer(), nullable=True),
    sa.Column('decided_by', sa.String(length=64), nullable=True),
    sa.Column('decided_at', sa.DateTime(), nullable=True),
    sa.Column('decision_note', sa.String(length=255), nullable=True),
    sa.Column('created_at', sa.DateTime(), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.Column('updated_at', sa.DateTime(), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.CheckConstraint("status = 'withdrawn' OR decided_by_id IS NULL OR decided_by_id <> proposed_by_id",
                       name='ck_repair_request_four_eyes'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('repair_request', schema=None) as batch_op:
        batch_op.create_index('ix_repair_request_status_created', ['status', 'created_at'], unique=False)
        batch_op.create_index('ix_repair_request_target', ['target_type', 'target_id'], unique=False)


def downgrade():
    with op.batch_alter_table('appointment_order', schema=None) as batch_op:
        batch_op.drop_index('ix_appointment_order_slice_id')
        batch_op.create_foreign_key(SLICE_FK, 'schedule_slice', ['slice_id'], ['id'])
    with op.batch_alter_table('repair_request', schema=None) as batch_op:
        batch_op.drop_index('ix_repair_request_target')
        batch_op.drop_index('ix_repair_request_status_created')
    op.drop_table('repair_request')
