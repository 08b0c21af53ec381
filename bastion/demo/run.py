"""Start the demo: initialise ./var, start a demo target, load demo data, serve."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import click

from bastion.context import Bastion
from bastion.contracts import load_contracts
from bastion.server import serve

from . import setup
from .builtin_target import start_builtin_target
from .sshd_target import (
    account_creation_warning,
    ensure_accounts,
    find_sshd,
    may_create_accounts,
    missing_accounts,
    start_sshd,
)

DEMO_TARGET_PORT = 2022


def _free(port: int) -> int:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
            return port
        except OSError:
            probe.bind(("127.0.0.1", 0))
            return probe.getsockname()[1]


def prepare(core: Bastion) -> setup.DemoAccounts:
    settings = core.settings
    core.keys.ensure()
    core.keys.publish(settings.public_dir)
    core.db.upgrade()
    folder = settings.var_dir / "demo"
    folder.mkdir(parents=True, exist_ok=True)
    passwords = setup.demo_passwords(folder)
    links = setup.ensure_staff(core, passwords)
    return setup.DemoAccounts(passwords, setup.technician_key(folder), folder / "known_hosts",
                              enrolment_links=links)


def secret_from(uri: str) -> str:
    return parse_qs(urlparse(uri).query)["secret"][0]


def print_next_steps(core: Bastion, accounts: setup.DemoAccounts, ssh_port: int,
                     web_port: int, target_kind: str) -> None:
    host_key = core.keys.public_line("ssh_host_ed25519_key")
    accounts.known_hosts.write_text(f"[127.0.0.1]:{ssh_port} {host_key}\n")
    key = os.path.relpath(accounts.technician_key)
    known = os.path.relpath(accounts.known_hosts)
    lines = [
        "",
        "The bastion is running (Ctrl-C stops it).",
        f"  demo target: {target_kind} on 127.0.0.1, behind targets dpi-app-01, dpi-db-01, pacs-01",
        "",
        "As the vendor technician Jean Dupont (Médilogic), connect with:",
        f"  ssh -i {key} -o UserKnownHostsFile={known} -p {ssh_port} "
        f"jdupont+dpi-app-01@127.0.0.1",
        "His second factor is a one-time code: add this to an authenticator app",
        f"  {accounts.totp_uri}",
        f"  (or: oathtool --totp -b {secret_from(accounts.totp_uri)})",
        "",
        f"Console: {core.settings.web.public_url}  (port {web_port})",
    ]
    for username, password in accounts.passwords.items():
        lines.append(f"  {username:<13} password {password}")
    if accounts.enrolment_links:
        lines.append("First open each account's one-time enrolment link, then sign in and "
                     "register a security key:")
        for username, link in accounts.enrolment_links.items():
            lines.append(f"  {username:<13} {link}")
    lines += ["", "Contracts loaded from var/demo/contracts (copies of contracts/examples).", ""]
    click.echo("\n".join(lines))


def _accounts_agreed() -> bool:
    missing = missing_accounts()
    if missing:
        click.echo(account_creation_warning(missing), err=True)
    return may_create_accounts(missing, setting=os.environ.get("BASTION_DEMO_ACCOUNTS"),
                               interactive=sys.stdin.isatty(), ask=input)


async def run_demo(core: Bastion, app_factory) -> None:  # type: ignore[no-untyped-def]
    accounts = prepare(core)
    folder = core.settings.var_dir / "demo"
    port = _free(DEMO_TARGET_PORT)
    trusted_ca = core.settings.public_dir / "target_ca.pub"
    process = server = None
    if find_sshd() and os.geteuid() == 0 and _accounts_agreed():
        ensure_accounts()
        process, host_key_file = start_sshd(folder / "target", port, trusted_ca)
        kind = "OpenSSH sshd"
    else:
        server, host_key_file = await start_builtin_target(folder / "target", port, trusted_ca)
        kind = "built-in asyncssh target (no OpenSSH sshd, not root, or demo accounts declined)"
    try:
        host_key = " ".join(Path(host_key_file).read_text().split()[:2])
        await asyncio.to_thread(setup.ensure_targets, core, "127.0.0.1", port, host_key)
        paths = setup.demo_contracts(folder, accounts.technician_key)
        report = await asyncio.to_thread(load_contracts, core, paths, setup.DEMO_ACTOR)
        if not report.ok:
            raise click.ClickException("the demo contracts do not load: "
                                       + "; ".join(str(p) for p in report.problems))
        accounts.totp_uri = await asyncio.to_thread(setup.technician_totp, core, folder)
        await serve(core, app_factory, ready=lambda ssh_port, web_port: print_next_steps(
            core, accounts, ssh_port, web_port, kind), demo=True)
    finally:
        if process is not None:
            process.terminate()
        if server is not None:
            server.close()
