"""Files through the bastion with the real scp, sftp and rsync, checked by SHA-256."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from sqlalchemy import select

from bastion.models import AuditEvent
from tests.proxy.conftest import Scenario

SIZE = 100 * 1024 * 1024


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    path = tmp_path_factory.mktemp("payload") / "payload.bin"
    with path.open("wb") as handle:
        for _ in range(SIZE // (1024 * 1024)):
            handle.write(os.urandom(1024 * 1024))
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _remote_sha(scenario: Scenario, remote: str) -> str:
    result = scenario.ssh(f"sha256sum {remote}")
    assert result.returncode == 0, result.stderr
    return result.stdout.split()[0].decode()


@pytest.mark.parametrize("mode", ["sftp", "scp", "scp-legacy", "rsync"])
def test_100_mb_up_and_down(scenario: Scenario, big_file: tuple[Path, str], mode: str,
                           tmp_path: Path) -> None:
    scenario.grant(sftp={"access": "read-write", "allow": ["/**"]})
    source, digest = big_file
    remote = f"{scenario.target.home}/upload-{mode}.bin"
    back = tmp_path / "back.bin"
    spec = f"{scenario.user}@127.0.0.1"
    port = scenario.proxy.port
    if mode == "sftp":
        result = scenario.client.sftp(scenario.user, "127.0.0.1", port,
                                      f"put {source} {remote}\nget {remote} {back}\n")
        assert result.returncode == 0, result.stderr
    elif mode in ("scp", "scp-legacy"):
        legacy = mode == "scp-legacy"
        up = scenario.client.scp(str(source), f"{spec}:{remote}", port=port, legacy=legacy)
        assert up.returncode == 0, up.stderr
        down = scenario.client.scp(f"{spec}:{remote}", str(back), port=port, legacy=legacy)
        assert down.returncode == 0, down.stderr
    else:
        up = scenario.client.rsync(str(source), f"{spec}:{remote}", port=port)
        assert up.returncode == 0, up.stderr
        down = scenario.client.rsync(f"{spec}:{remote}", str(back), port=port)
        assert down.returncode == 0, down.stderr
    assert _remote_sha(scenario, remote) == digest
    assert _sha256(back) == digest
    if mode in ("sftp", "scp"):
        # Whole-file transfers are logged with their SHA-256.
        with scenario.core.db.session() as s:
            transfers = [e.details for e in s.scalars(
                select(AuditEvent).where(AuditEvent.action == "sftp.transfer"))]
        assert {(t["operation"], t["sha256"]) for t in transfers} >= {
            ("upload", digest), ("download", digest)}


def test_sftp_rules_refuse_with_a_message_and_an_audit_event(scenario: Scenario,
                                                             tmp_path: Path) -> None:
    home = scenario.target.home
    scenario.grant(sftp={"access": "read", "allow": [f"{home}/logs/**"]})
    setup = scenario.ssh(f"mkdir -p {home}/logs && echo log > {home}/logs/app.log && echo s > {home}/secret")
    assert setup.returncode == 0, setup.stderr
    local = tmp_path / "x"
    local.write_text("x")
    ok = scenario.client.sftp(scenario.user, "127.0.0.1", scenario.proxy.port,
                              f"get logs/app.log {tmp_path}/app.log\n")
    assert ok.returncode == 0, ok.stderr
    assert (tmp_path / "app.log").read_text() == "log\n"
    for batch, reason in [
        (f"get secret {tmp_path}/s\n", "/home/maint/secret refused: outside the paths"),
        (f"get logs/../secret {tmp_path}/s\n", "/home/maint/secret refused: outside the paths"),
        (f"put {local} logs/new\n", "open_write refused: contract TEST-1 allows SFTP read"),
        ("rm logs/app.log\n", "remove refused: contract TEST-1 allows SFTP read"),
    ]:
        result = scenario.client.sftp(scenario.user, "127.0.0.1", scenario.proxy.port, batch)
        assert result.returncode != 0
        assert reason in result.stderr.decode(), result.stderr
    assert not (tmp_path / "s").exists()
    with scenario.core.db.session() as s:
        refusals = s.scalars(select(AuditEvent).where(AuditEvent.action == "sftp.refused")).all()
    assert len(refusals) >= 4
    assert all(e.outcome == "denied" and e.details["reason"] for e in refusals)
