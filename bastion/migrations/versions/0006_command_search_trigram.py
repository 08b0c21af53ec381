"""command search trigram index: "command contains" searches (ILIKE '%...%') across
millions of recorded commands use a pg_trgm GIN index on PostgreSQL (issue 9's console
benchmark); SQLite gets a plain index, as the model declares.

pg_trgm ships with PostgreSQL (Debian's postgresql package, the postgres Docker image,
the managed services) and is a trusted extension since PostgreSQL 13: the database's
owner may create it without superuser rights.

Revision ID: 0006_command_search_trigram
Revises: 0005_access_review_campaigns
Create Date: 2026-11-24 05:58:06.532081
"""

from alembic import op

revision = '0006_command_search_trigram'
down_revision = '0005_access_review_campaigns'
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    with op.batch_alter_table('recorded_commands', schema=None) as batch_op:
        batch_op.create_index('ix_recorded_commands_text_trgm', ['text'], unique=False, postgresql_using='gin', postgresql_ops={'text': 'gin_trgm_ops'})


def downgrade() -> None:
    with op.batch_alter_table('recorded_commands', schema=None) as batch_op:
        batch_op.drop_index('ix_recorded_commands_text_trgm', postgresql_using='gin', postgresql_ops={'text': 'gin_trgm_ops'})
    # The extension stays: other objects may use it by now.
