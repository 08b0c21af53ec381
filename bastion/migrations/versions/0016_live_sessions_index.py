"""ssh_sessions (status, node): each proxy worker finds its live sessions to end every
second by node instead of listing their ids (issue 16, benchmark 4's p99).

Revision ID: 0016_live_sessions_index
Revises: 0015_break_glass_ack
Create Date: 2026-12-04 04:00:00
"""

from alembic import op

revision = '0016_live_sessions_index'
down_revision = '0015_break_glass_ack'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('ssh_sessions', schema=None) as batch_op:
        batch_op.create_index('ix_ssh_sessions_status_node', ['status', 'node'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('ssh_sessions', schema=None) as batch_op:
        batch_op.drop_index('ix_ssh_sessions_status_node')
