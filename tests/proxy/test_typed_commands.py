"""Command rules on interactive shells, typed as a technician types them: the real ``ssh``
client in tmux, through the proxy, to a real sshd. A line a deny rule matches is never
entered on the target; a line a flag rule matches runs and is flagged while the session
is still live."""

from __future__ import annotations

import asyncio
import io
import json
import re
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient
from sqlalchemy import select

from bastion import controls
from bastion.audit import Actor
from bastion.cli import main_group
from bastion.contracts import Constraints, check_command
from bastion.models import AuditEvent, Grant, Recording, SshSession, utcnow
from bastion.proxy.typed_commands import CANCEL_LINE, MASKED_LINE, TypedCommands, refusal_line
from bastion.recording import RecordingService
from tests.harness.sealed import opened
from tests.proxy.conftest import Scenario
from tests.web.conftest import make_staff
from web.app import create_app
from web.identity import load_principal
from web.signin_state import complete

TOUCH_RULE = {"pattern": r"\btouch\b", "action": "deny", "case_sensitive": False,
              "reason": "creating files is not part of this maintenance"}


def _grant_with_touch_rule(scenario: Scenario) -> None:
    grant_id = scenario.grant()
    with scenario.core.db.session() as s:
        grant = s.get(Grant, grant_id)
        grant.scope = {**grant.scope, "command_rules": [*grant.scope["command_rules"], TOUCH_RULE]}


def _shell(scenario: Scenario, tmux) -> None:  # type: ignore[no-untyped-def]
    tmux.start(scenario.client.ssh_argv(scenario.user, "127.0.0.1", scenario.proxy.port,
                                        extra=["-t"]), width=120, height=30)
    tmux.type("PS1='dpi> '\n")
    tmux.wait_for(r"^dpi> $")


def _events(scenario: Scenario, action: str) -> list[AuditEvent]:
    with scenario.core.db.session() as s:
        rows = list(s.scalars(select(AuditEvent).where(AuditEvent.action == action)
                              .order_by(AuditEvent.id)))
        return opened(scenario.core, s, rows)


def _live_session_id(scenario: Scenario) -> int:
    with scenario.core.db.session() as s:
        row = s.scalars(select(SshSession).where(SshSession.status == "live")).one()
        return row.id


def test_a_typed_deny_command_never_reaches_the_target(scenario: Scenario, tmux) -> None:  # type: ignore[no-untyped-def]
    _grant_with_touch_rule(scenario)
    _shell(scenario, tmux)
    # In /tmp: the target's account can write there (the test's own folders are not its).
    victim = Path(f"/tmp/typed-{uuid.uuid4().hex}")

    # Typed key by key, as a person would, then Enter.
    for key in f"touch {victim}":
        tmux.type(key)
    tmux.wait_for(re.escape(f"dpi> touch {victim}"))
    tmux.press("Enter")
    tmux.wait_for(r"^bastion: command refused: creating files is not part of this maintenance; "
                  r"the line was cancelled, the session goes on\.$")
    # Audited before the refusal was shown: it is there as soon as the line is on screen.
    [refused] = _events(scenario, "command.refused")
    assert refused.outcome == "denied"
    assert refused.details["command"] == f"touch {victim}"
    assert refused.details["rule"] == r"\btouch\b" and refused.details["channel"] == "shell"
    assert refused.reasons == ["creating files is not part of this maintenance"]

    # After an output flood (only its end is emulated), and pasted at once, Enter
    # included (ahead of any echo): refused all the same.
    tmux.type("seq 1 30000\n")
    tmux.wait_for(r"^30000$")
    tmux.type(f"touch {victim}-pasted\n")
    # The shell's echo of the pasted line and the refusal race (the cancel keys may erase
    # the echo before it is drawn): either order is right, the refusal must show.
    tmux.wait_for(r"^dpi> (" + re.escape(f"touch {victim}-pasted") + r")?\s*\nbastion: command refused: ")
    # The shell is usable afterwards, and neither file was created.
    tmux.type("echo still-$((40+2))\n")
    tmux.wait_for(r"^still-42$")
    assert not victim.exists() and not Path(f"{victim}-pasted").exists()
    assert len(_events(scenario, "command.refused")) == 2
    # The account could have written there: an allowed line does.
    tmux.type(f"echo written > {victim}-allowed\n")
    tmux.type(f"cat {victim}-allowed\n")
    tmux.wait_for(r"^written$")
    assert Path(f"{victim}-allowed").read_text() == "written\n"
    Path(f"{victim}-allowed").unlink()
    tmux.type("exit 0\n")

    # The refusal was shown, so it is in the recording; the cancelled lines were never
    # entered, so the command index has only the lines that ran.
    recording_id = _sealed_recording(scenario)
    out = io.StringIO()
    RecordingService(scenario.core).export(recording_id, out, Actor("staff:dpo", "dpo"))
    shown = "".join(json.loads(line)[2] for line in out.getvalue().splitlines()[1:]
                    if json.loads(line)[1] == "o")
    assert shown.count("bastion: command refused: creating files is not part of this") == 2
    indexed = [c.text for c in RecordingService(scenario.core).index_commands(recording_id)]
    assert "echo still-$((40+2))" in indexed
    assert not [text for text in indexed if text.startswith("touch")], indexed


