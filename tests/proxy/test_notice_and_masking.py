"""Every session is told it is recorded (and that is logged); what is typed at a password
prompt is masked in the recording and in the extracted commands, the typing itself kept."""

from __future__ import annotations

import io
import json
import time

from sqlalchemy import select

from bastion.audit import Actor
from bastion.models import AuditEvent, RecordedCommand, Recording
from bastion.recording import RecordingService
from tests.proxy.conftest import Scenario

DPO = Actor("staff:dpo", "dpo")
SECRET = "Tr3s-S3cret-Passw0rd"


def _events(scenario: Scenario, action: str) -> list[AuditEvent]:
    with scenario.core.db.session() as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def test_banner_and_terminal_notice_are_shown_recorded_and_logged(scenario: Scenario, tmux) -> None:  # type: ignore[no-untyped-def]
    scenario.speak("fr")
    scenario.grant()
    batch = scenario.ssh("true", extra=["-o", "LogLevel=INFO"])
    assert "les sessions vers dpi-app-01 sont enregistrées" in batch.stderr.decode()
    assert batch.stdout == b""  # the data stream is untouched
    tmux.start(scenario.client.ssh_argv(scenario.user, "127.0.0.1", scenario.proxy.port,
                                        extra=["-t"]))
    tmux.wait_for(r"Session enregistrée : dpi-app-01 \(maint\), jusqu'à .* contrat TEST-1")
    tmux.type("exit\n")
    where = {e.details["where"] if "where" in e.details else "terminal"
             for e in _events(scenario, "session.notice_shown")}
    assert where == {"ssh banner", "terminal"}


def test_password_typed_at_a_real_prompt_is_masked(scenario: Scenario, tmux) -> None:  # type: ignore[no-untyped-def]
    scenario.grant()
    tmux.start(scenario.client.ssh_argv(scenario.user, "127.0.0.1", scenario.proxy.port,
                                        extra=["-t"]))
    tmux.type("PS1='dpi> '\n")
    tmux.wait_for(r"^dpi> $")
    tmux.type("su root -c true\n")  # a real program asking for a password
    tmux.wait_for(r"Password: $")
    tmux.type(SECRET + "\n")
    tmux.wait_for(r"su: Authentication failure")
    tmux.type("echo after-the-prompt\n")
    tmux.wait_for(r"^after-the-prompt$")
    tmux.type("exit\n")
    deadline = time.monotonic() + 30
    while not tmux.pane_dead():
        assert time.monotonic() < deadline, tmux.screen()
        time.sleep(0.1)
    with scenario.core.db.session() as s:
        recording_id = s.scalars(select(Recording.id).where(Recording.channel == "shell")).one()
    for _ in range(300):  # commands are indexed when the recording is sealed
        with scenario.core.db.session() as s:
            commands = [scenario.core.traces.command_text(s, c) for c in s.scalars(select(RecordedCommand).where(
                RecordedCommand.recording_id == recording_id).order_by(RecordedCommand.id))]
        if commands:
            break
        time.sleep(0.05)
    out = io.StringIO()
    RecordingService(scenario.core).export(recording_id, out, DPO, include_input=True)
    typed = "".join(json.loads(line)[2] for line in out.getvalue().splitlines()[1:]
                    if json.loads(line)[1] == "i")
    assert SECRET not in typed and SECRET not in out.getvalue()
    assert "*" * len(SECRET) in typed  # the fact that a password was typed is kept
    assert "su root -c true" in commands and "echo after-the-prompt" in commands, (commands, out.getvalue()[-1500:])
    assert not any(SECRET in c for c in commands)
