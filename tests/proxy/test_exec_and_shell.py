from __future__ import annotations

from tests.proxy.conftest import Scenario


def test_exec_exit_status_and_stderr(scenario: Scenario) -> None:
    scenario.grant()
    result = scenario.ssh("echo out; echo err >&2; exit 3")
    assert result.returncode == 3, result.stderr
    assert result.stdout == b"out\n"
    assert result.stderr == b"err\n"


def test_no_grant_in_batch_mode_says_so_in_one_line(scenario: Scenario) -> None:
    # Without a grant the bastion asks for a reason by keyboard-interactive; a client in
    # batch mode cannot answer, and is told why before it gives up.
    result = scenario.ssh("true", extra=["-o", "LogLevel=INFO"])
    assert result.returncode == 255
    lines = result.stderr.decode().strip().splitlines()
    assert lines[0].startswith("bastion: no active grant for dpi-app-01: answer the questions")


def test_interactive_shell_in_tmux(scenario: Scenario, tmux) -> None:  # type: ignore[no-untyped-def]
    scenario.grant()
    tmux.start(scenario.client.ssh_argv(scenario.user, "127.0.0.1", scenario.proxy.port,
                                        extra=["-t"]), width=100, height=30)
    tmux.type("PS1='dpi> '\n")
    tmux.wait_for(r"^dpi> $")
    tmux.type("echo $((6*7)); false; echo status=$?\n")
    tmux.wait_for(r"^42$")
    tmux.wait_for(r"^status=1$")
    tmux.type("stty size\n")
    tmux.wait_for(r"^30 100$")
    tmux.resize(80, 24)
    tmux.type("stty size\n")
    tmux.wait_for(r"^24 80$")
    tmux.type("echo $TERM\n")
    tmux.wait_for(r"^(screen|tmux)")
    tmux.type("exit 0\n")


def test_stdin_streams_through_exec(scenario: Scenario) -> None:
    scenario.grant()
    payload = bytes(range(256)) * 4096
    result = scenario.ssh("sha256sum", input=payload)
    import hashlib

    assert result.returncode == 0
    assert result.stdout.split()[0].decode() == hashlib.sha256(payload).hexdigest()
