"""The ``bastion`` command line. Most commands run in this process through the click group
the executable runs (tests/harness/cli.py); the real executable, as an operator runs it,
shows its help, initialises a bastion and stops with one line on a broken configuration."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.harness.cli import run_in_process as run
from tests.harness.cli import run_process
from tests.harness.sshd import SshdTarget


@pytest.fixture
def password_file(tmp_path: Path) -> Path:
    path = tmp_path / "admin-password"
    path.write_text("correct horse battery staple\n")
    return path


def test_help_lists_every_command(tmp_path: Path) -> None:
    result = run_process(tmp_path, "--help", check=True)
    for command in ("init", "serve", "targets", "staff", "contracts"):
        assert command in result.stdout
    for command in (["init"], ["serve"], ["targets", "add"], ["targets", "list"],
                    ["staff", "add"], ["staff", "list"], ["contracts", "check"],
                    ["contracts", "load"]):
        assert "Usage:" in run(tmp_path, *command, "--help", check=True).stdout


def test_init_twice_keeps_keys_and_data(tmp_path: Path, password_file: Path) -> None:
    first = run_process(tmp_path, "init", "--password-file", str(password_file), check=True)
    assert "first admin: admin" in first.stdout
    keys = tmp_path / "var" / "keys"
    before = {p.name: p.read_bytes() for p in keys.iterdir()}
    assert {"ssh_host_ed25519_key", "technician_ca", "target_ca", "master.key"} <= set(before)
    assert oct((keys / "master.key").stat().st_mode & 0o777) == "0o600"
    assert (tmp_path / "var" / "public" / "target_ca.pub").read_bytes() == before["target_ca.pub"]

    second = run(tmp_path, "init", check=True)  # no password needed: the admin exists
    assert "all kept" in second.stdout
    assert {p.name: p.read_bytes() for p in keys.iterdir()} == before
    listing = run(tmp_path, "staff", "list", check=True).stdout
    assert listing.count("admin") >= 1 and len(listing.strip().splitlines()) == 1


def test_malformed_config_stops_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "bastion.toml").write_text("[ssh]\nlisten_port = 'twenty-two'\n")
    result = run_process(tmp_path, "init")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "ssh.listen_port" in lines[0] and "valid integer" in lines[0]


def test_commands_refuse_an_uninitialised_database(tmp_path: Path) -> None:
    result = run(tmp_path, "targets", "list")
    assert result.returncode == 1
    assert result.stderr.strip() == "bastion: the database is not initialised: run 'bastion init'"


def test_targets_add_from_file_and_by_scan(tmp_path: Path, password_file: Path) -> None:
    run(tmp_path, "init", "--password-file", str(password_file), check=True)
    target = SshdTarget(tmp_path / "sshd", trusted_ca_pub=tmp_path / "var/keys/target_ca.pub")
    target.start()
    try:
        added = run(tmp_path, "targets", "add", "dpi-app-01", "--host", "127.0.0.1", "--port",
                    str(target.port), "--host-key", f"{target.host_key_path}.pub",
                    "--account", "maint", "--label", "role=app", "--data", "administrative",
                    check=True)
        assert "host key pinned: SHA256:" in added.stdout
        scanned = run(tmp_path, "targets", "add", "dpi-app-02", "--host", "127.0.0.1", "--port",
                      str(target.port), "--scan", "--account", "maint", "--data", "technical",
                      check=True)
        # The scan found the very key that the file holds.
        assert added.stdout.split("pinned: ")[1] == scanned.stdout.split("pinned: ")[1]
        listing = run(tmp_path, "targets", "list", check=True).stdout
        assert "dpi-app-01" in listing and "role=app" in listing and "administrative" in listing
        duplicate = run(tmp_path, "targets", "add", "dpi-app-01", "--host", "h", "--scan",
                        "--account", "maint")
        assert duplicate.returncode == 1
    finally:
        target.stop()


def test_targets_add_refuses_bad_input(tmp_path: Path, password_file: Path) -> None:
    run(tmp_path, "init", "--password-file", str(password_file), check=True)
    bad_key = tmp_path / "bad.pub"
    bad_key.write_text("ssh-ed25519 not-base64\n")
    result = run(tmp_path, "targets", "add", "dpi-x", "--host", "h", "--host-key", str(bad_key),
                 "--account", "maint", "--data", "technical")
    assert result.returncode == 1 and "is not an OpenSSH public key" in result.stderr
    result = run(tmp_path, "targets", "add", "dpi-x", "--host", "127.0.0.1", "--port", "1",
                 "--scan", "--account", "maint", "--data", "technical")
    assert result.returncode == 1 and "cannot read the host key of 127.0.0.1:1" in result.stderr


def test_staff_add_checks_roles_and_password(tmp_path: Path, password_file: Path) -> None:
    run(tmp_path, "init", "--password-file", str(password_file), check=True)
    short = tmp_path / "short"
    short.write_text("short\n")
    weak = run(tmp_path, "staff", "add", "alice", "--name", "Alice", "--role", "approver",
               "--password-file", str(short))
    assert weak.returncode == 1 and "at least 12 characters" in weak.stderr
    run(tmp_path, "staff", "add", "alice", "--name", "Alice Martin", "--role", "approver",
        "--role", "dpo", "--password-file", str(password_file), check=True)
    assert "approver,dpo" in run(tmp_path, "staff", "list", check=True).stdout
