"""``bastion init``: create or upgrade the database, keys and the first admin."""

from __future__ import annotations

from pathlib import Path

import click
from sqlalchemy import select

from bastion.approvals import link_url
from bastion.models import StaffRole
from bastion.passwords import WeakPasswordError
from bastion.staff import StaffError, add_staff_locally
from bastion.trace_sealing import seal_plaintext_commands

from .common import CliState, cli_actor, fail, pass_state, read_password
from .keys import finish_interrupted_rotation


@click.command()
@click.option("--admin", "admin_username", default="admin", show_default=True,
              help="User name of the first admin (created only if no admin exists).")
@click.option("--admin-name", default="Administrateur", show_default=True,
              help="Full name of the first admin.")
@click.option("--password-file", type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="File holding the first admin's password (otherwise it is prompted).")
@pass_state
def init(state: CliState, admin_username: str, admin_name: str,
         password_file: Path | None) -> None:
    """Create the database, the SSH host key, the two CAs, the master key and the first admin.

    Safe to run again: existing keys and data are kept, and an older database is
    upgraded to this release's schema.
    """
    settings = state.settings
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    settings.recordings_dir.mkdir(parents=True, exist_ok=True)
    with state.bastion(require_schema=False) as core:
        created = core.keys.ensure()
        core.keys.publish(settings.public_dir)
        before = core.db.current_revision()
        core.db.upgrade()
        after = core.db.current_revision()
        # After the upgrade: the recovery reads tables this release's models describe.
        finish_interrupted_rotation(core)
        with core.db.session() as session:
            # Command index rows from before sealing (issue 18): sealed now, with the key.
            sealed = seal_plaintext_commands(session, core.traces)
        with core.db.session() as session:
            has_admin = session.scalar(select(StaffRole).where(StaffRole.role == "admin").limit(1))
            core.audit.append(
                session,
                action="bastion.initialised",
                outcome="ok",
                actor=cli_actor(bootstrap=not has_admin),
                details={"keys_created": created, "schema_from": before, "schema_to": after,
                         "commands_sealed": sealed},
            )
        if not has_admin:
            password = read_password(password_file, f"Password for the first admin {admin_username!r}")
            try:
                # The first admin needs no second person (there is nobody yet).
                _, token = add_staff_locally(core, username=admin_username, full_name=admin_name,
                                             roles=["admin"], password=password,
                                             actor=cli_actor(bootstrap=True))
            except (StaffError, WeakPasswordError) as exc:
                fail(str(exc))
        click.echo(f"database: {core.db.safe_url} (schema {after}"
                   + (f", upgraded from {before})" if before and before != after else ")"))
        if sealed:
            click.echo(f"command index: {sealed} command(s) from before this release sealed")
        click.echo(f"keys: {settings.keys_dir} ("
                   + (f"created {', '.join(created)}" if created else "all kept") + ")")
        click.echo(f"target CA (put in each target's TrustedUserCAKeys): "
                   f"{settings.public_dir / 'target_ca.pub'}")
        if not has_admin:
            click.echo(f"first admin: {admin_username}")
            click.echo(f"one-time enrolment link for their security key: {link_url(core, token)}")
