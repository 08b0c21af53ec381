"""An approvals world: targets, a loaded contract, staff with security keys."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import asyncssh
import pytest
import yaml
from sqlalchemy import select
from webauthn import options_to_json

from bastion import approvals
from bastion.audit import Actor, AuditLog, verify_chain
from bastion.context import Bastion
from bastion.contracts import load_contracts
from bastion.inventory import add_target
from bastion.models import (
    AuditEvent,
    utcnow,
)
from bastion.passwords import hash_password
from bastion.staff import add_staff
from tests.approvals.authenticator import SoftAuthenticator

ADMIN = Actor("cli:test", "admin")
PASSWORD = "correct horse battery staple"

_keys: dict[str, asyncssh.SSHKey] = {}


@functools.cache
def password_hash() -> str:
    """argon2 is slow on purpose: hash the shared test password once per run."""
    return hash_password(PASSWORD)


def ssh_key(name: str) -> asyncssh.SSHKey:
    """One private key per name for the whole run (key generation is the slow part)."""
    if name not in _keys:
        _keys[name] = asyncssh.generate_private_key("ssh-ed25519", comment=name)
    return _keys[name]


def public_line(name: str) -> str:
    return ssh_key(name).export_public_key().decode().strip()


def contract_document(**changes: Any) -> dict[str, Any]:
    """A contract open every day, all day, so tests can run at any hour: shell, exec, SFTP
    read, one forward; one approver, two for health data."""
    document: dict[str, Any] = {
        "time_zone": "Europe/Paris",
        # The suite reads the technician's English lines; French ones: tests/i18n.
        "language": "en",
        "vendor": {"id": "acme", "name": "Acme Santé SAS"},
        "contract": {"reference": "ACME-1", "dpa_reference": "DPA-ACME-1",
                     "valid_from": "2025-01-01", "valid_until": "2099-12-31",
                     "hds_certificate": {"number": "HDS-ACME-1", "valid_until": "2099-12-31"},
                     "data_location": {"countries": ["FR"]}},
        "technicians": [
            {"id": "jdupont", "full_name": "Jean Dupont", "email": "jean.dupont@acme.example",
             "employer": "Acme Santé SAS", "keys": [public_line("jdupont")]},
            {"id": "kbenali", "full_name": "Karim Benali", "email": "karim.benali@acme.example",
             "employer": "Acme Santé SAS",
             "keys": [public_line("kbenali"), public_line("kbenali-2")]},
        ],
        "scope": {
            "targets": [{"name": "dpi-app-01", "accounts": ["maint"]},
                        {"name": "dpi-db-01", "accounts": ["dbmaint"]}],
            "data_categories": ["administrative", "technical", "ins", "health"],
            "windows": [{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                         "start": "00:00", "end": "24:00"}],
            "max_session_minutes": 240,
            "max_concurrent_sessions": 2,
        },
        "channels": {"shell": True, "exec": True,
                     "sftp": {"access": "read", "allow": ["/var/log/**"]},
                     "forwards": ["127.0.0.1:5432"]},
        "approval": {"approvers": 1, "approvers_by_data_category": {"health": 2}},
    }
    document.update(changes)
    return document


def load_contract(core: Bastion, document: dict[str, Any]) -> None:
    """Load ``document`` as the vendor's current contract, as ``bastion contracts load``."""
    directory = Path(core.settings.var_dir) / "contracts"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "acme.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False, allow_unicode=True),
                    encoding="utf-8")
    report = load_contracts(core, [path], ADMIN)
    assert report.ok, report.problems


