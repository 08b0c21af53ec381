"""Yearly access reviews: a campaign per vendor, one line per technician x target x account
the vendor's contract allows, each confirmed (still needed) or revoked by the admin or the
DPO. Owned by ``bastion.access_review``.

A line's latest decision stands: ``suspended`` (not confirmed by the deadline) and
``revoked`` lines refuse new access in the contracts engine until a later decision
confirms the access again (a late confirmation, or the next campaign's).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, UTCDateTime, utcnow
from .contracts import ContractVersion
from .inventory import Target
from .people import Technician, Vendor

CAMPAIGN_STATES = ("open", "closed")
LINE_DECISIONS = ("pending", "confirmed", "revoked", "suspended")


class AccessReviewCampaign(Base):
    __tablename__ = "access_review_campaigns"

    id: Mapped[int] = mapped_column(primary_key=True)
    vendor_id: Mapped[int] = mapped_column(ForeignKey("vendors.id"), index=True)
    # The contract version whose allowed accesses were listed when the campaign opened.
    contract_version_id: Mapped[int | None] = mapped_column(ForeignKey("contract_versions.id"))
    # The last day to confirm, in the hospital's time zone (web.time_zone) ...
    deadline: Mapped[date] = mapped_column(Date)
    # ... and the instant it ends, fixed at opening, when unconfirmed lines are suspended.
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), default="open")
    note: Mapped[str | None] = mapped_column(Text)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    opened_by: Mapped[str] = mapped_column(String(100))
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_by: Mapped[str | None] = mapped_column(String(100))

    vendor: Mapped[Vendor] = relationship()
    contract_version: Mapped[ContractVersion | None] = relationship()
    lines: Mapped[list[AccessReviewLine]] = relationship(
        back_populates="campaign", order_by="AccessReviewLine.id")


class AccessReviewLine(Base):
    __tablename__ = "access_review_lines"
    __table_args__ = (
        UniqueConstraint("campaign_id", "technician_id", "target_id", "account_name"),
        # The contracts engine looks lines up by technician and target on every decision.
        Index("ix_access_review_lines_technician_target", "technician_id", "target_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("access_review_campaigns.id"))
    technician_id: Mapped[int] = mapped_column(ForeignKey("technicians.id"))
    target_id: Mapped[int] = mapped_column(ForeignKey("targets.id"))
    account_name: Mapped[str] = mapped_column(String(64))
    decision: Mapped[str] = mapped_column(String(16), default="pending")
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by: Mapped[str | None] = mapped_column(String(100))
    comment: Mapped[str | None] = mapped_column(Text)

    campaign: Mapped[AccessReviewCampaign] = relationship(back_populates="lines")
    technician: Mapped[Technician] = relationship()
    target: Mapped[Target] = relationship()
