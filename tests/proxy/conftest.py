"""A running proxy in a background thread, a real sshd target behind it, a technician."""

from __future__ import annotations

import asyncio
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from bastion.audit import Actor
from bastion.context import Bastion
from bastion.contracts import decide_access, load_contracts
from bastion.inventory import add_target
from bastion.models import AccessRequest, Grant, Target, Technician, utcnow
from bastion.proxy.service import ProxyService
from tests.harness.clients import OpenSshClient
from tests.harness.sshd import SshdTarget


class RunningProxy:
    """The proxy on its own event loop thread, as `bastion serve` runs it."""

    def __init__(self, core: Bastion) -> None:
        self.core = core
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.service = ProxyService(core)
        self.port = self.run(self.service.start("127.0.0.1", 0))
        self.host_key_line = core.keys.public_line("ssh_host_ed25519_key")

    def run(self, coroutine, timeout: float = 30):  # type: ignore[no-untyped-def]
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def stop(self) -> None:
        if not self.thread.is_alive():
            return
        self.run(self.service.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@dataclass
class Scenario:
    core: Bastion
    proxy: RunningProxy
    target: SshdTarget
    client: OpenSshClient
    technician: str = "jdupont"
    target_name: str = "dpi-app-01"

    def allow_accounts(self, *accounts: str, language: str = "en") -> None:
        """Load a new version of the test contract that also allows these accounts."""
        contract = self.client.workdir.parent / "editeur.yaml"
        contract.write_text(contract_for_tests(self.client.public_key,
                                               [self.target.account, *accounts], language))
        report = load_contracts(self.core, [contract], Actor("test", "admin"))
        assert report.ok, report.problems

    def speak(self, language: str) -> None:
        """A new version of the test contract, naming the technicians' language."""
        self.allow_accounts(language=language)

    @property
    def user(self) -> str:
        return f"{self.technician}+{self.target_name}"

    def ssh(self, *command: str, extra: list[str] | None = None, user: str | None = None,
            input: bytes | None = None, timeout: float = 60):  # type: ignore[no-untyped-def]
        return self.client.ssh(user or self.user, "127.0.0.1", self.proxy.port, *command,
                               extra=extra, input=input, timeout=timeout)

    def grant(self, minutes: int = 60, channels: list[str] | None = None,
              account: str | None = None, sftp: dict[str, object] | None = None,
              forwards: list[str] | None = None) -> int:
        """An approved grant, its scope built by the contracts engine then narrowed as the
        test asks (what the approvals do, without the ceremony)."""
        now = utcnow()
        with self.core.db.session() as s:
            decision, version = decide_access(s, technician=self.technician,
                                              target=self.target_name, account=account,
                                              channel="request", at=now)
            assert decision.allowed, decision.reasons
            scope = decision.constraints.to_dict()
            if channels is not None:
                scope["channels"] = sorted(channels)
            if sftp is not None:
                scope["sftp"] = {"access": "none", "allow": [], "deny": [], **sftp}
            if forwards is not None:
                scope["forwards"] = forwards
            tech = s.query(Technician).filter_by(ident=self.technician).one()
            target = s.query(Target).filter_by(name=self.target_name).one()
            request = AccessRequest(technician_id=tech.id, target_id=target.id,
                                    account_name=scope["account"], window_start=now,
                                    window_end=now + timedelta(minutes=minutes),
                                    reason="test", source="api", status="approved",
                                    contract_version_id=version.id)
            s.add(request)
            s.flush()
            grant = Grant(request_id=request.id, technician_id=tech.id, target_id=target.id,
                          account_name=scope["account"], contract_version_id=version.id,
                          not_before=now - timedelta(seconds=5),
                          not_after=now + timedelta(minutes=minutes), scope=scope)
            s.add(grant)
            s.flush()
            return grant.id


# Targets the test contract covers carry this label.
TEST_LABELS = {"env": "test"}


def contract_for_tests(public_key: str, accounts: list[str], language: str = "en") -> str:
    """A contract for the technician 'jdupont': everything allowed on the test targets at
    all hours, so that each test narrows what it checks through the grant."""
    document = {
        "time_zone": "Europe/Paris",
        # The suite reads the technician's English lines; French ones: Scenario.speak("fr").
        "language": language,
        "vendor": {"id": "editeur", "name": "Éditeur DPI SAS"},
        "contract": {"reference": "TEST-1", "dpa_reference": "DPA-TEST-1",
                     "valid_from": "2025-01-01", "valid_until": "2099-12-31"},
        "technicians": [{"id": "jdupont", "full_name": "Jean Dupont", "email": "jd@example.org",
                         "employer": "Éditeur DPI SAS", "keys": [public_key]}],
        "scope": {
            "targets": [{"labels": {"env": "test"}, "accounts": accounts}],
            "data_categories": ["administrative", "technical"],
            "windows": [{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                         "start": "00:00", "end": "24:00"}],
            "max_session_minutes": 240,
            "max_concurrent_sessions": 20,
        },
        "channels": {"shell": True, "exec": True,
                     "sftp": {"access": "read-write", "allow": ["/**"]},
                     "forwards": ["127.0.0.1:1"]},
        "command_rules": [{"pattern": r"\bpg_dump\b", "action": "deny",
                           "reason": "dumping the database is forbidden"},
                          {"pattern": r"\bsudo\b", "action": "flag",
                           "reason": "privileged commands are reviewed"}],
        "approval": {"approvers": 1},
    }
    return yaml.safe_dump(document, allow_unicode=True)


@pytest.fixture
def scenario(core: Bastion, sshd_target: SshdTarget, openssh_client: OpenSshClient,
             tmp_path: Path) -> Iterator[Scenario]:
    with core.db.session() as s:
        add_target(s, core.audit, name="dpi-app-01", host="127.0.0.1", port=sshd_target.port,
                   host_key=sshd_target.host_key_line, accounts=[sshd_target.account],
                   labels=TEST_LABELS, data_categories=["administrative"],
                   actor=Actor("test", "admin"))
    contract = tmp_path / "editeur.yaml"
    contract.write_text(contract_for_tests(openssh_client.public_key, [sshd_target.account]))
    report = load_contracts(core, [contract], Actor("test", "admin"))
    assert report.ok, report.problems
    proxy = RunningProxy(core)
    openssh_client.trust("127.0.0.1", proxy.port, proxy.host_key_line)
    yield Scenario(core, proxy, sshd_target, openssh_client)
    proxy.stop()


@pytest.fixture
def tiny_recordings_dir(tmp_path: Path) -> Iterator[Path]:
    """A real 256 KiB file system for recordings: the disk really fills up."""
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k,mode=0700", "tmpfs",
                           str(mount_point)], capture_output=True, text=True)
    assert done.returncode == 0, f"this test needs root to mount a tmpfs: {done.stderr}"
    yield mount_point
    subprocess.run(["umount", "-l", str(mount_point)], check=False)
