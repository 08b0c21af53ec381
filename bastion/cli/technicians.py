"""``bastion technicians``: the vendors' technicians (they come from the contracts)."""

from __future__ import annotations

import click
from sqlalchemy import select

from bastion.models import Technician
from bastion.totp import TotpError, enrol

from .common import CliState, cli_actor, fail, pass_state


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
