"""Grants end on time (warning first), idle sessions close, the session row says why."""

from __future__ import annotations

import time
from datetime import timedelta

from sqlalchemy import select

from bastion.models import Grant, SshSession, utcnow
from tests.proxy.conftest import Scenario


def _session_row(scenario: Scenario) -> SshSession:
    for _ in range(100):
        with scenario.core.db.session() as s:
            row = s.scalars(select(SshSession)).first()
            if row is not None and row.status != "live":
                return row
        time.sleep(0.05)
    raise AssertionError("the session row was not closed")


def test_warning_then_close_at_grant_end(scenario: Scenario, tmux) -> None:  # type: ignore[no-untyped-def]
    grant_id = scenario.grant()
    with scenario.core.db.session() as s:
        s.get(Grant, grant_id).not_after = utcnow() + timedelta(seconds=4)
    tmux.start(scenario.client.ssh_argv(scenario.user, "127.0.0.1", scenario.proxy.port,
                                        extra=["-t"]))
    tmux.type("PS1='dpi> '\n")
    tmux.wait_for(r"your access to dpi-app-01 ends in 1 min")
    tmux.wait_for(r"session closed: the access window has ended", timeout=10)
    row = _session_row(scenario)
    assert row.status == "terminated" and row.end_reason == "the access window has ended"


def test_idle_session_is_closed(scenario: Scenario, tmux) -> None:  # type: ignore[no-untyped-def]
    scenario.grant()
    tmux.start(scenario.client.ssh_argv(scenario.user, "127.0.0.1", scenario.proxy.port,
                                        extra=["-t"]))
    tmux.type("PS1='dpi> '\n")
    tmux.wait_for(r"^dpi> $")
    # Pretend the last keystroke was an hour ago; the watchdog does the rest.
    for connection in scenario.proxy.service.connections:
        connection.last_activity = time.monotonic() - 3600
    tmux.wait_for(r"session closed: idle for more than 30 minutes", timeout=5)
    assert "idle" in _session_row(scenario).end_reason
