"""Compliance of the access traces (issue 18):

- ssh_sessions.data_categories: the target's data categories in force when the session
  opened, so reports say what was reachable then, not what the targets table says today
  (a target can be reclassified). NULL for sessions opened before this revision.
- vendors.review_suspended_at: set when a vendor went a year without a confirmed access
  review and past the grace period; the decision point refuses its technicians until a
  review confirms an access again.
- staff_users.roles_reviewed_at / roles_suspended_at: the yearly review of staff roles;
  suspended roles are not in force.
- vendors.review_clock_from / staff_users.review_clock_from: for rows that exist at the
  upgrade, the yearly review is counted from the upgrade, not from their creation (an old
  install would otherwise suspend every vendor and staff member on the first round).

Revision ID: 0012_trace_compliance
Revises: 0011_recording_seals
Create Date: 2026-12-03 07:00:00
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import bastion.models.base

revision = '0012_trace_compliance'
down_revision = '0011_recording_seals'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('ssh_sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('data_categories', sa.JSON(), nullable=True))
    with op.batch_alter_table('vendors', schema=None) as batch_op:
        batch_op.add_column(sa.Column('review_suspended_at', bastion.models.base.UTCDateTime(),
                                      nullable=True))
        batch_op.add_column(sa.Column('review_clock_from', bastion.models.base.UTCDateTime(),
                                      nullable=True))
    with op.batch_alter_table('staff_users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('roles_reviewed_at', bastion.models.base.UTCDateTime(),
                                      nullable=True))
        batch_op.add_column(sa.Column('roles_suspended_at', bastion.models.base.UTCDateTime(),
                                      nullable=True))
        batch_op.add_column(sa.Column('review_clock_from', bastion.models.base.UTCDateTime(),
                                      nullable=True))
    upgraded_at = datetime.now(UTC).replace(tzinfo=None)
    op.execute(sa.text("UPDATE vendors SET review_clock_from = :at").bindparams(at=upgraded_at))
    op.execute(sa.text("UPDATE staff_users SET review_clock_from = :at").bindparams(at=upgraded_at))


def downgrade() -> None:
    with op.batch_alter_table('staff_users', schema=None) as batch_op:
        batch_op.drop_column('review_clock_from')
        batch_op.drop_column('roles_suspended_at')
        batch_op.drop_column('roles_reviewed_at')
    with op.batch_alter_table('vendors', schema=None) as batch_op:
        batch_op.drop_column('review_clock_from')
        batch_op.drop_column('review_suspended_at')
    with op.batch_alter_table('ssh_sessions', schema=None) as batch_op:
        batch_op.drop_column('data_categories')
