"""CLI actions are tied to a named staff member: ``--as`` / BASTION_OPERATOR names an active
admin or DPO account, checked; with ``cli.require_operator`` on, a command that changes
state without one is refused. The commands run through the click group the executable runs
(tests/harness/cli.py); tests/foundation/test_cli.py runs the executable itself."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.foundation.test_cli import run
from tests.web.seed import host_key_line


@pytest.fixture
def installed(tmp_path: Path) -> Path:
    password = tmp_path / "pw"
    password.write_text("correct horse battery staple\n")
    run(tmp_path, "init", "--password-file", str(password), env={"BASTION_CLI__REQUIRE_OPERATOR": "true"},
        check=True)
    return tmp_path


def last_event(tmp_path: Path, action: str) -> dict[str, object]:
    exported = run(tmp_path, "audit", "export", "--format", "jsonl", check=True).stdout
    return [e for e in map(json.loads, exported.splitlines()) if e["action"] == action][-1]


def test_state_changes_need_a_named_operator(installed: Path) -> None:
    strict = {"BASTION_CLI__REQUIRE_OPERATOR": "true"}
    key = installed / "host.pub"
    key.write_text(host_key_line())
    args = ("targets", "add", "dpi-app-01", "--host", "127.0.0.1", "--host-key", str(key),
            "--account", "maint", "--data", "technical")
    refused = run(installed, *args, env=strict)
    assert refused.returncode == 1
    assert refused.stderr == ("bastion: this command changes the bastion: name yourself with --as "
                              "USERNAME or BASTION_OPERATOR=USERNAME (an active admin or DPO "
                              "account; cli.require_operator is on)\n")
    unknown = run(installed, "--as", "mallory", *args, env=strict)
    assert unknown.returncode == 1 and "operator 'mallory' is not an active staff account" in unknown.stderr
    done = run(installed, *args, env={**strict, "BASTION_OPERATOR": "admin"})
    assert done.returncode == 0, done.stderr
    created = last_event(installed, "target.created")
    assert (created["actor"], created["actor_role"]) == ("staff:admin", "admin")
    # Reading needs no name.
    assert run(installed, "targets", "list", env=strict).returncode == 0


def test_without_the_setting_the_os_user_is_named_unless_an_operator_is_given(installed: Path) -> None:
    held = run(installed, "audit", "hold", "--reason", "enquête 2026-12")
    assert held.returncode == 0, held.stderr
    assert str(last_event(installed, "audit.hold_placed")["actor"]).startswith("cli:")
    released = run(installed, "--as", "admin", "audit", "hold", "--release", "--reason", "close")
    assert released.returncode == 0, released.stderr
    assert last_event(installed, "audit.hold_released")["actor"] == "staff:admin"
