"""``bastion tokens``: API tokens for integrations (ticketing, monitoring, scripts).

The token is printed once, on standard output alone (so ``$(bastion tokens create ...)``
captures it and nothing else); only its SHA-256 is stored, so a lost token cannot be
shown again: revoke it and create another.
"""

from __future__ import annotations

import click

from bastion.api_tokens import DEFAULT_DAYS, MAX_DAYS, TokenError, create_token, list_tokens, revoke_token

from .common import CliState, cli_actor, clock, fail, pass_state


@click.group()
def tokens() -> None:
    """API tokens: bound to a staff user and their roles, expiring, revocable."""


@tokens.command("create")
@click.argument("name")
@click.option("--staff", "staff_username", required=True,
              help="The staff user the token acts as (with that user's roles).")
@click.option("--expires", "days", type=click.IntRange(1, MAX_DAYS), default=DEFAULT_DAYS,
              show_default=True, help="Days until the token expires.")
@pass_state
def create(state: CliState, name: str, staff_username: str, days: int) -> None:
    """Create a token NAME (say what will use it) and print it, once."""
    with state.bastion() as core:
        try:
            info, token = create_token(core, name=name, staff_username=staff_username, days=days,
                                       actor=cli_actor())
        except TokenError as exc:
            fail(str(exc))
    click.echo(f"token {info.id} ({info.name}) for {info.staff_username}, expires "
               f"{info.expires_at:%Y-%m-%d %H:%M} UTC; it is shown only now:", err=True)
    click.echo(token)


@tokens.command("list")
@click.option("--staff", "staff_username", help="Only this staff user's tokens.")
@pass_state
def list_(state: CliState, staff_username: str | None) -> None:
    """List tokens: id, state, owner, name, expiry, last use."""
    with state.bastion() as core:
        for info in list_tokens(core, staff_username=staff_username):
            used = (f"last used {clock(info.last_used_at, core.settings.web.time_zone)} "
                    f"from {info.last_used_from}"
                    if info.last_used_at else "never used")
            click.echo(f"{info.id:<5} {info.state():<8} {info.hint}...  {info.staff_username:<16} "
                       f"{info.name:<24} expires {info.expires_at:%Y-%m-%d}  {used}")


@tokens.command("revoke")
@click.argument("token_id", type=int)
@click.option("--reason", required=True, help="Why (kept in the audit log).")
@pass_state
def revoke(state: CliState, token_id: int, reason: str) -> None:
    """Revoke token TOKEN_ID at once (its next use is refused)."""
    with state.bastion() as core:
        try:
            info = revoke_token(core, token_id, actor=cli_actor(), reason=reason)
        except TokenError as exc:
            fail(str(exc))
    click.echo(f"token {info.id} ({info.name}) of {info.staff_username} revoked")
