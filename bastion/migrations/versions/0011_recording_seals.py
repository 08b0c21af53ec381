"""recordings.seal_*: each recording's seal signed with the audit signing key, so it
verifies without its audit event (purged) and a key-less rewrite of the catalog fails;
SQLite refuses INSERT OR REPLACE into the audit tables; PostgreSQL lets only the owner of
the audit table (through audit_purge_events(), SECURITY DEFINER) delete purged events.

Revision ID: 0011_recording_seals
Revises: 0010_staff_roles_and_keys
Create Date: 2026-12-03 06:40:00
"""

import sqlalchemy as sa
from alembic import op

import bastion.models.base

revision = '0011_recording_seals'
down_revision = '0010_staff_roles_and_keys'
branch_labels = None
depends_on = None

# Written out here rather than imported: a migration keeps doing what it did when released.
APPEND_ONLY_MESSAGE = "audit_events is append-only: events cannot be changed or deleted"

# A REPLACE deletes the conflicting row and inserts the new one, and SQLite fires no DELETE
# trigger for it (unless recursive_triggers is on): refuse any insert that would collide.
SQLITE_NO_REPLACE = {
    "audit_events_no_replace": (
        "CREATE TRIGGER audit_events_no_replace BEFORE INSERT ON audit_events "
        "WHEN EXISTS (SELECT 1 FROM audit_events WHERE id = NEW.id OR hash = NEW.hash) "
        "BEGIN SELECT RAISE(ABORT, "
        "'audit_events is append-only: events cannot be changed or deleted'); END"
    ),
    "audit_checkpoints_no_replace": (
        "CREATE TRIGGER audit_checkpoints_no_replace BEFORE INSERT ON audit_checkpoints "
        "WHEN EXISTS (SELECT 1 FROM audit_checkpoints WHERE id = NEW.id "
        "OR (kind = NEW.kind AND event_id = NEW.event_id)) "
        "BEGIN SELECT RAISE(ABORT, "
        "'audit_checkpoints is append-only: checkpoints cannot be changed or deleted'); END"
    ),
}

# The purge permit (a transaction-local setting any role can set) now counts only when
# the DELETE runs as the table's owner: inside audit_purge_events(), which runs with its
# owner's rights. An application role that does not own the tables cannot purge alone.
PG_OWNER_ONLY_TRIGGER = (
    "CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger "
    "LANGUAGE plpgsql AS $$ BEGIN "
    "IF TG_OP = 'DELETE' THEN "
    "IF OLD.id <= COALESCE(NULLIF(current_setting('bastion.audit_purge_up_to', true), "
    "'')::bigint, 0) AND current_user = (SELECT pg_get_userbyid(relowner) FROM pg_class "
    "WHERE oid = TG_RELID) THEN RETURN OLD; END IF; "
    "END IF; "
    "RAISE EXCEPTION 'audit_events is append-only: events cannot be changed or deleted'; END $$"
)
PG_PURGE_FUNCTION = (
    "CREATE FUNCTION audit_purge_events(up_to bigint) RETURNS bigint "
    "LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$ "
    "DECLARE purged bigint; BEGIN "
    "IF NOT EXISTS (SELECT 1 FROM audit_checkpoints WHERE kind = 'anchor' "
    "AND event_id = up_to) THEN "
    "RAISE EXCEPTION 'audit purge refused: no signed anchor checkpoint on event %: "
    "purge with bastion audit purge', up_to; END IF; "
    "PERFORM set_config('bastion.audit_purge_up_to', up_to::text, true); "
    "DELETE FROM audit_events WHERE id <= up_to; "
    "GET DIAGNOSTICS purged = ROW_COUNT; "
    "PERFORM set_config('bastion.audit_purge_up_to', '', true); "
    "RETURN purged; END $$"
)
PG_0003_TRIGGER = (
    "CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger "
    "LANGUAGE plpgsql AS $$ BEGIN "
    "IF TG_OP = 'DELETE' THEN "
    "IF OLD.id <= COALESCE(NULLIF(current_setting('bastion.audit_purge_up_to', true), "
    "'')::bigint, 0) THEN RETURN OLD; END IF; "
    "END IF; "
    f"RAISE EXCEPTION '{APPEND_ONLY_MESSAGE}'; END $$"
)


def upgrade() -> None:
    with op.batch_alter_table('recordings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('seal_signed_at', bastion.models.base.UTCDateTime(),
                                      nullable=True))
        batch_op.add_column(sa.Column('seal_key_id', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('seal_signature', sa.String(length=128), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_OWNER_ONLY_TRIGGER)
        op.execute(PG_PURGE_FUNCTION)
    else:
        for sql in SQLITE_NO_REPLACE.values():
            op.execute(sql)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS audit_purge_events(bigint)")
        op.execute(PG_0003_TRIGGER)
    else:
        for name in SQLITE_NO_REPLACE:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    with op.batch_alter_table('recordings', schema=None) as batch_op:
        batch_op.drop_column('seal_signature')
        batch_op.drop_column('seal_key_id')
        batch_op.drop_column('seal_signed_at')
