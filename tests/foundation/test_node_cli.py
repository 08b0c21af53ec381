"""What an operator runs around a node's start: the version, the configuration check, a
clear line when a port is taken, a private SQLite file, and the demo's account warning."""

from __future__ import annotations

import socket
import stat
from importlib.metadata import version
from pathlib import Path

import pytest

from bastion.demo.sshd_target import account_creation_warning, may_create_accounts
from tests.conftest import SECOND_FACTOR_OFF
from tests.harness.cli import run_in_process as run
from tests.harness.cli import run_process
from tests.harness.ports import free_port


@pytest.fixture
def initialised(tmp_path: Path) -> Path:
    (tmp_path / "pw").write_text("correct horse battery staple\n")
    result = run(tmp_path, "init", "--password-file", str(tmp_path / "pw"))
    assert result.returncode == 0, result.stderr
    return tmp_path


def test_version_names_the_release(tmp_path: Path) -> None:
    result = run(tmp_path, "--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"bastion {version('dpi-bastion')}"


def test_config_check_before_init_names_each_problem_and_creates_nothing(tmp_path: Path) -> None:
    result = run(tmp_path, "config", "check", env={
        "BASTION_SSH__LISTEN_PORT": str(free_port()), "BASTION_WEB__LISTEN_PORT": str(free_port())})
    assert result.returncode == 1
    assert "error   database: database file" in result.stdout and "run 'bastion init'" in result.stdout
    assert "error   keys:" in result.stdout
    assert not (tmp_path / "var" / "bastion.db").exists()


def test_config_check_after_init_passes_and_names_weakening_settings(initialised: Path) -> None:
    ports = {"BASTION_SSH__LISTEN_PORT": str(free_port()),
             "BASTION_WEB__LISTEN_PORT": str(free_port())}
    result = run(initialised, "config", "check", env=ports)
    assert result.returncode == 0, result.stdout
    assert "ok      database:" in result.stdout and "schema current" in result.stdout
    assert "ok      keys:" in result.stdout
    weakened = run(initialised, "config", "check", env={
        **ports, **SECOND_FACTOR_OFF,
        "BASTION_WEB__PUBLIC_URL": "https://bastion.example-hopital.fr"})
    assert weakened.returncode == 0
    assert "warning ssh: second_factor = off" in weakened.stdout
    assert "warning web: public_url is https but secure_cookies is false" in weakened.stdout
    unparsable = run(initialised, "config", "check", env={"BASTION_SSH__LISTEN_PORT": "99999"})
    assert unparsable.returncode == 1
    assert unparsable.stdout.startswith("error   configuration:")
    assert "listen_port" in unparsable.stdout


@pytest.mark.parametrize("section", ["ssh", "web"])
def test_a_taken_port_stops_serve_with_one_line_naming_the_setting(
        initialised: Path, section: str) -> None:
    with socket.create_server(("127.0.0.1", 0)) as holder:
        taken = holder.getsockname()[1]
        ports = {"BASTION_SSH__LISTEN_PORT": str(free_port()),
                 "BASTION_WEB__LISTEN_PORT": str(free_port())}
        ports[f"BASTION_{section.upper()}__LISTEN_PORT"] = str(taken)
        # The real process: what is tested is how `serve` itself ends.
        result = run_process(initialised, "serve", env=ports, timeout=60)
        check = run(initialised, "config", "check", env=ports)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last == (f"bastion: cannot listen on 127.0.0.1:{taken}: the port is already in use; "
                    f"change [{section}] listen_host/listen_port "
                    f"(BASTION_{section.upper()}__LISTEN_PORT) or stop what holds the port")
    assert check.returncode == 1
    assert f"error   {section}: cannot listen on 127.0.0.1:{taken}" in check.stdout


def test_the_sqlite_database_and_its_journal_are_private(initialised: Path) -> None:
    files = [p for p in (initialised / "var").iterdir() if p.name.startswith("bastion.db")]
    assert files, "no database file"
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name


def test_the_demo_says_which_accounts_it_creates_and_asks_at_a_terminal() -> None:
    warning = account_creation_warning(["maint", "dbmaint"])
    assert "maint, dbmaint" in warning and "userdel -r" in warning
    assert "BASTION_DEMO_ACCOUNTS=no" in warning
    both = account_creation_warning(["maint"], ["/opt/medilogic"])
    assert "accounts maint and the folders /opt/medilogic (with a sample file each)" in both
    assert "userdel -r NAME; rm -r FOLDER" in both
    asked: list[str] = []

    def answer(reply: str):  # type: ignore[no-untyped-def]
        def ask(prompt: str) -> str:
            asked.append(prompt)
            return reply
        return ask

    assert may_create_accounts(["maint"], setting=None, interactive=True, ask=answer("y"))
    assert not may_create_accounts(["maint"], setting=None, interactive=True, ask=answer(""))
    assert len(asked) == 2
    assert not may_create_accounts(["maint"], setting="no", interactive=False, ask=answer("y"))
    assert may_create_accounts(["maint"], setting="yes", interactive=True, ask=answer("n"))
    # Unattended (CI): the warning was printed first, the run goes on.
    assert may_create_accounts(["maint"], setting=None, interactive=False, ask=answer("n"))
    assert may_create_accounts([], setting="no", interactive=True, ask=answer("n"))
    assert len(asked) == 2
