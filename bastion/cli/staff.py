"""``bastion staff``: hospital staff accounts."""

from __future__ import annotations

from pathlib import Path

import click
from sqlalchemy import select

from bastion.approvals import issue_link, link_url
from bastion.models import STAFF_ROLES, StaffUser, utcnow
from bastion.passwords import WeakPasswordError
from bastion.staff import StaffError, add_staff_locally

from .common import CliState, cli_actor, fail, pass_state, read_password


@click.group()
def staff() -> None:
    """Hospital staff: admins, approvers, DPO/auditors."""


@staff.command("add")
@click.argument("username")
@click.option("--name", "full_name", required=True, help="Full name, as shown to colleagues.")
@click.option("--email", help="E-mail address for notifications.")
@click.option("--role", "roles", multiple=True, required=True,
              type=click.Choice(STAFF_ROLES), help="Role (repeat for several).")
@click.option("--password-file", type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="File holding the password (otherwise it is prompted).")
@pass_state
def add(state: CliState, username: str, full_name: str, email: str | None,
        roles: tuple[str, ...], password_file: Path | None) -> None:
    """Add a staff user with one or more roles.

    A local operator needs no second person: the roles apply at once, are audited and
    told to the DPO. The user registers a first security key with the one-time enrolment
    link printed here."""
    password = read_password(password_file, f"Password for {username!r}")
    with state.bastion() as core:
        try:
            _, token = add_staff_locally(core, username=username, full_name=full_name,
                                         roles=list(roles), password=password, email=email,
                                         actor=cli_actor())
        except (StaffError, WeakPasswordError) as exc:
            fail(str(exc))
        url = link_url(core, token)
    click.echo(f"staff user {username} added with role(s) {', '.join(sorted(set(roles)))}")
    click.echo(f"one-time enrolment link for their first security key: {url}")


@staff.command("enrol-link")
@click.argument("username")
@pass_state
def enrol_link(state: CliState, username: str) -> None:
    """Issue a one-time link with which USERNAME registers a security key without holding
    one (first key, or all keys lost, revoked or suspended)."""
    with state.bastion() as core:
        with core.db.session() as session:
            user = session.scalar(select(StaffUser).where(StaffUser.username == username))
            if user is None:
                fail(f"no staff user {username!r}; see: bastion staff list")
            token = issue_link(session, core, user, actor=cli_actor(), now=utcnow())
        url = link_url(core, token)
    click.echo(f"one-time enrolment link for {username} (give it to them only): {url}")


@staff.command("list")
@pass_state
def list_(state: CliState) -> None:
    """List staff users and their roles."""
    with state.bastion() as core, core.db.session() as session:
        for user in session.scalars(select(StaffUser).order_by(StaffUser.username)):
            status = "" if user.active else "  (disabled)"
            click.echo(f"{user.username:<20} {','.join(sorted(user.role_names)):<22} "
                       f"{user.full_name}{status}")
