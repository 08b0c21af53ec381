"""Helpers of the audit tests: a core with a small checkpoint interval, events to fill it,
and tampering the way an attacker with database superuser rights would do it (bypassing
the append-only triggers), on SQLite and PostgreSQL alike."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import Connection, select, text, update

from bastion.audit import Actor, AuditLog, event_hash
from bastion.audit.signing import keystore_signer
from bastion.context import Bastion
from bastion.db import Database
from bastion.models import AuditEvent
from bastion.models.audit import AuditCheckpoint

EVENTS = AuditEvent.__table__
CHECKPOINTS = AuditCheckpoint.__table__
INTERVAL = 10


def with_interval(core: Bastion, interval: int, seconds: float = 10 * 365 * 86400) -> Bastion:
    """The core writing checkpoints every ``interval`` events (as if configured so). The
    time rule (``seconds``) is out of the way unless a test is about it: tests backdate
    events, and a 390-day-old unsigned event rightly gets a checkpoint of its own."""
    core.audit = AuditLog(core.node, signer=keystore_signer(core.keys), checkpoint_every=interval,
                          checkpoint_seconds=seconds)
    return core


@pytest.fixture
def acore(any_core: Bastion) -> Iterator[Bastion]:
    """An initialised core (SQLite, then PostgreSQL) checkpointing every 10 events."""
    yield with_interval(any_core, INTERVAL)


def append(core: Bastion, count: int, *, start: int = 0, **fields: Any) -> None:
    with core.db.session() as session:
        for i in range(start, start + count):
            core.audit.append(session, action="test.event", outcome="ok",
                              actor=Actor("staff:alice", "approver"), reasons=[f"reason {i}"],
                              details={"i": i}, target="dpi-app-01", **fields)


def events(db: Database) -> list[dict[str, Any]]:
    with db.session() as session:
        return [row._asdict() for row in session.execute(select(*EVENTS.c).order_by(EVENTS.c.id))]


def checkpoints(db: Database) -> list[dict[str, Any]]:
    with db.session() as session:
        return [row._asdict() for row in
                session.execute(select(*CHECKPOINTS.c).order_by(CHECKPOINTS.c.id))]


def tamper(db: Database, change: Callable[[Connection], None]) -> None:
    """Run ``change`` with the append-only triggers out of the way, as a database
    superuser could: PostgreSQL's replica mode skips triggers for the transaction; on
    SQLite the triggers are dropped and put back in the same transaction."""
    with db.engine.begin() as connection:
        if db.is_postgresql:
            connection.execute(text("SET LOCAL session_replication_role = replica"))
            change(connection)
            return
        triggers = connection.execute(text(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' "
            "AND tbl_name IN ('audit_events', 'audit_checkpoints')")).all()
        assert triggers, "the append-only triggers should exist"
        for name, _ in triggers:
            connection.execute(text(f"DROP TRIGGER {name}"))
        change(connection)
        for _, sql in triggers:
            connection.execute(text(sql))


def rehash_from(connection: Connection, first_id: int, *, start_prev: str | None = None) -> None:
    """Recompute prev_hash and hash of every event from ``first_id`` on, the way an
    attacker hides an edit from the hash chain (but cannot re-sign checkpoints)."""
    rows = [row._asdict() for row in
            connection.execute(select(*EVENTS.c).where(EVENTS.c.id >= first_id).order_by(EVENTS.c.id))]
    prev = start_prev if start_prev is not None else connection.scalar(
        select(EVENTS.c.hash).where(EVENTS.c.id < first_id).order_by(EVENTS.c.id.desc()).limit(1))
    for row in rows:
        new_hash = event_hash(row, prev)
        connection.execute(update(EVENTS).where(EVENTS.c.id == row["id"])
                           .values(prev_hash=prev, hash=new_hash))
        prev = new_hash


def forged_event(prev_hash: str, at: datetime, **fields: Any) -> dict[str, Any]:
    row = {"at": at, "actor": "staff:mallory", "actor_role": "approver", "action": "grant.created",
           "outcome": "ok", "vendor": None, "technician": "jdupont", "target": "dpi-app-01",
           "account": None, "session_id": None, "request_id": None, "grant_id": None,
           "reasons": [], "details": {}, "node": "test-node", "message": None, **fields}
    row["prev_hash"] = prev_hash
    row["hash"] = event_hash(row, prev_hash)
    return row
