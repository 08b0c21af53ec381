"""ssh_sessions.data_categories: the target's data categories in force when the session
opened, so reports say what was reachable then, not what the targets table says today
(a target can be reclassified). NULL for sessions opened before this revision.

Revision ID: 0016
Revises: 0009_technicians_portal_lockout
Create Date: 2026-12-03 07:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0016'
down_revision = '0009_technicians_portal_lockout'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('ssh_sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('data_categories', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('ssh_sessions', schema=None) as batch_op:
        batch_op.drop_column('data_categories')
