"""Stored contract versions: every loaded contract file, by content hash."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, UTCDateTime, utcnow
from .people import Vendor


class ContractVersion(Base):
    """One version of a vendor's contract. Grants record the version they were given
    under, so a later, narrower version can revoke what no longer fits."""

    __tablename__ = "contract_versions"
    __table_args__ = (UniqueConstraint("vendor_id", "content_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    vendor_id: Mapped[int] = mapped_column(ForeignKey("vendors.id"))
    version: Mapped[int] = mapped_column(Integer)
    reference: Mapped[str] = mapped_column(String(200))
    content_hash: Mapped[str] = mapped_column(String(64))
    source_name: Mapped[str] = mapped_column(String(255))
    source_text: Mapped[str] = mapped_column(Text)
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    is_current: Mapped[bool] = mapped_column(Boolean, default=True)
    loaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    loaded_by: Mapped[str] = mapped_column(String(100))

    vendor: Mapped[Vendor] = relationship()
