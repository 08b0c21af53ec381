"""``bastion technicians``: the vendors' technicians (they come from the contracts)."""

from __future__ import annotations

from pathlib import Path

import click
from sqlalchemy import select

from bastion.models import Technician
from bastion.passwords import WeakPasswordError, check_policy, hash_password
from bastion.totp import TotpError, enrol

from .common import CliState, cli_actor, fail, pass_state, read_password


@click.group()
def technicians() -> None:
    """Technicians named in the loaded contracts, and their second factor."""


@technicians.command("list")
@pass_state
def list_(state: CliState) -> None:
    """List technicians with their vendor, keys and second factor."""
    with state.bastion() as core, core.db.session() as session:
        for tech in session.scalars(select(Technician).order_by(Technician.ident)):
            keys = ",".join(sorted({k.algorithm for k in tech.keys})) or "-"
            second = "totp" if tech.totp_secret_encrypted else "-"
            status = "active" if tech.active else f"inactive ({tech.suspended_reason})"
            click.echo(f"{tech.ident:<12} {tech.vendor.slug:<14} keys={keys} "
                       f"second-factor={second} {status}")


@technicians.command("totp-enrol")
@click.argument("ident")
@pass_state
def totp_enrol(state: CliState, ident: str) -> None:
    """Give a technician a one-time-code secret; prints it once, as an otpauth:// URI for
    their authenticator app (replaces any previous one)."""
    with state.bastion() as core:
        try:
            with core.db.session() as session:
                uri = enrol(session, core.audit, core.keys.master_key, ident, cli_actor())
        except TotpError as exc:
            fail(str(exc))
    click.echo(uri)


@technicians.command("set-password")
@click.argument("ident")
@click.option("--password-file", type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="File holding the password (otherwise it is prompted).")
@pass_state
def set_password(state: CliState, ident: str, password_file: Path | None) -> None:
    """Set a technician's password for the vendor pages (their second factor is the
    one-time code: see totp-enrol)."""
    password = read_password(password_file, f"Password for {ident!r}")
    try:
        check_policy(password)
    except WeakPasswordError as exc:
        fail(str(exc))
    with state.bastion() as core, core.db.session() as session:
        tech = session.scalar(select(Technician).where(Technician.ident == ident))
        if tech is None:
            fail(f"unknown technician {ident}")
        tech.password_hash = hash_password(password)
        core.audit.append(session, action="technician.password_set", outcome="ok",
                          actor=cli_actor(), technician=ident, vendor=tech.vendor.slug)
    click.echo(f"password set for {ident}")
