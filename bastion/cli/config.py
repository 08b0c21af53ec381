"""``bastion config check``: can this node start with this configuration?

Everything `serve` would trip over, found before a maintenance window rather than during
one: the file and environment parse, the database answers with the current schema, every
key is readable, the listening ports are free, and settings that weaken the product are
named. One line per finding; exit 1 when anything would stop the node.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path

import click

from bastion.config import ConfigError, Settings, load_settings
from bastion.db import Database, DatabaseError
from bastion.keys import KeyStore, KeyStoreError
from bastion.models import utcnow

from .common import CliState, pass_state


@dataclass(frozen=True)
class Finding:
    level: str  # "ok", "warning" or "error"
    subject: str
    text: str

    def line(self) -> str:
        return f"{self.level:<7} {self.subject}: {self.text}"


def _port_free(host: str, port: int) -> str | None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.create_server((host, port), family=family):
            return None
    except OSError as exc:
        return exc.strerror or str(exc)


def _weakening_settings(settings: Settings) -> list[Finding]:
    findings = []
    web = settings.web
    if web.public_url.startswith("https://") and not web.secure_cookies:
        findings.append(Finding("warning", "web", "public_url is https but secure_cookies is "
                                "false: session cookies would also travel over plain HTTP"))
    if web.public_url.startswith("http://") and not web.public_url.startswith(
            ("http://localhost", "http://127.0.0.1")):
        findings.append(Finding("warning", "web", f"public_url {web.public_url} is not https: "
                                "put the console behind TLS (deploy/nginx/bastion.conf)"))
    ssh = settings.ssh
    if ssh.second_factor == "off" and ssh.second_factor_off_until is not None:
        state = (f"until {ssh.second_factor_off_until}" if utcnow().date() <= ssh.second_factor_off_until
                 else f"expired on {ssh.second_factor_off_until}: the second factor is required again")
        findings.append(Finding("warning", "ssh", "second_factor = off: technicians sign in "
                                "with one factor (ANS rules require two since 2026), as an "
                                f"exception ({ssh.second_factor_off_reason}) {state}"))
    if settings.database_url.startswith("sqlite"):
        findings.append(Finding("warning", "database", "SQLite is for the demo and one node; "
                                "use PostgreSQL in production"))
    return findings + _directory_findings(settings)


def _directory_findings(settings: Settings) -> list[Finding]:
    """The hospital directory's sign-in: answers, and is it re-checked?"""
    if settings.ldap.url is None:
        return []
    # Imported here: ldap3 is only read when a directory is configured.
    from bastion.approvals import ApprovalError
    from bastion.directory import LdapDirectory

    findings = []
    try:
        directory = LdapDirectory(settings)
        if directory.can_look_up:
            directory.lookup("bastion-config-check")  # any answer shows bind and search work
            findings.append(Finding("ok", "ldap", f"{settings.ldap.url} answers the service "
                                    "account's search"))
        else:
            findings.append(Finding("warning", "ldap", "no bind_dn: accounts the directory "
                                    "disables are refused at their next sign-in, but their "
                                    "open console sessions are not ended (the periodic check "
                                    "needs a service account)"))
    except ApprovalError as error:
        findings.append(Finding("error", "ldap", f"{error.message} ({'; '.join(error.reasons)})"))
    return findings


def _database_findings(settings: Settings) -> list[Finding]:
    url = settings.database_url
    if url.startswith("sqlite:///"):
        # Opening it would create an empty file: a check changes nothing.
        sqlite_file = Path(url.split("///", 1)[1])
        if not sqlite_file.exists():
            return [Finding("error", "database",
                            f"database file {sqlite_file} does not exist: run 'bastion init'")]
    database = Database(url)
    try:
        database.require_current_schema()
        return [Finding("ok", "database",
                        f"{database.safe_url}, schema current ({database.current_revision()})")]
    except DatabaseError as exc:
        return [Finding("error", "database", str(exc))]
    finally:
        database.dispose()


def _key_findings(settings: Settings) -> list[Finding]:
    keys = KeyStore(settings.keys_dir)
    try:
        keys.master_key  # noqa: B018 - reading them is the check
        keys.audit_signing_key_pem()
        keys.host_key  # noqa: B018
    except KeyStoreError as exc:
        return [Finding("error", "keys", str(exc))]
    return [Finding("ok", "keys", f"readable in {settings.keys_dir}")]


def check_configuration(settings: Settings, *, ports: bool = True) -> list[Finding]:
    findings = [Finding("ok", "node", f"name {settings.node.name or socket.gethostname()}")]
    findings += _database_findings(settings) + _key_findings(settings)
    if ports:
        for section, host, port in (("ssh", settings.ssh.listen_host, settings.ssh.listen_port),
                                    ("web", settings.web.listen_host, settings.web.listen_port)):
            problem = _port_free(host, port)
            if problem:
                findings.append(Finding("error", section, f"cannot listen on {host}:{port}: "
                                        f"{problem}; change [{section}] listen_port or stop "
                                        "what holds it"))
            else:
                findings.append(Finding("ok", section, f"{host}:{port} is free"))
    return findings + _weakening_settings(settings)


@click.group()
def config() -> None:
    """Check the configuration before starting a node."""


@config.command("check")
@click.option("--no-ports", is_flag=True,
              help="Do not try the listening ports (e.g. while the node is running).")
@pass_state
def check(state: CliState, no_ports: bool) -> None:
    """Parse the configuration, reach the database, read the keys, try the ports."""
    try:
        settings = load_settings(state.config_path)
    except ConfigError as exc:
        click.echo(f"error   configuration: {exc}")
        raise SystemExit(1) from None
    source = state.config_path or "bastion.toml if present, defaults and BASTION_* variables"
    click.echo(f"ok      configuration: {source}")
    findings = check_configuration(settings, ports=not no_ports)
    for finding in findings:
        click.echo(finding.line())
    errors = sum(f.level == "error" for f in findings)
    warnings = sum(f.level == "warning" for f in findings)
    click.echo(f"{errors} error(s), {warnings} warning(s)")
    if errors:
        raise SystemExit(1)
