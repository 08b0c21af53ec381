"""break-glass acknowledgement (issue 18, point 2): under a contract's
``break_glass.on_sensitive: acknowledged``, an emergency on health data opens once an
on-call approver acknowledges it; each approver asked gets a one-time link.

Revision ID: 0015_break_glass_ack
Revises: 0014_sealed_traces
Create Date: 2026-12-03 10:00:00
"""

import sqlalchemy as sa
from alembic import op

import bastion.models.base

revision = '0015_break_glass_ack'
down_revision = '0014_sealed_traces'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'break_glass_acknowledgements',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('request_id', sa.Integer(), nullable=False),
        sa.Column('staff_id', sa.Integer(), nullable=False),
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('created_at', bastion.models.base.UTCDateTime(), nullable=False),
        sa.Column('expires_at', bastion.models.base.UTCDateTime(), nullable=False),
        sa.Column('used_at', bastion.models.base.UTCDateTime(), nullable=True),
        sa.Column('acknowledged_at', bastion.models.base.UTCDateTime(), nullable=True),
        sa.Column('credential_id', sa.Integer(), nullable=True),
        sa.Column('challenge', sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(['credential_id'], ['webauthn_credentials.id'],
                                name=op.f('fk_break_glass_acknowledgements_credential_id_webauthn_credentials')),
        sa.ForeignKeyConstraint(['request_id'], ['access_requests.id'],
                                name=op.f('fk_break_glass_acknowledgements_request_id_access_requests')),
        sa.ForeignKeyConstraint(['staff_id'], ['staff_users.id'],
                                name=op.f('fk_break_glass_acknowledgements_staff_id_staff_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_break_glass_acknowledgements')),
        sa.UniqueConstraint('token_hash', name=op.f('uq_break_glass_acknowledgements_token_hash')),
    )
    with op.batch_alter_table('break_glass_acknowledgements', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_break_glass_acknowledgements_request_id'),
                              ['request_id'], unique=False)


def downgrade() -> None:
    op.drop_table('break_glass_acknowledgements')
