"""security (issue 15): lockout, session revocation, password history and age, TOTP, failure counters,
the role grants `roles sync` already gave

Revision ID: 0020_i15_security
Revises: 0019_ops
Create Date: 2026-12-01 19:45:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0020_i15_security'
down_revision = '0019_ops'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('operator_profile', schema=None) as batch_op:
        batch_op.add_column(sa.Column('locked_until', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('session_epoch', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('password_changed_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('totp_secret', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('totp_enabled_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('recovery_codes', sa.Text(), nullable=True))
    with op.batch_alter_table('channel_user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('session_epoch', sa.Integer(), server_default='0', nullable=False))
    op.create_table('attempt_counter',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('scope', sa.String(length=24), nullable=False),
    sa.Column('key', sa.String(length=128), nullable=False),
    sa.Column('window_start', sa.DateTime(), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('scope', 'key', 'window_start', name='uq_attempt_counter')
    )
    with op.batch_alter_table('attempt_counter', schema=None) as batch_op:
        batch_op.create_index('ix_attempt_counter_window', ['window_start'], unique=False)
    op.create_table('password_history',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('password_hash', sa.String(length=256), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['ab_user.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('password_history', schema=None) as batch_op:
        batch_op.create_index('ix_password_history_user', ['user_id', 'id'], unique=False)
    # The audit trail is append-only (等保 2.0 level 3): no UPDATE from any client; rows leave only by the
    # retention purge (app/security/audit_trail.py).
    dialect = op.get_bind().dialect.name
    if dialect == 'mysql':
        op.execute("CREATE TRIGGER audit_log_append_only BEFORE UPDATE ON audit_log FOR EACH ROW "
                   "SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'audit_log is append-only'")
    elif dialect == 'sqlite':
        op.execute("CREATE TRIGGER audit_log_append_only BEFORE UPDATE ON audit_log "
                   "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END")
    op.create_table('role_grant',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=64), nullable=False),
    sa.Column('view_menu', sa.String(length=250), nullable=False),
    sa.Column('permission', sa.String(length=100), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('role', 'view_menu', 'permission', name='uq_role_grant')
    )


def downgrade():
    op.drop_table('role_grant')
    if op.get_bind().dialect.name in ('mysql', 'sqlite'):
        op.execute("DROP TRIGGER IF EXISTS audit_log_append_only")
    with op.batch_alter_table('password_history', schema=None) as batch_op:
        batch_op.drop_index('ix_password_history_user')
    op.drop_table('password_history')
    with op.batch_alter_table('attempt_counter', schema=None) as batch_op:
        batch_op.drop_index('ix_attempt_counter_window')
    op.drop_table('attempt_counter')
    with op.batch_alter_table('channel_user', schema=None) as batch_op:
        batch_op.drop_column('session_epoch')
    with op.batch_alter_table('operator_profile', schema=None) as batch_op:
        for column in ('recovery_codes', 'totp_enabled_at', 'totp_secret', 'password_changed_at',
                       'session_epoch', 'locked_until'):
            batch_op.drop_column(column)
