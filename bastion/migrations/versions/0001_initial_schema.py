"""Initial schema: inventory, people, contracts, access, sessions, recordings, audit.

Revision ID: 0001
Revises: 
Create Date: 2026-11-24 04:42:19.288443
"""

import sqlalchemy as sa
from alembic import op

import bastion.models.base

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('audit_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', bastion.models.base.UTCDateTime(), nullable=False),
    sa.Column('actor', sa.String(length=100), nullable=False),
    sa.Column('actor_role', sa.String(length=32), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('vendor', sa.String(length=64), nullable=True),
    sa.Column('technician', sa.String(length=64), nullable=True),
    sa.Column('target', sa.String(length=100), nullable=True),
    sa.Column('account', sa.String(length=64), nullable=True),
    sa.Column('session_id', sa.Integer(), nullable=True),
    sa.Column('request_id', sa.Integer(), nullable=True),
    sa.Column('grant_id', sa.Integer(), nullable=True),
    sa.Column('reasons', sa.JSON(), nullable=False),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.Column('node', sa.String(length=100), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.Column('message', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_events')),
    sa.UniqueConstraint('hash', name=op.f('uq_audit_events_hash'))
    )
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_events_action'), ['action'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_events_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_events_target'), ['target'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_events_technician'), ['technician'], unique=False)

    op.create_table('staff_users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('full_name', sa.String(length=200), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=True),
    sa.Column('password_hash', sa.String(length=200), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('language', sa.String(length=8), nullable=False),
    sa.Column('time_zone', sa.String(length=64), nullable=False),
    sa.Column('failed_sign_ins', sa.Integer(), nullable=False),
    sa.Column('locked_until', bastion.models.base.UTCDateTime(), nullable=True),
    sa.Column('created_at', bastion.models.base.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_users')),
    sa.UniqueConstraint('username', name=op.f('uq_staff_users_username'))
    )
    op.create_table('targets',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('host', sa.String(length=255), nullable=False),
    sa.Column('port', sa.Integer(), nullable=False),
    sa.Column('host_key', sa.Text(), nullable=False),
    sa.Column('labels', sa.JSON(), nullable=False),
    sa.Column('data_categories', sa.JSON(), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('created_at', bastion.models.base.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_targets')),
    sa.UniqueConstraint('name', name=op.f('uq_targets_name'))
    )
    op.create_table('vendors',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('slug', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('created_at', bastion.models.base.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_vendors')),
    sa.UniqueConstraint('slug', name=op.f('uq_vendors_slug'))
    )
    op.create_table('contract_versions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('vendor_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('reference', sa.String(length=200), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('source_name', sa.String(length=255), nullable=False),
    sa.Column('source_text', sa.Text(), nullable=False),
    sa.Column('document', sa.JSON(), nullable=False),
    sa.Column('is_current', sa.Boolean(), nullable=False),
    sa.Column('loaded_at', bastion.models.base.UTCDateTime(), nullable=False),
    sa.Column('loaded_by', sa.String(length=100), nullable=False),
    sa.ForeignKeyConstraint(['vendor_id'], ['vendors.id'], name=op.f('fk_contract_versions_vendor_id_vendors')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contract_versions')),
    sa.UniqueConstraint('vendor_id', 'content_hash', name=op.f('uq_contract_versions_vendor_id'))
    )
    op.create_table('staff_roles',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('staff_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['staff_id'], ['staff_users.id'], name=op.f('fk_staff_roles_staff_id_staff_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_roles')),
    sa.UniqueConstraint('staff_id', 'role', name=op.f('uq_staff_roles_staff_id'))
    )
    op.create_table('target_accounts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('target_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('auth_method', sa.String(length=32), nullable=False),
    sa.Column('vault_secret', sa.LargeBinary(), nullable=True),
    sa.ForeignKeyConstraint(['target_id'], ['targets.id'], name=op.f('fk_target_accounts_target_id_targets'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_target_accounts')),
    sa.UniqueConstraint('target_id', 'name', name=op.f('uq_target_accounts_target_id'))
    )
    op.create_table('technicians',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ident', sa.String(length=64), nullable=False),
    sa.Column('vendor_id', sa.Integer(), nullable=False),
    sa.Column('employer', sa.String(length=200), nullable=False),
    sa.Column('full_name', sa.String(length=200), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('valid_until', bastion.models.base.UTCDateTime(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('suspended_reason', sa.Text(), nullable=True),
    sa.Column('password_hash', sa.String(length=200), nullable=True),
    sa.Column('totp_secret_encrypted', sa.LargeBinary(), nullable=True),
    sa.Column('created_at', bastion.models.base.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['vendor_id'], ['vendors.id'], name=op.f('fk_technicians_vendor_id_vendors')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_technicians')),
    sa.UniqueConstraint('ident', name=op.f('uq_technicians_ident'))
    )
    op.create_table('access_requests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('technician_id', sa.Integer(), nullable=False),
    sa.Column('target_id', sa.Integer(), nullable=False),
    sa.Column('account_name', sa.String(length=64), nullable=False),
    sa.Column('window_start', bastion.models.base.UTCDateTime(), nullable=False),
    sa.Column('window_end', bastion.models.base.UTCDateTime(), nullable=False),
    sa.Column('channels', sa.JSON(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('ticket', sa.String(length=100), nullable=True),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('break_glass', sa.Boolean(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('contract_version_id', sa.Integer(), nullable=True),
    sa.Column('verdict', sa.JSON(), nullable=False),
    sa.Column('approvals_required', sa.Integer(), nullable=False),
    sa.Column('declared_by_staff_id', sa.Integer(), nullable=True),
    sa.Column('expires_at', bastion.models.base.UTCDateTime(), nullable=True),
    sa.Column('decided_at', bastion.models.base.UTCDateTime(), nullable=True),
    sa.Column('created_at', bastion.models.base.UTCDateTime(), nullable=False),
    sa.Column('updated_at', bastion.models.base.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['contract_version_id'], ['contract_versions.id'], name=op.f('fk_access_requests_contract_version_id_contract_versions')),
    sa.ForeignKeyConstraint(['declared_by_staff_id'], ['staff_users.id'], name=op.f('fk_access_requests_declared_by_staff_id_staff_users')),
    sa.ForeignKeyConstraint(['target_id'], ['targets.id'], name=op.f('fk_access_requests_target_id_targets')),
    sa.ForeignKeyConstraint(['technician_id'], ['technicians.id'], name=op.f('fk_access_requests_technician_id_technicians')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_access_requests'))
    )
    op.create_table('technician_keys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('technician_id', sa.Integer(), nullable=False),
    sa.Column('algorithm', sa.String(length=64), nullable=False),
    sa.Column('public_key', sa.Text(), nullable=False),
    sa.Column('fingerprint', sa.String(length=100), nullable=False),
    sa.Column('comment', sa.String(length=200), nullable=True),
    sa.Column('added_at', bastion.models.base.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['technician_id'], ['technicians.id'], name=op.f('fk_technician_keys_technician_id_technicians'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_technician_keys')),
    sa.UniqueConstraint('fingerprint', name=op.f('uq_technician_keys_fingerprint'))
    )
    op.create_table('webauthn_credentials',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('staff_id', sa.Integer(), nullable=True),
    sa.Column('technician_id', sa.Integer(), nullable=True),
    sa.Column('credential_id', sa.LargeBinary(), nullable=False),
    sa.Column('public_key', sa.LargeBinary(), nullable=False),
    sa.Column('sign_count', sa.Integer(), nullable=False),
    sa.Column('transports', sa.JSON(), nullable=False),
    sa.Column('aaguid', sa.String(length=64), nullable=True),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('discoverable', sa.Boolean(), nullable=False),
    sa.Column('created_at', bastion.models.base.UTCDateTime(), nullable=False),
    sa.Column('last_used_at', bastion.models.base.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['staff_id'], ['staff_users.id'], name=op.f('fk_webauthn_credentials_staff_id_staff_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['technician_id'], ['technicians.id'], name=op.f('fk_webauthn_credentials_technician_id_technicians'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webauthn_credentials')),
    sa.UniqueConstraint('credential_id', name=op.f('uq_webauthn_credentials_credential_id'))
    )
    op.create_table('grants',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('request_id', sa.Integer(), nullable=False),
    sa.Column('technician_id', sa.Integer(), nullable=False),
    sa.Column('target_id', sa.Integer(), nullable=False),
    sa.Column('account_name', sa.String(length=64), nullable=False),
    sa.Column('not_before', bastion.models.base.UTCDateTime(), nullable=False),
    sa.Column('not_after', bastion.models.base.UTCDateTime(), nullable=False),
    sa.Column('scope', sa.JSON(), nullable=False),
    sa.Column('contract_version_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('break_glass', sa.Boolean(), nullable=False),
    sa.Column('certificate', sa.Text(), nullable=True),
    sa.Column('revoked_at', bastion.models.base.UTCDateTime(), nullable=True),
    sa.Column('revoked_by', sa.String(length=100), nullable=True),
    sa.Column('revoke_reason', sa.Text(), nullable=True),
    sa.Column('created_at', bastion.models.base.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['contract_version_id'], ['contract_versions.id'], name=op.f('fk_grants_contract_version_id_contract_versions')),
    sa.ForeignKeyConstraint(['request_id'], ['access_requests.id'], name=op.f('fk_grants_request_id_access_requests')),
    sa.ForeignKeyConstraint(['target_id'], ['targets.id'], name=op.f('fk_grants_target_id_targets')),
    sa.ForeignKeyConstraint(['technician_id'], ['technicians.id'], name=op.f('fk_grants_technician_id_technicians')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_grants')),
    sa.UniqueConstraint('request_id', name=op.f('uq_grants_request_id'))
    )
    op.create_table('reviews',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('request_id', sa.Integer(), nullable=False),
    sa.Column('staff_id', sa.Integer(), nullable=False),
    sa.Column('decision', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('credential_id', sa.Integer(), nullable=True),
    sa.Column('challenge_digest', sa.String(length=64), nullable=True),
    sa.Column('created_at', bastion.models.base.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['credential_id'], ['webauthn_credentials.id'], name=op.f('fk_reviews_credential_id_webauthn_credentials')),
    sa.ForeignKeyConstraint(['request_id'], ['access_requests.id'], name=op.f('fk_reviews_request_id_access_requests')),
    sa.ForeignKeyConstraint(['staff_id'], ['staff_users.id'], name=op.f('fk_reviews_staff_id_staff_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reviews')),
    sa.UniqueConstraint('request_id', 'staff_id', name=op.f('uq_reviews_request_id'))
    )
    op.create_table('break_glass_reviews',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('request_id', sa.Integer(), nullable=False),
    sa.Column('grant_id', sa.Integer(), nullable=True),
    sa.Column('justification', sa.Text(), nullable=False),
    sa.Column('opened_at', bastion.models.base.UTCDateTime(), nullable=False),
    sa.Column('deadline', bastion.models.base.UTCDateTime(), nullable=False),
    sa.Column('closed_at', bastion.models.base.UTCDateTime(), nullable=True),
    sa.Column('closed_by_staff_id', sa.Integer(), nullable=True),
    sa.Column('verdict', sa.String(length=16), nullable=True),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['closed_by_staff_id'], ['staff_users.id'], name=op.f('fk_break_glass_reviews_closed_by_staff_id_staff_users')),
    sa.ForeignKeyConstraint(['grant_id'], ['grants.id'], name=op.f('fk_break_glass_reviews_grant_id_grants')),
    sa.ForeignKeyConstraint(['request_id'], ['access_requests.id'], name=op.f('fk_break_glass_reviews_request_id_access_requests')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_break_glass_reviews')),
    sa.UniqueConstraint('request_id', name=op.f('uq_break_glass_reviews_request_id'))
    )
    op.create_table('ssh_sessions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('grant_id', sa.Integer(), nullable=True),
    sa.Column('technician_id', sa.Integer(), nullable=False),
    sa.Column('target_id', sa.Integer(), nullable=False),
    sa.Column('account_name', sa.String(length=64), nullable=False),
    sa.Column('client_address', sa.String(length=64), nullable=True),
    sa.Column('node', sa.String(length=100), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('end_reason', sa.Text(), nullable=True),
    sa.Column('started_at', bastion.models.base.UTCDateTime(), nullable=False),
    sa.Column('ended_at', bastion.models.base.UTCDateTime(), nullable=True),
    sa.Column('terminate_requested_at', bastion.models.base.UTCDateTime(), nullable=True),
    sa.Column('terminate_requested_by', sa.String(length=100), nullable=True),
    sa.Column('terminate_reason', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['grant_id'], ['grants.id'], name=op.f('fk_ssh_sessions_grant_id_grants')),
    sa.ForeignKeyConstraint(['target_id'], ['targets.id'], name=op.f('fk_ssh_sessions_target_id_targets')),
    sa.ForeignKeyConstraint(['technician_id'], ['technicians.id'], name=op.f('fk_ssh_sessions_technician_id_technicians')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ssh_sessions'))
    )
    op.create_table('recordings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=32), nullable=False),
    sa.Column('storage_key', sa.String(length=255), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('chunk_count', sa.Integer(), nullable=False),
    sa.Column('size_bytes', sa.BigInteger(), nullable=False),
    sa.Column('output_bytes', sa.BigInteger(), nullable=False),
    sa.Column('final_hash', sa.String(length=64), nullable=True),
    sa.Column('wrapped_key', sa.LargeBinary(), nullable=False),
    sa.Column('master_key_id', sa.String(length=64), nullable=False),
    sa.Column('legal_hold', sa.Boolean(), nullable=False),
    sa.Column('started_at', bastion.models.base.UTCDateTime(), nullable=False),
    sa.Column('sealed_at', bastion.models.base.UTCDateTime(), nullable=True),
    sa.Column('purged_at', bastion.models.base.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['session_id'], ['ssh_sessions.id'], name=op.f('fk_recordings_session_id_ssh_sessions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recordings')),
    sa.UniqueConstraint('storage_key', name=op.f('uq_recordings_storage_key'))
    )
    op.create_table('recorded_commands',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('recording_id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('offset_seconds', sa.Float(), nullable=False),
    sa.Column('at', bastion.models.base.UTCDateTime(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('exit_status', sa.Integer(), nullable=True),
    sa.Column('created_at', bastion.models.base.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['recording_id'], ['recordings.id'], name=op.f('fk_recorded_commands_recording_id_recordings')),
    sa.ForeignKeyConstraint(['session_id'], ['ssh_sessions.id'], name=op.f('fk_recorded_commands_session_id_ssh_sessions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recorded_commands'))
    )
    with op.batch_alter_table('recorded_commands', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_recorded_commands_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_recorded_commands_recording_id'), ['recording_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_recorded_commands_session_id'), ['session_id'], unique=False)


    _make_audit_log_append_only()


APPEND_ONLY_MESSAGE = "audit_events is append-only: events cannot be changed or deleted"


def _make_audit_log_append_only() -> None:
    """The database itself refuses UPDATE, DELETE (and TRUNCATE) on the audit table, so
    even a bug or a hand-typed SQL statement cannot rewrite history silently."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN RAISE EXCEPTION '{APPEND_ONLY_MESSAGE}'; END $$"
        )
        op.execute(
            "CREATE TRIGGER audit_events_no_change BEFORE UPDATE OR DELETE ON audit_events "
            "FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()"
        )
        op.execute(
            "CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only()"
        )
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_events_no_{verb.lower()} BEFORE {verb} ON audit_events "
                f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY_MESSAGE}'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_truncate ON audit_events")
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_change ON audit_events")
        op.execute("DROP FUNCTION IF EXISTS audit_events_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_delete")

    with op.batch_alter_table('recorded_commands', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_recorded_commands_session_id'))
        batch_op.drop_index(batch_op.f('ix_recorded_commands_recording_id'))
        batch_op.drop_index(batch_op.f('ix_recorded_commands_at'))

    op.drop_table('recorded_commands')
    op.drop_table('recordings')
    op.drop_table('ssh_sessions')
    op.drop_table('break_glass_reviews')
    op.drop_table('reviews')
    op.drop_table('grants')
    op.drop_table('webauthn_credentials')
    op.drop_table('technician_keys')
    op.drop_table('access_requests')
    op.drop_table('technicians')
    op.drop_table('target_accounts')
    op.drop_table('staff_roles')
    op.drop_table('contract_versions')
    op.drop_table('vendors')
    op.drop_table('targets')
    op.drop_table('staff_users')
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_events_technician'))
        batch_op.drop_index(batch_op.f('ix_audit_events_target'))
        batch_op.drop_index(batch_op.f('ix_audit_events_at'))
        batch_op.drop_index(batch_op.f('ix_audit_events_action'))

    op.drop_table('audit_events')
