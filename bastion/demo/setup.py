"""Demo data in ./var: staff accounts, the three example targets, the example contracts
with a generated key for the demo technician, all idempotent (``make demo`` twice is fine)."""

from __future__ import annotations

import secrets
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from sqlalchemy import select

from bastion import totp
from bastion.approvals import issue_link, link_url
from bastion.audit import Actor
from bastion.context import Bastion
from bastion.inventory import add_target
from bastion.models import StaffUser, Target, utcnow
from bastion.staff import add_staff

DEMO_ACTOR = Actor("demo:setup", "admin")
DEMO_TECHNICIAN = "jdupont"
DEMO_VENDOR = "medilogic"  # his employer's contract: contracts/examples/dpi-editor.yaml
EXAMPLES = Path(__file__).resolve().parents[2] / "contracts" / "examples"

# name, labels, data categories, accounts: the inventory the example contracts speak of.
DEMO_TARGETS = (
    ("dpi-app-01", {"role": "app", "env": "prod"}, ["administrative", "technical"],
     ["maint", "appadmin"]),
    ("dpi-db-01", {"role": "db", "env": "prod"}, ["administrative", "ins", "health"],
     ["dbmaint"]),
    ("pacs-01", {"role": "pacs", "env": "prod"}, ["technical", "documents"], ["pacsmaint"]),
)
# Addresses in a reserved domain (RFC 2606): the demo's mail sink keeps what is sent to them.
DEMO_MAIL_DOMAIN = "chu-demo.example"
DEMO_STAFF = (
    ("admin", "Administrateur démo", ["admin"]),
    ("approbateur", "Approbatrice démo", ["approver"]),
    ("approbateur2", "Second approbateur démo", ["approver"]),
    ("dpo", "Déléguée à la protection des données (démo)", ["dpo"]),
)


def demo_email(username: str) -> str:
    return f"{username}@{DEMO_MAIL_DOMAIN}"


@dataclass
class DemoAccounts:
    passwords: dict[str, str]
    technician_key: Path
    known_hosts: Path
    totp_uri: str = ""
    enrolment_links: dict[str, str] = field(default_factory=dict)


def demo_passwords(folder: Path) -> dict[str, str]:
    """Random per installation, kept in var/demo so a second `make demo` shows the same."""
    path = folder / "passwords.yaml"
    if path.exists():
        return yaml.safe_load(path.read_text())
    passwords = {name: secrets.token_urlsafe(12) for name, _, _ in DEMO_STAFF}
    path.write_text(yaml.safe_dump(passwords))
    path.chmod(0o600)
    return passwords


def ensure_staff(core: Bastion, passwords: dict[str, str]) -> dict[str, str]:
    """Create the demo staff (a local operator's accounts: roles at once) and return a
    one-time enrolment link for each account that holds no usable security key yet."""
    links: dict[str, str] = {}
    with core.db.session() as session:
        existing = {user.username: user for user in session.scalars(select(StaffUser))}
        for username, full_name, roles in DEMO_STAFF:
            user = existing.get(username) or add_staff(
                session, core.audit, username=username, full_name=full_name, roles=roles,
                password=passwords[username], email=demo_email(username), actor=DEMO_ACTOR)
            if not user.email:
                # A ./var made by an older demo: its accounts had no address to be told at.
                user.email = demo_email(username)
                core.audit.append(session, action="staff.email_set", outcome="ok",
                                  actor=DEMO_ACTOR, details={"staff": username,
                                                             "email": user.email})
            if not user.usable_credentials:
                links[username] = link_url(core, issue_link(session, core, user, actor=DEMO_ACTOR,
                                                            now=utcnow()))
    return links


def ensure_targets(core: Bastion, host: str, port: int, host_key: str) -> None:
    with core.db.session() as session:
        existing = {t.name: t for t in session.scalars(select(Target))}
        for name, labels, categories, accounts in DEMO_TARGETS:
            if name in existing:
                # The demo target gets a new port or key when it is re-created: follow it.
                existing[name].port, existing[name].host_key = port, host_key
                continue
            add_target(session, core.audit, name=name, host=host, port=port, host_key=host_key,
                       accounts=accounts, labels=labels, data_categories=categories,
                       description="demo target", actor=DEMO_ACTOR)


def technician_totp(core: Bastion, folder: Path) -> str:
    """The demo technician's one-time-code secret (the second factor the ANS rules demand),
    enrolled once and kept in var/demo so a second `make demo` shows the same."""
    path = folder / f"{DEMO_TECHNICIAN}-totp.txt"
    if path.exists():
        return path.read_text().strip()
    with core.db.session() as session:
        uri = totp.enrol(session, core.audit, core.keys.master_key, DEMO_TECHNICIAN, DEMO_ACTOR)
    path.write_text(uri + "\n")
    path.chmod(0o600)
    return uri


def technician_key(folder: Path) -> Path:
    key = folder / f"{DEMO_TECHNICIAN}_ed25519"
    if not key.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C",
                        f"{DEMO_TECHNICIAN}@demo", "-f", str(key)], check=True)
    return key


def open_at_all_hours(document: dict) -> None:
    """Replace a contract document's maintenance windows by one open every day, all day."""
    document.setdefault("scope", {})["windows"] = [
        {"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "start": "00:00", "end": "24:00"}]


def demo_contracts(folder: Path, key: Path) -> list[Path]:
    """The example contracts, with the demo technician's key in place of the example one
    and maintenance windows open at all hours, so the demo works whenever it is run."""
    out = folder / "contracts"
    out.mkdir(exist_ok=True)
    public = key.with_suffix(".pub") if key.suffix else Path(f"{key}.pub")
    paths = []
    for example in sorted(EXAMPLES.glob("*.yaml")):
        document = yaml.safe_load(example.read_text())
        for technician in document.get("technicians", []):
            if technician["id"] == DEMO_TECHNICIAN:
                technician["keys"] = [public.read_text().strip()]
        open_at_all_hours(document)
        path = out / example.name
        path.write_text("# Demo copy of contracts/examples/" + example.name + "\n"
                        + yaml.safe_dump(document, allow_unicode=True, sort_keys=False))
        paths.append(path)
    return paths
