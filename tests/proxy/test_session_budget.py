"""A session's output budget counts every channel of its connection (and, when set, every
connection of the grant); a spent budget or a recording that can no longer be written ends
even an idle interactive session within 2 s, says which of the two in one line, is audited,
closes the session row, and the next session works."""

from __future__ import annotations

import errno
import os
import re
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bastion.models import AuditEvent, SshSession
from tests.harness.tmux import TmuxSession
from tests.proxy.conftest import RunningProxy, Scenario

BUDGET_LINE = "reached its output budget"
STORAGE_LINE = "can no longer be recorded"
MIB = 1024 * 1024


@pytest.fixture
def restart_proxy(scenario: Scenario) -> Iterator[Callable[..., RunningProxy]]:
    """The proxy again, with settings changed: the budget is read when the proxy starts."""
    started: list[RunningProxy] = []

    def restart(section: str, **changes: Any) -> RunningProxy:
        scenario.proxy.stop()
        scenario.core.settings = scenario.core.settings.with_changes(section, **changes)
        proxy = RunningProxy(scenario.core)
        scenario.client.trust("127.0.0.1", proxy.port, proxy.host_key_line)
        scenario.proxy = proxy
        started.append(proxy)
        return proxy

    yield restart
    for proxy in started:
        proxy.stop()


def _events(scenario: Scenario, action: str) -> list[AuditEvent]:
    with scenario.core.db.session() as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.action == action)
                              .order_by(AuditEvent.id)))


def _sessions(scenario: Scenario) -> list[SshSession]:
    with scenario.core.db.session() as s:
        return list(s.scalars(select(SshSession).order_by(SshSession.id)))


def _recording_errors(scenario: Scenario, kind: str) -> float:
    registry = scenario.core.metrics.registry
    return registry.get_sample_value("bastion_recording_errors_total", {"kind": kind}) or 0.0


