"""technicians.failed_sign_ins and locked_until: the vendor portal's lock-out after
repeated wrong passwords or codes, kept in the database so it holds across nodes and
restarts (it was a per-process memory).

Revision ID: 0009_technicians_portal_lockout
Revises: 0008_technicians_totp_last_step
Create Date: 2026-11-24 08:35:00
"""

import sqlalchemy as sa
from alembic import op

import bastion.models.base

revision = '0009_technicians_portal_lockout'
down_revision = '0008_technicians_totp_last_step'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('technicians', schema=None) as batch_op:
        batch_op.add_column(sa.Column('failed_sign_ins', sa.Integer(), server_default='0',
                                      nullable=False))
        batch_op.add_column(sa.Column('locked_until', bastion.models.base.UTCDateTime(),
                                      nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('technicians', schema=None) as batch_op:
        batch_op.drop_column('locked_until')
        batch_op.drop_column('failed_sign_ins')