@dataclass
class World:
    core: Bastion
    tmp: Path
    staff: dict[str, int]  # user name -> id
    keys: dict[str, SoftAuthenticator] = field(default_factory=dict)

    @property
    def origin(self) -> str:
        return self.core.settings.web.public_url

    def enrol(self, username: str, *, passkey: bool = False) -> SoftAuthenticator:
        """Register a software security key for this staff member (the real ceremony: a
        first key directly, another one confirmed with the key already held)."""
        key = self.keys.setdefault(username, SoftAuthenticator(self.origin))
        staff_id = self.staff[username]
        if any(k.usable for k in approvals.list_credentials(self.core, staff_id)):
            confirm = approvals.key_change_options(self.core, staff_id, action="add")
            options = approvals.start_key_addition(self.core, staff_id,
                                                   key.get(options_to_json(confirm)))
        else:
            options = approvals.registration_options(self.core, staff_id, passkey=passkey)
        approvals.register_credential(self.core, self.staff[username],
                                      key.create(options_to_json(options)),
                                      name=f"{username}'s key")
        return key

    def file(self, technician: str = "jdupont", target: str = "dpi-app-01",
             *, minutes: int = 60, start: datetime | None = None, **extra: Any) -> approvals.RequestInfo:
        begin = start or utcnow()
        fields: dict[str, Any] = {
            "account": None, "window_start": start, "window_end": begin + timedelta(minutes=minutes),
            "channels": ["shell", "exec"], "reason": "update the DPI application to 4.2",
            "ticket": "CHG-1234", "source": "portal",
            "actor": Actor(f"technician:{technician}", "technician")}
        fields.update(extra)
        return approvals.file_request(self.core, technician=technician, target=target, **fields)

    def options(self, request_id: int, username: str, **kwargs: Any) -> str:
        return options_to_json(approvals.approval_options(self.core, request_id,
                                                          self.staff[username], **kwargs))

    def approve(self, request_id: int, username: str, **kwargs: Any) -> approvals.ApprovalResult:
        answer = self.keys[username].get(self.options(request_id, username))
        return approvals.approve(self.core, request_id, self.staff[username], answer, **kwargs)


def build_world(core: Bastion, tmp: Path) -> World:
    host_key = ssh_key("host").export_public_key().decode()
    with core.db.session() as session:
        audit = AuditLog("test")
        add_target(session, audit, name="dpi-app-01", host="127.0.0.1", port=22,
                   host_key=host_key, accounts=["maint", "appadmin"],
                   data_categories=["administrative", "technical"], actor=ADMIN)
        add_target(session, audit, name="dpi-db-01", host="127.0.0.1", port=22,
                   host_key=host_key, accounts=["dbmaint"],
                   data_categories=["administrative", "ins", "health"], actor=ADMIN)
        staff = {}
        for username, roles, language in (("alice", ["approver"], "fr"),
                                          ("bob", ["approver"], "en"),
                                          ("carol", ["approver", "admin"], "fr"),
                                          ("dave", ["admin"], "fr")):
            user = add_staff(session, audit, username=username, full_name=username.title(),
                             roles=roles, password=None, email=f"{username}@chu.example",
                             actor=ADMIN)
            user.password_hash = password_hash()
            user.language = language
            staff[username] = user.id
    load_contract(core, contract_document())
    return World(core, tmp, staff)


@pytest.fixture
def world(core: Bastion, tmp_path: Path) -> Iterator[World]:
    """SQLite, with approvers alice and bob holding registered keys."""
    w = build_world(core, tmp_path)
    w.enrol("alice")
    w.enrol("bob")
    yield w


@pytest.fixture
def any_world(any_core: Bastion, tmp_path: Path) -> Iterator[World]:
    """The same world, once on SQLite and once on PostgreSQL."""
    w = build_world(any_core, tmp_path)
    w.enrol("alice")
    w.enrol("bob")
    yield w


def audit_events(core: Bastion, action: str | None = None) -> list[AuditEvent]:
    with core.db.session() as session:
        query = select(AuditEvent).order_by(AuditEvent.id)
        if action is not None:
            query = query.where(AuditEvent.action == action)
        return list(session.scalars(query))


def assert_chain_intact(core: Bastion) -> None:
    with core.db.session() as session:
        rows = [dict(r) for r in session.execute(
            select(AuditEvent.__table__).order_by(AuditEvent.id)).mappings()]
    count, broken = verify_chain(rows)
    assert broken is None and count == len(rows)
