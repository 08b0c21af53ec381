"""Start the demo: initialise ./var, start a demo target, load demo data, serve."""

from __future__ import annotations

import asyncio
import os
import shlex
import socket
import sys
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING
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
    free_port,
    may_create_accounts,
    missing_accounts,
    start_sshd,
)
from .target_files import DemoFolder, contract_folders, missing_folders, prepare_folders

if TYPE_CHECKING:
    from .mail_sink import MailSink

DEMO_TARGET_PORT = 2022
DEMO_MAIL_PORT = 2525
# The console shows the sink's Maildir on a page that exists only when this is set.
MAILBOX_CONFIG_KEY = "BASTION_DEMO_MAILBOX"


def _free(port: int) -> int:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
            return port
        except OSError:
            return free_port()


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


def _transfer_lines(ssh_options: list[str], ssh_port: int, folders: list[DemoFolder]) -> list[str]:
    """The walkthrough's two scp commands: a sample the contract allows, then one it excludes."""
    allowed = next((f for f in folders if f.allowed), None)
    denied = next((f for f in folders if not f.allowed), None)
    if allowed is None:
        return []
    route = f"{setup.DEMO_TECHNICIAN}+dpi-app-01@127.0.0.1"
    scp = ["scp", *ssh_options, "-P", str(ssh_port)]
    lines = [
        "Once access is open (approved in the console, or at once with URGENCE), copy a file the",
        "contract allows, then one it excludes (each connection asks for a one-time code; a code",
        "is accepted once, so wait for the next one):",
        "  " + shlex.join([*scp, f"{route}:{allowed.sample}", "."]),
    ]
    if denied is not None:
        lines += ["  " + shlex.join([*scp, f"{route}:{denied.sample}", "."]),
                  f"  (refused in one line: contract {denied.contract} excludes {denied.pattern})"]
    return lines


def _mail_lines(core: Bastion, sink: MailSink | None) -> list[str]:
    if sink is None:
        smtp = core.settings.smtp
        return [f"E-mails go to the configured SMTP server {smtp.host}:{smtp.port}."]
    return [
        f"E-mails (approval requests, break-glass alerts) go to a local mail sink on "
        f"127.0.0.1:{sink.port}, kept in",
        f"{os.path.relpath(sink.maildir)} and shown on the console's demo mailbox page:",
        f"  {core.settings.web.public_url}/demo/mailbox",
    ]


def print_next_steps(core: Bastion, accounts: setup.DemoAccounts, ssh_port: int,
                     web_port: int, target_kind: str, *, folders: list[DemoFolder] | None = None,
                     sink: MailSink | None = None) -> None:
    host_key = core.keys.public_line("ssh_host_ed25519_key")
    accounts.known_hosts.write_text(f"[127.0.0.1]:{ssh_port} {host_key}\n")
    key = os.path.relpath(accounts.technician_key)
    known = os.path.relpath(accounts.known_hosts)
    options = ["-i", key, "-o", f"UserKnownHostsFile={known}"]
    lines = [
        "",
        "The bastion is running (Ctrl-C stops it).",
        f"  demo target: {target_kind} on 127.0.0.1, behind targets dpi-app-01, dpi-db-01, pacs-01",
        "",
        "As the vendor technician Jean Dupont (Médilogic), connect with:",
        "  " + shlex.join(["ssh", *options, "-p", str(ssh_port),
                          f"{setup.DEMO_TECHNICIAN}+dpi-app-01@127.0.0.1"]),
        "His second factor is a one-time code: add this to an authenticator app",
        f"  {accounts.totp_uri}",
        f"  (or: oathtool --totp -b {secret_from(accounts.totp_uri)})",
        "",
        *_transfer_lines(options, ssh_port, [f for f in folders or [] if f.vendor == setup.DEMO_VENDOR]),
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
    lines += ["", *_mail_lines(core, sink), "",
              "Contracts loaded from var/demo/contracts (copies of contracts/examples).", ""]
    click.echo("\n".join(lines))


def _machine_changes_agreed(folders: list[DemoFolder]) -> bool:
    setting = os.environ.get("BASTION_DEMO_ACCOUNTS")
    if setting is not None and setting.strip().lower() in ("no", "n", "0", "false"):
        return False  # the built-in target, as the warning offers, even with nothing to create
    missing, new_folders = missing_accounts(), missing_folders(folders)
    if missing or new_folders:
        click.echo(account_creation_warning(missing, new_folders), err=True)
    return may_create_accounts(missing + new_folders,
                               setting=setting,
                               interactive=sys.stdin.isatty(), ask=input)


def _start_mail_sink(core: Bastion, folder: Path) -> MailSink | None:
    """Unless the demo was given an SMTP server, mail goes to a local sink: approvers and the
    DPO then see their alerts on the console, and break-glass has a channel that works."""
    if core.settings.smtp.host:
        return None
    try:
        from .mail_sink import start_mail_sink
    except ImportError:  # aiosmtpd is the [demo] extra's
        raise click.ClickException(
            "the demo's mail server needs aiosmtpd: pip install 'dpi-bastion[demo]' (make demo "
            "installs it), or set [smtp] host to a mail server") from None
    sink = start_mail_sink(folder / "mailbox", _free(DEMO_MAIL_PORT))
    core.settings = core.settings.with_changes(
        "smtp", host="127.0.0.1", port=sink.port, starttls=False, username=None,
        sender=f"bastion@{setup.DEMO_MAIL_DOMAIN}")
    return sink


async def run_demo(core: Bastion, app_factory) -> None:  # type: ignore[no-untyped-def]
    accounts = prepare(core)
    folder = core.settings.var_dir / "demo"
    contract_paths = setup.demo_contracts(folder, accounts.technician_key)
    folders = contract_folders(contract_paths)
    port = _free(DEMO_TARGET_PORT)
    trusted_ca = core.settings.public_dir / "target_ca.pub"
    process = server = sink = None
    if find_sshd() and os.geteuid() == 0 and _machine_changes_agreed(folders):
        ensure_accounts()
        folders = prepare_folders(folders, as_accounts=True)
        process, host_key_file, port = start_sshd(folder / "target", port, trusted_ca)
        kind = "OpenSSH sshd"
    else:
        files = folder / "target" / "files"
        folders = prepare_folders(folders, root=files, as_accounts=False)
        server, host_key_file = await start_builtin_target(folder / "target", port, trusted_ca,
                                                           files)
        kind = ("built-in asyncssh target (no OpenSSH sshd, not root, or demo accounts "
                f"declined); its SFTP shows {os.path.relpath(files)} as /")
    try:
        sink = await asyncio.to_thread(_start_mail_sink, core, folder)
        if sink is not None:
            app_factory = partial(app_factory, config={MAILBOX_CONFIG_KEY: str(sink.maildir)})
        host_key = " ".join(Path(host_key_file).read_text().split()[:2])
        await asyncio.to_thread(setup.ensure_targets, core, "127.0.0.1", port, host_key)
        report = await asyncio.to_thread(load_contracts, core, contract_paths, setup.DEMO_ACTOR)
        if not report.ok:
            raise click.ClickException("the demo contracts do not load: "
                                       + "; ".join(str(p) for p in report.problems))
        accounts.totp_uri = await asyncio.to_thread(setup.technician_totp, core, folder)
        await serve(core, app_factory, ready=lambda ssh_port, web_port: print_next_steps(
            core, accounts, ssh_port, web_port, kind, folders=folders, sink=sink), demo=True)
    finally:
        if process is not None:
            process.terminate()
        if server is not None:
            server.close()
        if sink is not None:
            sink.stop()
