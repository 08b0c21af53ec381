"""The append-only, hash-chained audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, UTCDateTime


class AuditEvent(Base):
    """One decision or action. ``hash`` covers every other column and ``prev_hash``, so
    changing, inserting, deleting or reordering rows breaks the chain at that row.
    The database itself refuses UPDATE and DELETE on this table (see the migrations)."""

    __tablename__ = "audit_events"
    # Never reuse an id on SQLite, even once a purge has emptied the table (see 0003).
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    actor: Mapped[str] = mapped_column(String(100))
    actor_role: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(64), index=True)
    outcome: Mapped[str] = mapped_column(String(16))
    vendor: Mapped[str | None] = mapped_column(String(64))
    technician: Mapped[str | None] = mapped_column(String(64), index=True)
    target: Mapped[str | None] = mapped_column(String(100), index=True)
    account: Mapped[str | None] = mapped_column(String(64))
    session_id: Mapped[int | None] = mapped_column(Integer)
    request_id: Mapped[int | None] = mapped_column(Integer)
    grant_id: Mapped[int | None] = mapped_column(Integer)
    reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    node: Mapped[str] = mapped_column(String(100))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    message: Mapped[str | None] = mapped_column(Text)


class AuditCheckpoint(Base):
    """A signed statement "the chain's event ``event_id`` has hash ``event_hash`` and is
    the ``event_count``-th event since the log began". Someone able to rewrite the table
    (recomputing every hash) cannot produce these signatures without the bastion's audit
    signing key, so verification catches the rewrite at the next checkpoint.

    ``kind`` is ``periodic`` (every ``audit.checkpoint_every`` events), ``manual`` (on
    demand) or ``anchor`` (the last event a retention purge removed: where verification
    starts afterwards). Rows are never changed or deleted (triggers, see the migrations);
    ``event_id`` is not a foreign key because purged events are gone."""

    __tablename__ = "audit_checkpoints"
    __table_args__ = (UniqueConstraint("kind", "event_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    event_id: Mapped[int] = mapped_column(Integer, index=True)
    event_hash: Mapped[str] = mapped_column(String(64))
    event_count: Mapped[int] = mapped_column(Integer)
    # checkpoint_every in force when written: lets verification tell "checkpoints were
    # deleted" from "the interval was larger then".
    interval: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    node: Mapped[str] = mapped_column(String(100))
    key_id: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(String(128))


class AuditPurgePermit(Base):
    """SQLite only: while a row here allows it, the DELETE trigger on ``audit_events`` lets
    a retention purge remove events up to ``up_to_event_id``. The purge inserts and removes
    its row inside its own transaction, so no permit is ever visible to anyone else.
    (PostgreSQL uses a transaction-local setting instead; the table exists there unused so
    both schemas match the models.)"""

    __tablename__ = "audit_purge_permits"

    id: Mapped[int] = mapped_column(primary_key=True)
    up_to_event_id: Mapped[int] = mapped_column(Integer)


class AuditForwardState(Base):
    """How far the SIEM forwarder got, per destination (``udp://host:514``): the last event
    id delivered. A new destination starts from the oldest event still kept."""

    __tablename__ = "audit_forward_state"

    destination: Mapped[str] = mapped_column(String(300), primary_key=True)
    last_event_id: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
