"""Targets (the DPI servers) and the accounts the bastion opens on them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, UTCDateTime, utcnow

DATA_CATEGORIES = ("administrative", "ins", "health", "documents", "staff", "technical")
ACCOUNT_AUTH_METHODS = ("certificate", "vault_key", "vault_password")


class Target(Base):
    __tablename__ = "targets"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    host: Mapped[str] = mapped_column(String(255))
    port: Mapped[int] = mapped_column(Integer, default=22)
    # The pinned host key, OpenSSH one-line form; a mismatch refuses the session.
    host_key: Mapped[str] = mapped_column(Text)
    labels: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    data_categories: Mapped[list[str]] = mapped_column(JSON, default=list)
    description: Mapped[str | None] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    accounts: Mapped[list[TargetAccount]] = relationship(
        back_populates="target", cascade="all, delete-orphan", lazy="selectin"
    )


class TargetAccount(Base):
    """A login on a target. ``certificate`` accounts trust the bastion's target CA; the
    vaulted methods hold a key or password encrypted with the master key, never shown."""

    __tablename__ = "target_accounts"
    __table_args__ = (UniqueConstraint("target_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    target_id: Mapped[int] = mapped_column(ForeignKey("targets.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    auth_method: Mapped[str] = mapped_column(String(32), default="certificate")
    vault_secret: Mapped[bytes | None] = mapped_column(LargeBinary)

    target: Mapped[Target] = relationship(back_populates="accounts")
