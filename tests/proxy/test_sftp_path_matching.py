"""Path matching through the real sftp client: extensions whatever their case, relative
symbolic links read from the link's folder, and listings that hide what the rules refuse."""

from __future__ import annotations

import os
import pwd
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from bastion.models import AuditEvent
from tests.harness.sealed import opened
from tests.proxy.conftest import Scenario


@pytest.fixture
def folder(scenario: Scenario) -> Iterator[Path]:
    """logs/app.log, logs/x.PEM, logs/notes-secret.txt in a folder of its own in the home."""
    base = scenario.target.home / f"match-{uuid.uuid4().hex[:8]}"
    (base / "logs").mkdir(parents=True)
    for name, text in {"app.log": "log\n", "x.PEM": "cert\n", "notes-secret.txt": "s\n"}.items():
        (base / "logs" / name).write_text(text)
    owner = pwd.getpwnam(scenario.target.account)
    for path in [base, *base.rglob("*")]:
        os.chown(path, owner.pw_uid, owner.pw_gid)
    yield base
    shutil.rmtree(base, ignore_errors=True)


def sftp(scenario: Scenario, batch: str):  # type: ignore[no-untyped-def]
    return scenario.client.sftp(scenario.user, "127.0.0.1", scenario.proxy.port, batch)


def test_an_upper_case_extension_is_caught(scenario: Scenario, folder: Path,
                                           tmp_path: Path) -> None:
    scenario.grant(sftp={"access": "read", "allow": [f"{folder}/**"], "deny": ["/**/*.pem"]})
    result = sftp(scenario, f"get {folder}/logs/x.PEM {tmp_path}/x\n")
    assert result.returncode != 0
    assert f"{folder}/logs/x.PEM refused: excluded by contract TEST-1" in result.stderr.decode()
    assert not (tmp_path / "x").exists()


def test_a_relative_symlink_inside_an_allowed_folder_works(scenario: Scenario, folder: Path,
                                                           tmp_path: Path) -> None:
    scenario.grant(sftp={"access": "read-write", "allow": [f"{folder}/logs/**"]})
    made = sftp(scenario, f"cd {folder}/logs\nln -s app.log current\n")
    assert made.returncode == 0, made.stderr
    assert os.readlink(folder / "logs" / "current") == "app.log"
    read = sftp(scenario, f"get {folder}/logs/current {tmp_path}/current\n")
    assert read.returncode == 0, read.stderr
    assert (tmp_path / "current").read_text() == "log\n"
    # A relative link that climbs out of the allowed folder is still refused.
    escape = sftp(scenario, f"cd {folder}/logs\nln -s ../../.bashrc rc\n")
    assert escape.returncode != 0
    assert "refused: outside the paths of contract TEST-1" in escape.stderr.decode()
    assert not (folder / "logs" / "rc").is_symlink()


def test_a_listing_hides_denied_entries(scenario: Scenario, folder: Path) -> None:
    scenario.grant(sftp={"access": "read", "allow": [f"{folder}/logs/**"],
                         "deny": ["/**/*.pem", "/**/*-secret.*"]})
    for command in (f"ls -1 {folder}/logs", f"ls -la {folder}/logs", f"ls {folder}/logs/*"):
        result = sftp(scenario, f"{command}\n")
        assert result.returncode == 0, result.stderr
        shown = result.stdout.decode()
        assert "app.log" in shown
        assert "x.PEM" not in shown and "notes-secret" not in shown, shown
    with scenario.core.db.session() as s:
        hidden = opened(scenario.core, s, s.scalars(select(AuditEvent)
                        .where(AuditEvent.action == "sftp.hidden")).all())
    assert hidden and all(e.outcome == "denied" and e.details["path"] == f"{folder}/logs"
                          and e.details["hidden"] >= 2 for e in hidden)


def test_a_listing_whose_first_batch_is_all_hidden_goes_on(scenario: Scenario,
                                                           folder: Path) -> None:
    """The target sends a folder in batches (100 names with OpenSSH); a batch of hidden names
    alone must not end the listing."""
    for i in range(250):
        (folder / "logs" / f"k{i:03}.pem").write_text("")
    scenario.grant(sftp={"access": "read", "allow": [f"{folder}/logs/**"],
                         "deny": ["/**/*.pem"]})
    result = sftp(scenario, f"ls -1 {folder}/logs\n")
    assert result.returncode == 0, result.stderr
    assert "app.log" in result.stdout.decode()
    assert ".pem" not in result.stdout.decode()
