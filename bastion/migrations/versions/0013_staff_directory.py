"""Staff who sign in with the hospital directory (issue 17):

- staff_users.identity_source: local | ldap | oidc ("local" for every existing account);
- staff_users.external_id: the directory entry's DN, or the identity provider's issuer
  and subject;
- staff_users.directory_disabled_at: when the directory disabled the account;
- staff_role_changes.origin: "directory" for a role change filed at sign-in because of
  the person's groups.

Revision ID: 0013_staff_directory
Revises: 0012_trace_compliance
Create Date: 2026-12-03 09:40:00
"""

import sqlalchemy as sa
from alembic import op

import bastion.models.base

revision = '0013_staff_directory'
down_revision = '0012_trace_compliance'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('staff_users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('identity_source', sa.String(length=8), nullable=False,
                                      server_default='local'))
        batch_op.add_column(sa.Column('external_id', sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column('directory_disabled_at', bastion.models.base.UTCDateTime(),
                                      nullable=True))
    with op.batch_alter_table('staff_role_changes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('origin', sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('staff_role_changes', schema=None) as batch_op:
        batch_op.drop_column('origin')
    with op.batch_alter_table('staff_users', schema=None) as batch_op:
        batch_op.drop_column('directory_disabled_at')
        batch_op.drop_column('external_id')
        batch_op.drop_column('identity_source')