def test_a_shell_started_by_exec_on_a_terminal_is_checked_too(scenario: Scenario,  # type: ignore[no-untyped-def]
                                                               tmux) -> None:
    # `ssh -t ... bash` is an exec channel whose command (bash) passes the rules; what is
    # then typed in it must not escape them.
    scenario.grant()
    tmux.start(scenario.client.ssh_argv(scenario.user, "127.0.0.1", scenario.proxy.port,
                                        "bash", "--norc", "-i", extra=["-t"]), width=120, height=30)
    tmux.type("PS1='exec> '\n")
    tmux.wait_for(r"^exec> $")
    tmux.type("echo pg_dump dpi | sed s/^/ran:/\n")
    tmux.wait_for(r"^bastion: command refused: dumping the database is forbidden; ")
    tmux.type("echo after\n")
    tmux.wait_for(r"^after$")
    assert not re.search(r"^ran:", tmux.screen(), re.M)  # the pipeline never ran
    [refused] = _events(scenario, "command.refused")
    assert refused.details["command"] == "echo pg_dump dpi | sed s/^/ran:/"
    assert refused.details["channel"] == "exec"  # where the replay finds it
    tmux.type("exit 0\n")
    _sealed_recording(scenario)


def test_a_refusal_that_cannot_be_audited_ends_the_session(scenario: Scenario, tmux) -> None:  # type: ignore[no-untyped-def]
    # The database rejects the refusal's audit event (as a full disk or a broken database
    # would): the line still never runs, and the session ends rather than go on unaudited.
    _grant_with_touch_rule(scenario)
    _shell(scenario, tmux)
    with scenario.core.db.engine.begin() as connection:
        connection.exec_driver_sql(
            "CREATE TRIGGER refuse_command_audit BEFORE INSERT ON audit_events "
            "WHEN NEW.action = 'command.refused' BEGIN SELECT RAISE(ABORT, 'disk full'); END")
    victim = Path(f"/tmp/typed-{uuid.uuid4().hex}")
    tmux.type(f"touch {victim}\n")
    tmux.wait_for(r"session closed: a command decision could not be recorded", timeout=10)
    assert not victim.exists()
    assert _events(scenario, "command.refused") == []
    _sealed_recording(scenario)


def _sealed_recording(scenario: Scenario) -> int:
    """The session's one recording, once the channel has ended and sealed it."""
    for _ in range(200):
        with scenario.core.db.session() as s:
            row = s.scalars(select(Recording)).one_or_none()
            if row is not None and row.sealed_at is not None:
                return row.id
        time.sleep(0.05)
    raise AssertionError("the recording was not sealed")


def test_a_typed_flag_command_is_flagged_while_the_session_is_live(scenario: Scenario,  # type: ignore[no-untyped-def]
                                                                   tmux) -> None:
    scenario.grant()
    started = utcnow()
    _shell(scenario, tmux)
    tmux.type("sudo -n true 2>/dev/null; echo flagged-ran\n")
    tmux.wait_for(r"^flagged-ran$")
    session_id = _live_session_id(scenario)  # still live: the flag does not wait for its end

    [flagged] = _events(scenario, "command.flagged")
    assert flagged.outcome == "allowed" and flagged.session_id == session_id
    assert flagged.details["command"] == "sudo -n true 2>/dev/null; echo flagged-ran"
    # What `bastion reports flags` lists, located in the shell's recording.
    found = controls.compute_flags(scenario.core, since=started - timedelta(minutes=1),
                                   until=utcnow() + timedelta(minutes=1),
                                   kinds=[controls.COMMAND_RULE])
    assert [f.details["command"] for f in found] == [flagged.details["command"]]
    assert found[0].moment is not None and found[0].moment.recording_id is not None
    listed = CliRunner().invoke(main_group, ["reports", "flags", "--kind", "command_rule",
                                             "--language", "en"], env={
        "BASTION_PATHS__VAR_DIR": str(scenario.core.settings.var_dir)})
    assert listed.exit_code == 0, listed.output
    assert "sudo -n true 2>/dev/null; echo flagged-ran" in listed.output
    assert f"[session {session_id} recording {found[0].moment.recording_id}@" in listed.output

    # The approver watching the session sees it on the live page.
    app = create_app(scenario.core, {"TESTING": True})
    approver = make_staff(scenario.core, "approbateur", ["approver"])
    with app.test_client() as client:
        _sign_in(app, client, approver)
        page = client.get(f"/sessions/{session_id}/watch",
                          query_string={"purpose": "supervising the flagged maintenance"})
        assert page.status_code == 200
        html = page.get_data(as_text=True)
        assert "sudo -n true 2&gt;/dev/null; echo flagged-ran" in html
        assert "privileged commands are reviewed" in html
        assert "Commandes relevées par les règles du contrat" in html
    tmux.type("exit 0\n")
    _sealed_recording(scenario)


