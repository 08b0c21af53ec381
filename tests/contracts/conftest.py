"""Contract-building helpers and a demo inventory shared by the contracts tests."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncssh
import pytest
import yaml

from bastion.audit import Actor, AuditLog
from bastion.context import Bastion
from bastion.contracts import Contract, TargetFacts
from bastion.inventory import add_target

EXAMPLES = Path(__file__).resolve().parents[2] / "contracts" / "examples"
ADMIN = Actor("cli:test", "admin")

# A Tuesday in winter (CET, UTC+1): 10:00 in Paris, inside the usual working-hours window.
TUESDAY_10H = datetime(2027, 3, 2, 9, 0, tzinfo=UTC)

APP = TargetFacts("dpi-app-01", {"role": "app", "env": "prod"},
                  frozenset({"administrative", "technical"}), ("maint", "appadmin"))
DB = TargetFacts("dpi-db-01", {"role": "db"}, frozenset({"administrative", "ins", "health"}),
                 ("dbmaint",))
PACS = TargetFacts("pacs-01", {"role": "pacs"}, frozenset({"technical", "documents"}),
                   ("pacsmaint",))
DEMO_TARGETS = (APP, DB, PACS)

_keys: dict[str, str] = {}


def paris_time(*args: int) -> datetime:
    """A wall-clock time in Paris, as the aware UTC instant the engine receives."""
    return datetime(*args, tzinfo=ZoneInfo("Europe/Paris")).astimezone(UTC)


def public_key(name: str, algorithm: str = "ssh-ed25519", **options: Any) -> str:
    """A real public key line, one per name (cached: the same name gives the same key)."""
    if name not in _keys:
        private = asyncssh.generate_private_key(algorithm, comment=name, **options)
        _keys[name] = private.export_public_key().decode().strip()
    return _keys[name]


def base_document() -> dict[str, Any]:
    """A small valid contract: shell on dpi-app-01 with account maint, weekdays 08-18."""
    return {
        "time_zone": "Europe/Paris",
        "vendor": {"id": "acme", "name": "Acme Santé SAS"},
        "contract": {"reference": "ACME-1", "dpa_reference": "DPA-ACME-1",
                     "valid_from": "2025-01-01", "valid_until": "2029-12-31"},
        "subprocessors": [{"name": "Sous-Traitant SARL", "dpa_reference": "DPA-ACME-1-ST"}],
        "technicians": [
            {"id": "jdupont", "full_name": "Jean Dupont", "email": "jd@acme.example",
             "employer": "Acme Santé SAS", "keys": [public_key("jdupont")]},
            {"id": "kbenali", "full_name": "Karim Benali", "email": "kb@st.example",
             "employer": "Sous-Traitant SARL", "keys": [public_key("kbenali")]},
        ],
        "scope": {
            "targets": [{"name": "dpi-app-01", "accounts": ["maint"]}],
            "data_categories": ["administrative", "technical"],
            "windows": [{"days": ["mon", "tue", "wed", "thu", "fri"],
                         "start": "08:00", "end": "18:00"}],
            "max_session_minutes": 240,
            "max_concurrent_sessions": 2,
        },
        "channels": {"shell": True, "exec": True},
        "approval": {"approvers": 1},
    }


def with_changes(changes: dict[str, Any]) -> dict[str, Any]:
    """``base_document()`` with dotted-path changes, e.g. {'scope.max_session_minutes': 60}."""
    document = copy.deepcopy(base_document())
    for path, value in changes.items():
        node = document
        *parents, last = path.split(".")
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
        if isinstance(node, list):
            node[int(last)] = value
        elif value is _DELETE:
            node.pop(last, None)
        else:
            node[last] = value
    return document


_DELETE = object()
DELETE = _DELETE


def contract(changes: dict[str, Any] | None = None) -> Contract:
    return Contract.model_validate(with_changes(changes or {}))


def to_yaml(document: dict[str, Any]) -> str:
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=200)


@pytest.fixture
def write_contract(tmp_path: Path) -> Callable[..., Path]:
    def write(document: dict[str, Any] | str, name: str = "acme.yaml") -> Path:
        path = tmp_path / "contracts" / name
        path.parent.mkdir(exist_ok=True)
        path.write_text(document if isinstance(document, str) else to_yaml(document),
                        encoding="utf-8")
        return path

    return write


def add_demo_inventory(core: Bastion) -> None:
    """The demo inventory the examples are written for."""
    host_key = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode()
    with core.db.session() as session:
        for facts, host in ((APP, "10.0.0.11"), (DB, "10.0.0.12"), (PACS, "10.0.0.13")):
            add_target(session, AuditLog("test"), name=facts.name, host=host, port=22,
                       host_key=host_key, accounts=list(facts.accounts),
                       labels=dict(facts.labels), data_categories=sorted(facts.data_categories),
                       actor=ADMIN)


@pytest.fixture
def demo_core(core: Bastion) -> Iterator[Bastion]:
    """An initialised SQLite bastion holding the demo inventory."""
    add_demo_inventory(core)
    yield core
