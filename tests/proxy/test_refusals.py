"""Who may not get in, and what they are told."""

from __future__ import annotations

import socket
import subprocess
import time

from sqlalchemy import select

from bastion.audit import Actor
from bastion.inventory import add_target
from bastion.models import AuditEvent, Grant, SshSession
from tests.harness.clients import OpenSshClient
from tests.proxy.conftest import TEST_LABELS, Scenario


def _last_event(scenario: Scenario, action: str) -> AuditEvent:
    with scenario.core.db.session() as s:
        return s.scalars(select(AuditEvent).where(AuditEvent.action == action)
                         .order_by(AuditEvent.id.desc())).first()


def test_unknown_technician_target_account_and_key_look_the_same(scenario: Scenario,
                                                                   tmp_path) -> None:  # type: ignore[no-untyped-def]
    stranger = OpenSshClient(tmp_path / "stranger")
    stranger.trust("127.0.0.1", scenario.proxy.port, scenario.proxy.host_key_line)
    attempts = {
        "unknown technician": (scenario.client, "nobody+dpi-app-01"),
        "unknown or disabled target": (scenario.client, "jdupont+dpi-nope"),
        "has no account": (scenario.client, "jdupont+dpi-app-01+root"),
        "is not registered": (stranger, "jdupont+dpi-app-01"),
        "malformed user name": (scenario.client, "jdupont"),
    }
    outputs = set()
    for expected_reason, (client, user) in attempts.items():
        result = client.ssh(user, "127.0.0.1", scenario.proxy.port, "true",
                            extra=["-o", "LogLevel=INFO"])
        assert result.returncode == 255
        outputs.add(result.stderr.decode().replace(user, "<user>"))
        event = _last_event(scenario, "login.refused")
        assert event.outcome == "denied"
        assert any(expected_reason in reason for reason in event.reasons), event.reasons
    # One message for all: nothing tells a stranger which part was wrong.
    assert len(outputs) == 1, outputs
    # Said before the technician is known: in ssh.banner_language, French by default.
    assert "accès refusé : technicien, cible ou compte inconnu" in outputs.pop()


def test_wrong_target_host_key_refuses(scenario: Scenario, core, tmp_path) -> None:  # type: ignore[no-untyped-def]
    with core.db.session() as s:
        add_target(s, core.audit, name="dpi-app-02", host="127.0.0.1",
                   port=scenario.target.port,
                   host_key="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOTbGOp7cf6ORfxPb1ZMu1P5H5GhYIbf+4kkhYr5BuYh",
                   accounts=[scenario.target.account], labels=TEST_LABELS,
                   data_categories=["administrative"], actor=Actor("test", "admin"))
    scenario.target_name = "dpi-app-02"
    scenario.grant()
    result = scenario.ssh("true")
    assert result.returncode == 1
    assert "the identity of target dpi-app-02 has changed" in result.stderr.decode()
    event = _last_event(scenario, "target.connection_failed")
    assert "host key mismatch" in event.reasons[0]


def test_target_down_times_out_with_a_clear_message(scenario: Scenario, core) -> None:  # type: ignore[no-untyped-def]
    # A listener that never answers the SSH greeting: the connect time-out must fire.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)
    with core.db.session() as s:
        add_target(s, core.audit, name="dpi-down", host="127.0.0.1",
                   port=silent.getsockname()[1], host_key=scenario.target.host_key_line,
                   accounts=[scenario.target.account], labels=TEST_LABELS,
                   data_categories=["administrative"], actor=Actor("test", "admin"))
    core.settings = core.settings.with_changes("ssh", target_connect_timeout_seconds=2)
    scenario.target_name = "dpi-down"
    scenario.grant()
    result = scenario.ssh("true")
    silent.close()
    assert result.returncode == 1
    assert "target dpi-down did not answer in 2 s" in result.stderr.decode()


def test_revocation_closes_a_live_session_within_two_seconds(scenario: Scenario, tmux) -> None:  # type: ignore[no-untyped-def]
    grant_id = scenario.grant()
    tmux.start(scenario.client.ssh_argv(scenario.user, "127.0.0.1", scenario.proxy.port,
                                        extra=["-t"]))
    tmux.type("PS1='dpi> '\n")
    tmux.wait_for(r"^dpi> $")
    with scenario.core.db.session() as s:
        grant = s.get(Grant, grant_id)
        grant.status = "revoked"
        grant.revoke_reason = "test revocation"
    revoked_at = time.monotonic()
    tmux.wait_for(r"session closed: access revoked: test revocation", timeout=5)
    while not tmux.pane_dead():
        time.sleep(0.05)
        assert time.monotonic() - revoked_at < 2.5
    with scenario.core.db.session() as s:
        row = s.scalars(select(SshSession)).one()
        for _ in range(50):
            s.refresh(row)
            if row.status != "live":
                break
            time.sleep(0.05)
        assert row.status == "terminated"
        assert "test revocation" in row.end_reason


def test_a_client_that_stops_reading_still_learns_why_its_session_ended(
        scenario: Scenario, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A slow terminal still busy with earlier output would lose the closing line when the
    connection ends after its grace time: the disconnect message carries it instead."""
    grant_id = scenario.grant()
    argv = scenario.client.ssh_argv(scenario.user, "127.0.0.1", scenario.proxy.port,
                                    "yes 0123456789 | head -c 20000000; sleep 600")
    stderr_path = tmp_path / "stderr"
    with open(stderr_path, "wb") as stderr:
        # Its output is never read: the client's buffers fill and the line queues behind.
        client = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=stderr)
        try:
            time.sleep(2)
            with scenario.core.db.session() as s:
                grant = s.get(Grant, grant_id)
                grant.status = "revoked"
                grant.revoke_reason = "test revocation"
            revoked_at = time.monotonic()
            client.wait(timeout=10)
            assert time.monotonic() - revoked_at < 3.0
        finally:
            client.kill()
            client.wait()
            assert client.stdout is not None
            client.stdout.close()
    told = stderr_path.read_text(errors="replace")
    assert "Received disconnect" in told and "access revoked: test revocation" in told, told


def test_out_of_scope_target_refused_in_one_line_with_every_reason_audited(
        scenario: Scenario, core) -> None:  # type: ignore[no-untyped-def]
    # A target holding health data, which the contract's data scope does not include, and
    # outside the contract's target selector too.
    with core.db.session() as s:
        add_target(s, core.audit, name="dpi-db-01", host="127.0.0.1", port=scenario.target.port,
                   host_key=scenario.target.host_key_line, accounts=[scenario.target.account],
                   labels={"role": "db"}, data_categories=["administrative", "health", "ins"],
                   actor=Actor("test", "admin"))
    result = scenario.ssh("true", user="jdupont+dpi-db-01")
    assert result.returncode == 1
    lines = result.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bastion: ")
    assert "dpi-db-01" in lines[0]
    event = _last_event(scenario, "channel.refused")
    assert event.outcome == "denied" and event.target == "dpi-db-01"
    joined = " | ".join(event.reasons)
    assert "health" in joined and "ins" in joined  # the data categories outside the scope
    assert len(event.reasons) >= 2  # every reason, not just the first
    assert {"target_out_of_scope", "data_out_of_scope"} <= set(event.details["codes"])
