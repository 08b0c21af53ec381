"""Targets that cannot trust the bastion's CA: a vaulted key or password, sealed with the
master key, used by the proxy and never shown to the technician or written in clear."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from sqlalchemy import select, text

from bastion.audit import Actor
from bastion.inventory import add_target
from bastion.models import AuditEvent
from bastion.vault import set_secret
from tests.harness.cli import BASTION
from tests.harness.sshd import SshdTarget
from tests.proxy.conftest import TEST_LABELS, Scenario

PASSWORD = "Vault-Test-Passw0rd-2026"


def _add(scenario: Scenario, name: str, target: SshdTarget) -> None:
    core = scenario.core
    with core.db.session() as s:
        add_target(s, core.audit, name=name, host="127.0.0.1", port=target.port,
                   host_key=target.host_key_line, accounts=[scenario.target.account],
                   labels=TEST_LABELS, data_categories=["administrative"],
                   actor=Actor("test", "admin"))


def _everything_stored(scenario: Scenario) -> bytes:
    """Every table's content as text: the secret must appear nowhere in clear."""
    dump = []
    with scenario.core.db.session() as s:
        for table in ("target_accounts", "audit_events", "targets"):
            dump += [repr(row) for row in s.execute(text(f"SELECT * FROM {table}"))]
    return "\n".join(dump).encode()


def test_vaulted_key_logs_in_to_a_target_without_the_ca(scenario: Scenario, tmp_path: Path) -> None:
    legacy = SshdTarget(tmp_path / "legacy", trusted_ca_pub=None,
                        account_name=scenario.target.account).start()
    try:
        key = tmp_path / "vault_key"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
        legacy.authorize(Path(f"{key}.pub").read_text())
        _add(scenario, "dpi-legacy-01", legacy)
        scenario.target_name = "dpi-legacy-01"
        scenario.grant()
        # Before the secret is stored, the bastion's certificate is refused by this target.
        before = scenario.ssh("true")
        assert before.returncode == 1 and "refused the bastion's login" in before.stderr.decode()
        with scenario.core.db.session() as s:
            set_secret(s, scenario.core.audit, scenario.core.keys.master_key,
                       target="dpi-legacy-01", account=scenario.target.account,
                       method="vault_key", secret=key.read_bytes(), actor=Actor("test", "admin"))
        result = scenario.ssh("echo via-vaulted-key")
        assert result.returncode == 0, result.stderr
        assert result.stdout == b"via-vaulted-key\n"
        body = key.read_text().split("-----")[2].strip().splitlines()[0]
        assert body.encode() not in _everything_stored(scenario)
    finally:
        legacy.stop()


def test_vaulted_password(scenario: Scenario, tmp_path: Path) -> None:
    legacy = SshdTarget(tmp_path / "pw", trusted_ca_pub=None, account_name="vaultpw",
                        extra_config="PasswordAuthentication yes").start()
    try:
        subprocess.run(["chpasswd"], input=f"vaultpw:{PASSWORD}\n".encode(), check=True)
        core = scenario.core
        with core.db.session() as s:
            add_target(s, core.audit, name="dpi-legacy-02", host="127.0.0.1", port=legacy.port,
                       host_key=legacy.host_key_line, accounts=["vaultpw"], labels=TEST_LABELS,
                       data_categories=["administrative"], actor=Actor("test", "admin"))
        scenario.allow_accounts("vaultpw")
        password_file = tmp_path / "password"
        password_file.write_text(PASSWORD + "\n")
        cli = subprocess.run(
            [*BASTION, "targets", "set-secret", "dpi-legacy-02", "vaultpw", "--password-file",
             str(password_file)], capture_output=True, text=True,
            env={**os.environ, "BASTION_PATHS__VAR_DIR": str(core.settings.var_dir)})
        assert cli.returncode == 0, cli.stderr
        assert PASSWORD not in cli.stdout + cli.stderr
        scenario.target_name = "dpi-legacy-02"
        scenario.grant(account="vaultpw")
        logged = scenario.ssh("whoami", user="jdupont+dpi-legacy-02+vaultpw")
        assert logged.returncode == 0, logged.stderr
        assert logged.stdout == b"vaultpw\n"
        assert PASSWORD.encode() not in _everything_stored(scenario)
        with core.db.session() as s:
            changed = s.scalars(select(AuditEvent).where(AuditEvent.action == "target.secret_set")).all()
        assert [e.details for e in changed] == [{"method": "vault_password"}]
    finally:
        legacy.stop()