def _wait(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not after {timeout} s")
        time.sleep(0.05)


def _ends_within_two_seconds(scenario: Scenario, tmux: TmuxSession, action: str) -> AuditEvent:
    """Once the stop is audited (the output that crosses may take a while to arrive), the
    interactive session must be gone within 2 s: the client has left and the row is closed."""
    (event,) = _wait(lambda: _events(scenario, action), 120, f"no {action} event")
    _wait(lambda: tmux.pane_dead() and _sessions(scenario)[-1].status != "live", 2.0,
          "the interactive session is still open 2 s after the stop")
    return event


def _screen_once_it_shows(tmux: TmuxSession, line: str) -> str:
    """The terminal once ``line`` is drawn: the line comes after the output's last bytes,
    and under load tmux may not have drawn it yet when the session is recorded as ended."""
    tmux.wait_for(re.escape(line), timeout=10)
    return tmux.screen()


def _start_shell(scenario: Scenario, tmux: TmuxSession) -> None:
    # At the stock client's log level (the harness's is ERROR), as a technician's: it prints
    # the disconnect message, which carries the stop's line too. A client still drawing a
    # flood's tail when the connection ends drops what it holds, the line with it (a loaded
    # clean-clone run showed the session ended and no line on screen).
    tmux.start(scenario.client.ssh_argv(scenario.user, "127.0.0.1", scenario.proxy.port,
                                        extra=["-t", "-o", "LogLevel=INFO"]))
    tmux.type("PS1='dpi> '\n")
    tmux.wait_for(r"^dpi> ")


def test_a_spent_budget_ends_an_interactive_session_and_the_next_one_works(
        scenario: Scenario, restart_proxy: Callable[..., RunningProxy], tmux: TmuxSession) -> None:
    restart_proxy("recording", session_budget_mb=50)
    scenario.grant()
    _start_shell(scenario, tmux)
    # 60 MB of output, then the shell waits at its prompt: nothing more comes from the target
    # to show the relay that its forwarder has stopped.
    tmux.type("yes 0123456789abcdefghijklmnopqrstuvwxyz | head -c 60000000; sleep 600\n")
    event = _ends_within_two_seconds(scenario, tmux, "recording.budget_spent")
    screen = _screen_once_it_shows(tmux, BUDGET_LINE)
    assert BUDGET_LINE in screen and "50 MB" in screen, screen
    assert STORAGE_LINE not in screen
    assert event.outcome == "denied" and event.details["budget_bytes"] == 50 * MIB
    assert _recording_errors(scenario, "budget") >= 1
    session = _sessions(scenario)[-1]
    assert session.status == "terminated" and "budget" in session.end_reason
    nxt = scenario.ssh("echo next")
    assert nxt.returncode == 0 and nxt.stdout == b"next\n", nxt.stderr


def _fill(path: Path) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(fd, b"\0" * 512)
    except OSError as exc:
        assert exc.errno == errno.ENOSPC, exc
    finally:
        os.close(fd)


def test_a_full_disk_ends_an_interactive_session_with_the_storage_reason(
        scenario: Scenario, restart_proxy: Callable[..., RunningProxy], tmux: TmuxSession,
        tiny_recordings_dir: Path) -> None:
    restart_proxy("paths", recordings_dir=tiny_recordings_dir)
    scenario.grant()
    _start_shell(scenario, tmux)
    # Random text does not compress: 400 kB of it cannot fit in 256 kB.
    tmux.type("head -c 300000 /dev/urandom | base64; sleep 600\n")
    event = _ends_within_two_seconds(scenario, tmux, "recording.failed")
    screen = _screen_once_it_shows(tmux, STORAGE_LINE)
    assert STORAGE_LINE in screen and BUDGET_LINE not in screen, screen
    assert event.outcome == "error" and event.details["error"]
    assert _recording_errors(scenario, "storage") >= 1 and _recording_errors(scenario, "budget") == 0
    session = _sessions(scenario)[-1]
    assert session.status == "terminated" and "recording" in session.end_reason
    # While the disk is full (to the last byte: the failed write may have left a little
    # room), a new session is refused, saying why: no recording, no relay.
    _fill(tiny_recordings_dir / "filler")
    refused = scenario.ssh("echo next")
    assert refused.returncode != 0 and refused.stdout == b""
    assert STORAGE_LINE in refused.stderr.decode(), refused.stderr
    # The hospital's IT grows the disk: the next session works, on the same bastion.
    subprocess.run(["mount", "-o", "remount,size=64m", str(tiny_recordings_dir)], check=True)
    nxt = scenario.ssh("echo next")
    assert nxt.returncode == 0 and nxt.stdout == b"next\n", nxt.stderr


def test_multiplexed_channels_share_one_budget(
        scenario: Scenario, restart_proxy: Callable[..., RunningProxy], tmux: TmuxSession) -> None:
    restart_proxy("recording", session_budget_mb=8)
    scenario.grant()
    control = Path(tempfile.mkdtemp(prefix="cm-")) / "c"
    mux = ["-o", f"ControlPath={control}"]
    # The ControlMaster is an interactive shell; the exec channels ride on its connection.
    tmux.start(scenario.client.ssh_argv(scenario.user, "127.0.0.1", scenario.proxy.port,
                                        extra=["-M", "-t", *mux]))
    tmux.type("PS1='dpi> '\n")
    tmux.wait_for(r"^dpi> ")
    # Three channels of 3 MB over one connection: 9 MB against a budget of 8 MiB.
    results = [scenario.ssh("head -c 3000000 /dev/zero", extra=mux) for _ in range(3)]
    assert [r.returncode for r in results[:2]] == [0, 0]
    assert [len(r.stdout) for r in results[:2]] == [3_000_000, 3_000_000]
    assert results[2].returncode != 0 and len(results[2].stdout) < 3_000_000
    assert BUDGET_LINE in results[2].stderr.decode(), results[2].stderr
    # The idle shell of the same connection ends with it, told why.
    event = _ends_within_two_seconds(scenario, tmux, "recording.budget_spent")
    screen = _screen_once_it_shows(tmux, BUDGET_LINE)
    assert BUDGET_LINE in screen and "connection" in screen, screen
    (session,) = _sessions(scenario)
    assert session.status == "terminated" and "budget" in session.end_reason
    assert event.session_id == session.id and event.details["scope"] == "connection"


def test_the_grant_scope_counts_every_connection_of_the_grant(
        scenario: Scenario, restart_proxy: Callable[..., RunningProxy]) -> None:
    restart_proxy("recording", session_budget_mb=8, budget_scope="grant")
    scenario.grant()
    first = scenario.ssh("head -c 5000000 /dev/zero")
    assert first.returncode == 0 and len(first.stdout) == 5_000_000, first.stderr
    second = scenario.ssh("head -c 5000000 /dev/zero")
    assert second.returncode != 0 and len(second.stdout) < 5_000_000
    assert BUDGET_LINE in second.stderr.decode() and "grant" in second.stderr.decode()
    (event,) = _events(scenario, "recording.budget_spent")
    assert event.details["scope"] == "grant"
    # Once spent, the grant's budget stays spent: a new connection shows nothing more.
    third = scenario.ssh("echo more")
    assert third.returncode != 0 and third.stdout == b""
    assert BUDGET_LINE in third.stderr.decode()


def test_the_connection_scope_gives_each_connection_its_own_budget(
        scenario: Scenario, restart_proxy: Callable[..., RunningProxy]) -> None:
    restart_proxy("recording", session_budget_mb=8)
    scenario.grant()
    for _ in range(2):
        done = scenario.ssh("head -c 5000000 /dev/zero")
        assert done.returncode == 0 and len(done.stdout) == 5_000_000, done.stderr
