"""technicians.totp_last_step: the newest time step whose one-time code was accepted, kept
in the database so a code works once across every node and both ways in (SSH and the
portal), not once per process.

Revision ID: 0008_technicians_totp_last_step
Revises: 0007_console_sessions
Create Date: 2026-11-24 07:27:59.648579
"""

import sqlalchemy as sa
from alembic import op

revision = '0008_technicians_totp_last_step'
down_revision = '0007_console_sessions'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('technicians', schema=None) as batch_op:
        batch_op.add_column(sa.Column('totp_last_step', sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('technicians', schema=None) as batch_op:
        batch_op.drop_column('totp_last_step')
