"""The SFTP path rules hold for scp -O and rsync too (they run over exec), with the real
clients through the proxy against a real sshd: a refused path is not transferred, the
technician reads one line on stderr, and the refusal is in the audit log."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from bastion.models import AuditEvent
from tests.harness.sealed import opened
from tests.proxy.conftest import Scenario


@pytest.fixture
def folder(scenario: Scenario) -> Iterator[str]:
    """A folder of its own in the target account's home (other tests share that home):
    logs/app.log, logs/x.PEM, logs/sub/deep.log, an empty in/, and secret.txt."""
    base = scenario.target.home / f"paths-{uuid.uuid4().hex[:8]}"
    files = {"logs/app.log": "log\n", "logs/x.PEM": "cert\n", "logs/sub/deep.log": "deep\n",
             "secret.txt": "secret\n"}
    for name, text in files.items():
        (base / name).parent.mkdir(parents=True, exist_ok=True)
        (base / name).write_text(text)
    (base / "in").mkdir()
    owner = pwd.getpwnam(scenario.target.account)
    for path in [base, *base.rglob("*")]:
        os.chown(path, owner.pw_uid, owner.pw_gid)
    yield str(base)
    shutil.rmtree(base, ignore_errors=True)


def bastion_lines(stderr: bytes) -> list[str]:
    return [line for line in stderr.decode(errors="replace").splitlines()
            if line.startswith("bastion:")]


def refusals(scenario: Scenario) -> list[AuditEvent]:
    with scenario.core.db.session() as s:
        return opened(scenario.core, s, s.scalars(select(AuditEvent).where(
            AuditEvent.action == "transfer.refused").order_by(AuditEvent.id)).all())


def fetch(scenario: Scenario, tool: str, remote: str, local: Path):  # type: ignore[no-untyped-def]
    spec = f"{scenario.user}@127.0.0.1:{remote}"
    if tool == "scp":
        return scenario.client.scp("-r", spec, str(local), port=scenario.proxy.port, legacy=True)
    return scenario.client.rsync(spec, str(local), port=scenario.proxy.port)


def send(scenario: Scenario, tool: str, local: Path, remote: str):  # type: ignore[no-untyped-def]
    spec = f"{scenario.user}@127.0.0.1:{remote}"
    if tool == "scp":
        return scenario.client.scp(str(local), spec, port=scenario.proxy.port, legacy=True)
    return scenario.client.rsync(str(local), spec, port=scenario.proxy.port)


@pytest.mark.parametrize("tool", ["scp", "rsync"])
def test_downloads_follow_the_sftp_paths(scenario: Scenario, folder: str, tool: str,
                                         tmp_path: Path) -> None:
    scenario.grant(sftp={"access": "read", "allow": [f"{folder}/logs/**"],
                         "deny": ["/**/*.pem"]})
    allowed = fetch(scenario, tool, f"{folder}/logs/app.log", tmp_path / "app.log")
    assert allowed.returncode == 0, allowed.stderr
    assert (tmp_path / "app.log").read_text() == "log\n"

    for remote, words in [
        (f"{folder}/secret.txt", f"{tool} {folder}/secret.txt refused: outside the paths of "
                                 "contract TEST-1"),
        (f"{folder}/logs/../secret.txt", f"{folder}/secret.txt refused: outside the paths"),
        (f"{folder}/logs/x.PEM", f"{folder}/logs/x.PEM refused: excluded by contract TEST-1"),
        # The folder holds x.PEM: sending it whole would leak what SFTP refuses.
        (f"{folder}/logs", f"{folder}/logs/x.PEM refused: excluded by contract TEST-1 "
                           f"(inside {folder}/logs)"),
    ]:
        local = tmp_path / f"out-{uuid.uuid4().hex[:6]}"
        result = fetch(scenario, tool, remote, local)
        assert result.returncode != 0
        assert not local.exists(), f"{remote} was transferred"
        lines = bastion_lines(result.stderr)
        assert len(lines) == 1, result.stderr
        assert words in lines[0], lines[0]
    events = refusals(scenario)
    assert len(events) == 4
    assert all(e.outcome == "denied" and e.details["tool"] == tool for e in events)
    # The path is sealed with the other details; the stored reason names it "[paths]".
    assert f"{folder}/secret.txt" in events[0].details["paths"]
    assert "[paths] refused: outside the paths" in events[0].details["reason"]
    assert events[0].details["command"].startswith("scp -r -f" if tool == "scp" else "rsync")


@pytest.mark.parametrize("tool", ["scp", "rsync"])
def test_a_folder_without_denied_files_comes_whole(scenario: Scenario, folder: str, tool: str,
                                                   tmp_path: Path) -> None:
    scenario.grant(sftp={"access": "read", "allow": [f"{folder}/logs/**"],
                         "deny": [f"{folder}/logs/private/**"]})
    result = fetch(scenario, tool, f"{folder}/logs/sub", tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "sub" / "deep.log").read_text() == "deep\n"
    with scenario.core.db.session() as s:
        allowed = opened(scenario.core, s, s.scalars(select(AuditEvent)
                         .where(AuditEvent.action == "transfer.allowed")).all())
    assert [e.details["paths"] for e in allowed] == [[f"{folder}/logs/sub"]]


@pytest.mark.parametrize("tool", ["scp", "rsync"])
def test_uploads_follow_the_sftp_paths(scenario: Scenario, folder: str, tool: str,
                                       tmp_path: Path) -> None:
    local = tmp_path / "update.tar"
    local.write_text("payload\n")
    scenario.grant(sftp={"access": "read-write", "allow": [f"{folder}/in/**"]})
    ok = send(scenario, tool, local, f"{folder}/in/update.tar")
    assert ok.returncode == 0, ok.stderr
    into_folder = send(scenario, tool, local, f"{folder}/in/")
    assert into_folder.returncode == 0, into_folder.stderr
    refused = send(scenario, tool, local, f"{folder}/update.tar")
    assert refused.returncode != 0
    lines = bastion_lines(refused.stderr)
    assert len(lines) == 1 and f"{folder}/update.tar refused: outside the paths" in lines[0]
    listing = scenario.ssh(f"ls {folder} {folder}/in")
    assert b"update.tar" in listing.stdout
    assert listing.stdout.count(b"update.tar") == 1, listing.stdout  # only in in/


@pytest.mark.parametrize("tool", ["scp", "rsync"])
def test_read_only_refuses_uploads(scenario: Scenario, folder: str, tool: str,
                                   tmp_path: Path) -> None:
    local = tmp_path / "x"
    local.write_text("x")
    scenario.grant(sftp={"access": "read", "allow": [f"{folder}/**"]})
    result = send(scenario, tool, local, f"{folder}/in/x")
    assert result.returncode != 0
    lines = bastion_lines(result.stderr)
    assert len(lines) == 1
    assert f"{tool} upload refused: contract TEST-1 allows file transfers read only" in lines[0]
    assert scenario.ssh(f"test -e {folder}/in/x").returncode != 0


def _scp_glob(scenario: Scenario, folder: str, tmp_path: Path
              ) -> tuple[subprocess.CompletedProcess[bytes], Path]:
    """A legacy scp download of ``logs/*.log``, which the target's shell would expand."""
    scenario.grant(sftp={"access": "read", "allow": [f"{folder}/logs/**"]})
    out = tmp_path / "out"
    out.mkdir()
    result = scenario.client.scp(f"{scenario.user}@127.0.0.1:{folder}/logs/*.log",
                                 str(out), port=scenario.proxy.port, legacy=True)
    return result, out


def test_what_the_shell_would_expand_is_refused(scenario: Scenario, folder: str,
                                                tmp_path: Path) -> None:
    result, out = _scp_glob(scenario, folder, tmp_path)
    assert result.returncode != 0
    lines = bastion_lines(result.stderr)
    assert len(lines) == 1
    assert "scp refused: the character '*' would be interpreted by the server's shell" in lines[0]
    assert "use sftp instead" in lines[0]
    assert not list(out.iterdir())
    assert refusals(scenario)[-1].details["tool"] == "scp"


def test_a_french_contract_says_why_scp_cannot_be_checked_in_french(
        scenario: Scenario, folder: str, tmp_path: Path) -> None:
    scenario.speak("fr")
    result, out = _scp_glob(scenario, folder, tmp_path)
    assert result.returncode != 0
    lines = [line for line in result.stderr.decode().splitlines() if line.startswith("bastion")]
    assert lines == ["bastion : scp refusé : le caractère '*' serait interprété par le shell du "
                     "serveur, et le contrat TEST-1 limite les chemins de fichiers ; utilisez "
                     "plutôt sftp"], result.stderr
    assert not list(out.iterdir())
    # The audit trail keeps the English reason.
    assert "the character '*' would be interpreted" in refusals(scenario)[-1].details["reason"]


def test_without_path_rules_scp_is_a_plain_command(scenario: Scenario, folder: str,
                                                   tmp_path: Path) -> None:
    scenario.grant(channels=["exec", "shell"], sftp={"access": "none"})
    result = fetch(scenario, "scp", f"{folder}/secret.txt", tmp_path / "s")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "s").read_text() == "secret\n"