def _sign_in(app, client: FlaskClient, staff_id: int) -> None:  # type: ignore[no-untyped-def]
    core = app.extensions["bastion"]
    with app.test_request_context():
        with core.db.session() as db:
            principal = load_principal(db, f"staff:{staff_id}")
        assert principal is not None
        complete(principal, "password+key")
        from flask import session
        contents = dict(session)
    with client.session_transaction() as stored:
        stored.clear()
        stored.update(contents)


# --- the gate's bookkeeping, with the real reader and engine but no SSH -----------------

TEST_SCOPE = {
    "account": "maint", "not_before": "2026-01-01T00:00:00+00:00",
    "latest_end": "2099-01-01T00:00:00+00:00", "channels": ["shell"],
    "sftp": {"access": "none", "allow": [], "deny": []}, "forwards": [],
    "approvers_required": 1, "break_glass": False, "break_glass_allowed": False,
    "break_glass_max_minutes": 60, "max_session_minutes": 60, "idle_timeout_minutes": None,
    "contract_reference": "TEST-1", "time_zone": "Europe/Paris"}
RULES = Constraints.from_dict({
    **TEST_SCOPE, "command_rules": [
        TOUCH_RULE, {"pattern": r"\bsudo\b", "action": "flag", "case_sensitive": False,
                     "reason": "privileged commands are reviewed"}]})


def _gate() -> tuple[TypedCommands, list[tuple[str, object]]]:
    happened: list[tuple[str, object]] = []

    async def report(action: str, details: dict[str, object], outcome: str) -> None:
        happened.append((action, details["command"]))

    gate = TypedCommands(lambda line: check_command(RULES, line), report, "shell", 80, 24)
    gate.shown(b"$ ")
    return gate, happened


def _type(gate: TypedCommands, happened: list[tuple[str, object]], data: bytes) -> None:
    async def send(piece: bytes) -> None:
        happened.append(("sent", piece))

    async def show(line: bytes) -> None:
        happened.append(("shown", line))

    asyncio.run(gate.forward_keys(data, send, show))


@pytest.mark.parametrize(("typed", "expected"), [
    # Keys forwarded as they come, the allowed Enter too.
    (b"ls -l\r", [("sent", b"ls -l\r")]),
    # A denied line: its keys went, its Enter never does; the line is cancelled instead.
    (b"touch /x\r", [("sent", b"touch /x"), ("command.refused", "touch /x"),
                     ("shown", refusal_line(TOUCH_RULE["reason"])), ("sent", CANCEL_LINE)]),
    # A flagged line is reported, then runs (with the keys typed ahead after it).
    (b"sudo -i\rid", [("command.flagged", "sudo -i"), ("sent", b"sudo -i\rid")]),
    # A flagged line after a line already entered: the trail has the flag before its Enter.
    (b"ls\rsudo -i\r", [("command.flagged", "sudo -i"), ("sent", b"ls\rsudo -i\r")]),
    # Pasted lines: each is judged alone, the allowed one after the denied one runs.
    (b"TOUCH y\rpwd\r", [("sent", b"TOUCH y"), ("command.refused", "TOUCH y"),
                         ("shown", refusal_line(TOUCH_RULE["reason"])), ("sent", CANCEL_LINE),
                         ("sent", b"pwd\r")]),
    # An empty Enter, and a line abandoned with Ctrl-C, are not commands.
    (b"\rtouch z\x03\r", [("sent", b"\rtouch z\x03\r")]),
])
def test_the_gate_keeps_only_a_denied_enter(typed: bytes, expected: list[tuple[str, object]]) -> None:
    gate, happened = _gate()
    _type(gate, happened, typed)
    assert happened == expected


def test_a_line_typed_at_a_password_prompt_is_judged_but_not_stored() -> None:
    gate, happened = _gate()
    gate.shown(b"\r\n[sudo] password for maint: ")
    _type(gate, happened, b"touch-me\r")
    assert ("command.refused", MASKED_LINE) in happened
    assert not [item for item in happened if item[0] != "sent" and "touch-me" in str(item[1])]
