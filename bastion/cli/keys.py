"""``bastion keys``: the master key's rotation and what it seals."""

from __future__ import annotations

import os

import click

from bastion import master_key_rotation as rotation
from bastion.context import Bastion

from .common import CliState, cli_actor, fail, pass_state

NODES_NOTE = (
    "Every node reads master.key from its own keys folder, and the SSH proxy loads it once "
    "at start (for vaulted target secrets): after a rotation, copy the new master.key to "
    "every node's keys folder, then restart every node."
)


def finish_interrupted_rotation(core: Bastion) -> bool:
    """For start-up (init, serve) and rotate-master: finish or undo a rotation a crash cut
    short, saying so in one line; stop with one line if neither key opens the data.
    True when it finished one (the database now uses the new key)."""
    try:
        outcome = rotation.recover(core)
    except rotation.RotationError as exc:
        fail(f"master key: {exc}")
    if outcome is None:
        return False
    click.echo(outcome.message, err=True)
    return outcome.completed


@click.group()
def keys() -> None:
    """The master key: its rotation and what it seals."""


@keys.command("rotate-master", epilog=NODES_NOTE)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_state
def rotate_master(state: CliState, yes: bool) -> None:
    """Replace the master key with a new one and re-seal, in one database transaction,
    every recording key, vaulted target secret and TOTP secret it seals.

    The old key is kept as master.key.retired-<id> (0600): database backups taken before
    now still need it. Stop 'bastion serve' on every node first, so that no node seals
    anything with the old key meanwhile; run it on one node only.
    """
    if not yes:
        if not os.isatty(0):
            fail("no terminal to confirm on: give --yes")
        click.confirm("Rotate the master key now?", abort=True)
    with state.bastion() as core:
        if finish_interrupted_rotation(core):
            return  # that interrupted rotation was this one: the key is new already
        try:
            result = rotation.rotate(core, cli_actor())
        except rotation.RotationError as exc:
            fail(f"master key: {exc}")
    click.echo(f"master key rotated: {result.old_key_id} -> {result.new_key_id}")
    click.echo(f"re-sealed: {result.counts.describe()}"
               + (f" ({result.from_retired_keys} under a retired key)" if result.from_retired_keys
                  else ""))
    if result.retired_file is not None:
        click.echo(f"old key kept as {result.retired_file} (needed to restore older backups)")
    click.echo(NODES_NOTE)


@keys.command("status", epilog=NODES_NOTE)
@pass_state
def status(state: CliState) -> None:
    """Show the master key's id and, for each key id, how many values it seals."""
    with state.bastion() as core:
        try:
            current = rotation.status(core)
        except rotation.RotationError as exc:
            fail(f"master key: {exc}")
    click.echo(f"master key: {current.current_id}")
    if current.retired_ids:
        click.echo(f"retired keys kept: {', '.join(current.retired_ids)}")
    for usage in current.usage:
        name = "opened by no key here" if usage.role == "none" else f"{usage.key_id} ({usage.role})"
        click.echo(f"sealed by {name}: {usage.counts.describe()}")
    if current.pending:
        click.echo("warning: master.key.next is pending (an interrupted rotation): "
                   "'bastion keys rotate-master' or the next 'bastion serve' finishes or undoes it")
    if current.stale.total:
        click.echo(f"warning: {current.stale.total} value(s) are not sealed by the current key: "
                   "'bastion keys rotate-master' re-seals those a retired key opens")
