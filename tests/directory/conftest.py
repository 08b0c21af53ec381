"""A real OpenLDAP slapd per test (its own config, LDIF-loaded people and groups, StartTLS
with its own CA) and a bastion core configured to sign staff in against it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bastion.config import load_settings
from bastion.context import Bastion
from tests.conftest import SECOND_FACTOR_OFF, _initialised_core
from tests.harness.slapd import GROUPS, PEOPLE, SERVICE_DN, SERVICE_PASSWORD, Person, SlapdServer

DIRECTORY_PEOPLE = [
    Person("amartin", "Alice Martin", "alice's directory password", ("dpi-approvers",)),
    Person("cpetit", "Chloé Petit", "chloé's directory password", ("dpi-dpo",)),
    Person("hroux", "Hugo Roux", "hugo's directory password", ("dpi-admins", "dpi-approvers"),
           account_control=512),
    Person("edisabled", "Eve Disabled", "eve's directory password", ("dpi-approvers",),
           account_control=514),
    Person("fcafe", "Fanny Cafe", "fanny's directory password", ("cafeteria",)),
]


def ldap_toml(slapd: SlapdServer, tmp_path: Path, *, ca_file: Path | None = None,
              extra: str = "") -> Path:
    (tmp_path / "ldap-bind.txt").write_text(SERVICE_PASSWORD + "\n")
    path = tmp_path / "bastion.toml"
    path.write_text(f"""
[paths]
var_dir = "{tmp_path / 'var'}"
[ldap]
url = "{slapd.url}"
start_tls = true
ca_file = "{ca_file or slapd.ca_file}"
bind_dn = "{SERVICE_DN}"
bind_password_file = "ldap-bind.txt"
user_base = "{PEOPLE}"
user_filter = "(&(objectClass=inetOrgPerson)(uid={{username}}))"
group_base = "{GROUPS}"
[ldap.role_groups]
approver = ["cn=dpi-approvers,{GROUPS}"]
admin = ["CN=DPI-Admins, {GROUPS}"]
dpo = ["cn=dpi-dpo,{GROUPS}"]
{extra}
""")
    return path


@pytest.fixture
def slapd() -> Iterator[SlapdServer]:
    server = SlapdServer(people=list(DIRECTORY_PEOPLE)).start()
    yield server
    server.stop()


@pytest.fixture
def ldap_core(slapd: SlapdServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Bastion]:
    monkeypatch.chdir(tmp_path)
    core = _initialised_core(load_settings(ldap_toml(slapd, tmp_path), env=SECOND_FACTOR_OFF))
    yield core
    core.close()
