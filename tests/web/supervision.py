"""Helpers for the supervision pages' tests (requests, sessions, replay, grants): an
approvals world with a DPO and a technician who can sign in, the console signed in as any
of them, and sessions with real recordings written through the recording service."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import Flask, session
from flask.testing import FlaskClient
from sqlalchemy import select

from bastion.context import Bastion
from bastion.models import AuditEvent, Grant, SshSession, Target, Technician, utcnow
from bastion.recording import RecordingService
from bastion.recording.events import TerminalInfo
from bastion.staff import add_staff
from tests.approvals.conftest import ADMIN, World, build_world, password_hash
from web import signin_state
from web.identity import load_principal


def supervision_world(core: Bastion, tmp: Any) -> World:
    """alice, bob: approvers with keys; carol: approver and admin; dave: admin only;
    erin: DPO; technicians jdupont and kbenali of vendor acme (from the contract)."""
    world = build_world(core, tmp)
    with core.db.session() as db:
        erin = add_staff(db, core.audit, username="erin", full_name="Erin Dpo", roles=["dpo"],
                         password=None, email="erin@chu.example", actor=ADMIN)
        erin.password_hash = password_hash()
        world.staff["erin"] = erin.id
    for name in ("alice", "bob", "carol"):
        world.enrol(name)
    return world


def technician_id(core: Bastion, ident: str = "jdupont") -> int:
    with core.db.session() as db:
        return db.scalar(select(Technician.id).where(Technician.ident == ident))


def sign_in(app: Flask, client: FlaskClient, key: str) -> None:
    """``key``: ``staff:<id>`` or ``technician:<id>``, signed in as the console does it."""
    core: Bastion = app.extensions["bastion"]
    with app.test_request_context():
        with core.db.session() as db:
            principal = load_principal(db, key)
        assert principal is not None, key
        signin_state.complete(principal, "password+key")
        contents = dict(session)
    with client.session_transaction() as stored:
        stored.clear()
        stored.update(contents)


def as_staff(app: Flask, client: FlaskClient, world: World, name: str) -> None:
    sign_in(app, client, f"staff:{world.staff[name]}")


def csrf(client: FlaskClient, page: str = "/") -> str:
    html = client.get(page).get_data(as_text=True)
    marker = 'name="csrf-token" content="'
    start = html.index(marker) + len(marker)
    return html[start:html.index('"', start)]


def open_session(core: Bastion, *, technician: str = "jdupont", target: str = "dpi-app-01",
                 account: str = "maint", grant_id: int | None = None,
                 started_at: datetime | None = None) -> int:
    """A session row, as the proxy writes it when a connection is let in."""
    with core.db.session() as db:
        row = SshSession(technician_id=technician_id(core, technician),
                         target_id=db.scalar(select(Target.id).where(Target.name == target)),
                         account_name=account, client_address="192.0.2.10", node="test-node",
                         grant_id=grant_id, started_at=started_at or utcnow())
        db.add(row)
        db.flush()
        return row.id


# A shell session in steps: ("o", bytes) output, ("i", bytes) typed, ("m", {...}) marker,
# ("wait", seconds) time passing.
Step = tuple[str, Any]

SHELL = [
    ("o", b"maint@dpi-app-01:~$ "), ("wait", 0.3),
    ("i", b"ls /opt/dpi\r"), ("o", b"ls /opt/dpi\r\nadmission  facturation\r\nmaint@dpi-app-01:~$ "),
    ("wait", 0.6),
    ("i", b"systemctl restart dpi-admission\r"),
    ("o", b"systemctl restart dpi-admission\r\nmaint@dpi-app-01:~$ "), ("wait", 0.3),
    ("m", {"type": "sftp.transfer", "operation": "download", "path": "/var/log/dpi.log",
           "bytes": 1024, "sha256": "ab" * 32}),
    ("i", b"exit\r"), ("o", b"exit\r\nlogout\r\n"),
]


async def _record(service: RecordingService, session_id: int, steps: Sequence[Step],
                  close: str | None) -> int:
    recorder = await service.start(session_id, "shell", TerminalInfo(width=80, height=24,
                                                                      term="xterm"))
    for code, data in steps:
        if code == "o":
            await recorder.output(data)
        elif code == "i":
            await recorder.input(data)
        elif code == "m":
            await recorder.marker(data["type"], **{k: v for k, v in data.items() if k != "type"})
        elif code == "wait":
            await asyncio.sleep(data)
    if close is not None:
        await recorder.close(close)
    assert recorder.recording_id is not None
    return recorder.recording_id


def record(core: Bastion, session_id: int, steps: Sequence[Step] = SHELL,
           close: str | None = "client closed") -> int:
    """Write a real recording for the session (sealed and its commands indexed unless
    ``close`` is None: then it stays open, as a live session's)."""
    return asyncio.run(_record(RecordingService(core), session_id, steps, close))


def end_session(core: Bastion, session_id: int, status: str = "ended",
                reason: str = "client closed") -> None:
    with core.db.session() as db:
        row = db.get(SshSession, session_id)
        row.status, row.end_reason, row.ended_at = status, reason, utcnow()


def audit_for_session(core: Bastion, session_id: int, action: str, outcome: str,
                      **details: Any) -> None:
    """A policy event as the proxy writes it (command.flagged, forward.refused...)."""
    with core.db.session() as db:
        core.audit.append(db, action=action, outcome=outcome, session_id=session_id,
                          reasons=[details.pop("reason", "")], details=details)


def events(core: Bastion, action: str) -> list[AuditEvent]:
    with core.db.session() as db:
        return list(db.scalars(select(AuditEvent).where(AuditEvent.action == action)
                               .order_by(AuditEvent.id)))


@dataclass(frozen=True)
class Seeded:
    finished: int  # an ended session with a sealed recording, a flagged command
    live: int  # a live session with an open recording
    finished_recording: int
    live_recording: int


def seed_sessions(core: Bastion, grant_id: int | None = None) -> Seeded:
    finished = open_session(core, grant_id=grant_id)
    finished_recording = record(core, finished)
    audit_for_session(core, finished, "command.flagged", "allowed",
                      command="systemctl restart dpi-admission", reason="restarts are reviewed")
    end_session(core, finished)
    live = open_session(core, technician="kbenali", target="dpi-db-01", account="dbmaint")
    live_recording = record(core, live, [("o", b"dbmaint@dpi-db-01:~$ ")], close=None)
    return Seeded(finished, live, finished_recording, live_recording)


def make_grant(world: World, **file_args: Any) -> int:
    """A request approved through the real ceremony (alice's key): its grant's id."""
    info = world.file(**file_args)
    result = world.approve(info.id, "alice")
    assert result.grant is not None
    return result.grant.id


def grant_status(core: Bastion, grant_id: int) -> str:
    with core.db.session() as db:
        return db.get(Grant, grant_id).status
