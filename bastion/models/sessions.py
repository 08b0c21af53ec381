"""SSH sessions through the bastion, their recordings and extracted commands."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Boolean, Float, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, UTCDateTime, utcnow
from .inventory import Target
from .people import Technician

SESSION_STATES = ("live", "ended", "terminated", "interrupted", "refused")


class SshSession(Base):
    __tablename__ = "ssh_sessions"
    # Each node looks up its own live sessions every second (the watchdog's termination
    # orders, bastion.proxy.directory) and at start-up: a handful among years of sessions.
    __table_args__ = (Index("ix_ssh_sessions_status_node", "status", "node"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    grant_id: Mapped[int | None] = mapped_column(ForeignKey("grants.id"))
    technician_id: Mapped[int] = mapped_column(ForeignKey("technicians.id"))
    target_id: Mapped[int] = mapped_column(ForeignKey("targets.id"))
    account_name: Mapped[str] = mapped_column(String(64))
    client_address: Mapped[str | None] = mapped_column(String(64))
    # The target's data categories when the session opened (it may be reclassified later);
    # None for sessions from before they were copied here.
    data_categories: Mapped[list[str] | None] = mapped_column(JSON)
    node: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16), default="live")
    end_reason: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set from the console or another node; the serving node polls and closes the session.
    terminate_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    terminate_requested_by: Mapped[str | None] = mapped_column(String(100))
    terminate_reason: Mapped[str | None] = mapped_column(Text)

    technician: Mapped[Technician] = relationship()
    target: Mapped[Target] = relationship()
    recordings: Mapped[list[Recording]] = relationship(back_populates="session")


class Recording(Base):
    __tablename__ = "recordings"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("ssh_sessions.id"))
    channel: Mapped[str] = mapped_column(String(32))  # shell | exec | sftp | ...
    storage_key: Mapped[str] = mapped_column(String(255), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="open")
    chunk_count: Mapped[int] = mapped_column(Integer, default=0)
    size_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    output_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    final_hash: Mapped[str | None] = mapped_column(String(64))
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    master_key_id: Mapped[str] = mapped_column(String(64))
    legal_hold: Mapped[bool] = mapped_column(Boolean, default=False)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sealed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The seal (status, chunk count, final hash, sizes) signed with the audit signing key
    # when the recording closed (bastion/recording/seal.py): it verifies after the audit
    # purge removed the seal event, and a catalog rewrite without the key does not.
    seal_signed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    seal_key_id: Mapped[str | None] = mapped_column(String(64))
    seal_signature: Mapped[str | None] = mapped_column(String(128))

    session: Mapped[SshSession] = relationship(back_populates="recordings")


class RecordedCommand(Base):
    """A command the technician ran, extracted from the recording, for cross-session search."""

    __tablename__ = "recorded_commands"
    # Issue 9: "command contains" search over millions of commands. The text is sealed
    # (issue 18, bastion.trace_sealing): a search matches keyed hashes of words in
    # ``search_terms`` (LIKE '% term %'), which a trigram GIN index (pg_trgm) serves on
    # PostgreSQL; SQLite gets a plain index it does not use for such searches (SQLite
    # deployments are small).
    __table_args__ = (
        Index("ix_recorded_commands_search_terms_trgm", "search_terms", postgresql_using="gin",
              postgresql_ops={"search_terms": "gin_trgm_ops"}),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    recording_id: Mapped[int] = mapped_column(ForeignKey("recordings.id"), index=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("ssh_sessions.id"), index=True)
    offset_seconds: Mapped[float] = mapped_column(Float)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    kind: Mapped[str] = mapped_column(String(16))  # shell | exec | sftp
    text: Mapped[str] = mapped_column(Text)  # sealed: read it with Bastion.traces.command_text
    search_terms: Mapped[str | None] = mapped_column(Text)
    exit_status: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TraceKey(Base):
    """The key sealing command text and file paths at rest (bastion.trace_sealing), itself
    sealed by the master key: one row, shared by every node."""

    __tablename__ = "trace_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(32), unique=True)
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    master_key_id: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
