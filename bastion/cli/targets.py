"""``bastion targets``: the DPI servers reachable through the bastion."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from bastion.inventory import (
    InventoryError,
    add_target,
    checked_categories,
    list_targets,
    parse_labels,
    reclassify_target,
    scan_host_key,
)
from bastion.models import DATA_CATEGORIES
from bastion.vault import VaultError
from bastion.vault import set_secret as set_secret_in_vault

from .common import CliState, cli_actor, fail, pass_state


@click.group()
def targets() -> None:
    """Targets: DPI servers, their pinned host keys, labels and data categories."""


@targets.command("add")
@click.argument("name")
@click.option("--host", required=True, help="Host name or address of the target's sshd.")
@click.option("--port", default=22, show_default=True, type=int)
@click.option("--host-key", "host_key_file", type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="File with the target's public host key (e.g. ssh_host_ed25519_key.pub).")
@click.option("--scan", is_flag=True,
              help="Read the host key from the target now (trust on first use: compare the "
                   "printed fingerprint with the server's before relying on it).")
@click.option("--account", "accounts", multiple=True, required=True,
              help="Account the bastion may open on the target (repeat for several).")
@click.option("--label", "labels", multiple=True, help="key=value label (repeat).")
@click.option("--data", "data_categories", multiple=True, type=click.Choice(DATA_CATEGORIES),
              help="Category of patient or staff data the target holds (repeat; required: "
                   "'technical' for a server with no personal data).")
@click.option("--description", help="Free text shown in the console.")
@pass_state
def add(state: CliState, name: str, host: str, port: int, host_key_file: Path | None, scan: bool,
        accounts: tuple[str, ...], labels: tuple[str, ...], data_categories: tuple[str, ...],
        description: str | None) -> None:
    """Add a target with its pinned host key (from a file, or --scan)."""
    if bool(host_key_file) == scan:
        fail("give exactly one of --host-key FILE or --scan")
    try:
        checked_categories(name, list(data_categories))  # before a --scan reaches out
        if host_key_file:
            host_key = host_key_file.read_text(encoding="utf-8").strip()
        else:
            host_key = asyncio.run(scan_host_key(host, port))
        with state.bastion() as core, core.db.session() as session:
            target = add_target(
                session, core.audit, name=name, host=host, port=port, host_key=host_key,
                accounts=list(accounts), labels=parse_labels(list(labels)),
                data_categories=list(data_categories), description=description,
                actor=cli_actor(),
            )
            pinned = target.host_key
    except InventoryError as exc:
        fail(str(exc))
    import asyncssh

    fingerprint = asyncssh.import_public_key(pinned).get_fingerprint("sha256")
    click.echo(f"target {name} added ({host}:{port}), host key pinned: {fingerprint}")


@targets.command("reclassify")
@click.argument("name")
@click.option("--data", "data_categories", multiple=True, required=True,
              type=click.Choice(DATA_CATEGORIES),
              help="Every category the target holds from now on (repeat).")
@click.option("--reason", required=True, help="Why: the ticket and what changed on the server.")
@pass_state
def reclassify(state: CliState, name: str, data_categories: tuple[str, ...], reason: str) -> None:
    """Change the data categories a target holds (audited with the reason). Sessions already
    made keep the categories they were made under."""
    try:
        with state.bastion() as core, core.db.session() as session:
            before, after = reclassify_target(session, core.audit, name=name,
                                              data_categories=list(data_categories),
                                              reason=reason, actor=cli_actor())
    except InventoryError as exc:
        fail(str(exc))
    click.echo(f"target {name} reclassified: {', '.join(before) or 'unclassified'} -> "
               f"{', '.join(after)}")


@targets.command("set-secret")
@click.argument("name")
@click.argument("account")
@click.option("--key-file", type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="Unencrypted OpenSSH private key the target accepts for this account.")
@click.option("--password-file", type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help="File holding the account's password (first line).")
@click.option("--certificate", "use_certificate", is_flag=True,
              help="Go back to the bastion's certificates (clears the stored secret).")
@pass_state
def set_secret(state: CliState, name: str, account: str, key_file: Path | None,
               password_file: Path | None, use_certificate: bool) -> None:
    """For a target that cannot trust the target CA: store the account's key or password,
    sealed with the master key. It is never shown again, to anyone."""
    if sum((key_file is not None, password_file is not None, use_certificate)) != 1:
        fail("give exactly one of --key-file, --password-file or --certificate")
    if key_file is not None:
        method, secret = "vault_key", key_file.read_bytes()
    elif password_file is not None:
        method = "vault_password"
        secret = password_file.read_text(encoding="utf-8").splitlines()[0].encode()
    else:
        method, secret = "certificate", None
    with state.bastion() as core:
        try:
            with core.db.session() as session:
                set_secret_in_vault(session, core.audit, core.keys.master_key, target=name,
                                    account=account, method=method, secret=secret,
                                    actor=cli_actor())
        except VaultError as exc:
            fail(str(exc))
    click.echo(f"{name}/{account}: the bastion now logs in with "
               + {"vault_key": "the stored key", "vault_password": "the stored password",
                  "certificate": "its per-session certificates"}[method])


@targets.command("list")
@pass_state
def list_(state: CliState) -> None:
    """List targets with their accounts, labels and data categories."""
    with state.bastion() as core, core.db.session() as session:
        for target in list_targets(session):
            labels = ",".join(f"{k}={v}" for k, v in sorted(target.labels.items())) or "-"
            click.echo(
                f"{target.name:<16} {target.host}:{target.port:<6} "
                f"accounts={','.join(a.name for a in target.accounts)} labels={labels} "
                f"data={','.join(target.data_categories) or '-'}"
            )
