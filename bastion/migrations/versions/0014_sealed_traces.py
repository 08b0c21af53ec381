"""sealed traces (issue 18, point 6): command text and file paths at rest are sealed.

- trace_keys: the key sealing them, itself sealed by the master key (one row);
- recorded_commands.search_terms: keyed hashes of the command's words, what the
  "command contains" search matches now that the text is sealed; the trigram index
  moves from the text (sealed, unsearchable) to it.

Sealing the rows already there needs the master key, which migrations do not hold:
``bastion init`` does it right after the upgrade (bastion.trace_sealing).

Revision ID: 0014_sealed_traces
Revises: 0013_staff_directory
Create Date: 2026-12-03 09:40:00
"""

import sqlalchemy as sa
from alembic import op

import bastion.models.base

revision = '0014_sealed_traces'
down_revision = '0013_staff_directory'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'trace_keys',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=32), nullable=False),
        sa.Column('wrapped_key', sa.LargeBinary(), nullable=False),
        sa.Column('master_key_id', sa.String(length=16), nullable=False),
        sa.Column('created_at', bastion.models.base.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_trace_keys')),
        sa.UniqueConstraint('name', name=op.f('uq_trace_keys_name')),
    )
    with op.batch_alter_table('recorded_commands', schema=None) as batch_op:
        batch_op.add_column(sa.Column('search_terms', sa.Text(), nullable=True))
        batch_op.drop_index('ix_recorded_commands_text_trgm', postgresql_using='gin',
                            postgresql_ops={'text': 'gin_trgm_ops'})
        batch_op.create_index('ix_recorded_commands_search_terms_trgm', ['search_terms'],
                              unique=False, postgresql_using='gin',
                              postgresql_ops={'search_terms': 'gin_trgm_ops'})


def downgrade() -> None:
    with op.batch_alter_table('recorded_commands', schema=None) as batch_op:
        batch_op.drop_index('ix_recorded_commands_search_terms_trgm', postgresql_using='gin',
                            postgresql_ops={'search_terms': 'gin_trgm_ops'})
        batch_op.create_index('ix_recorded_commands_text_trgm', ['text'], unique=False,
                              postgresql_using='gin', postgresql_ops={'text': 'gin_trgm_ops'})
        batch_op.drop_column('search_terms')
    op.drop_table('trace_keys')
