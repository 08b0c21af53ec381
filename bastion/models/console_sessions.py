"""Signed-in console sessions (staff and technicians), kept server-side so they can be
revoked before the cookie that carries them expires (see ``bastion.console_sessions``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, UTCDateTime, utcnow

PRINCIPAL_KINDS = ("staff", "technician")


class ConsoleSession(Base):
    __tablename__ = "console_sessions"
    __table_args__ = (Index("ix_console_sessions_principal", "principal_kind", "principal_id"),)

    # SHA-256 (hex) of the random token held in the session cookie: the token itself is
    # never stored, so a copy of this table signs nobody in.
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    # No foreign key: the principal is a staff user or a technician (two tables).
    principal_kind: Mapped[str] = mapped_column(String(16))
    principal_id: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Written at most once a minute (not on every request): the idle check allows for it.
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The absolute limit (a work shift), however active the session is.
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_reason: Mapped[str | None] = mapped_column(Text)
    user_agent: Mapped[str | None] = mapped_column(String(200))
    client_address: Mapped[str | None] = mapped_column(String(64))
