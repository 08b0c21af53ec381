"""Access requests, their reviews, the grants they produce, and break-glass reviews."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, UTCDateTime, utcnow
from .inventory import Target
from .people import StaffUser, Technician

# "acknowledging": a break-glass on health data waiting for an on-call approver's
# acknowledgement (bastion.breakglass.acknowledge).
REQUEST_STATES = ("pending", "acknowledging", "approved", "denied", "cancelled", "expired")
GRANT_STATES = ("approved", "active", "ended", "revoked")


class AccessRequest(Base):
    __tablename__ = "access_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    technician_id: Mapped[int] = mapped_column(ForeignKey("technicians.id"))
    target_id: Mapped[int] = mapped_column(ForeignKey("targets.id"))
    account_name: Mapped[str] = mapped_column(String(64))
    window_start: Mapped[datetime] = mapped_column(UTCDateTime)
    window_end: Mapped[datetime] = mapped_column(UTCDateTime)
    channels: Mapped[list[str]] = mapped_column(JSON, default=list)
    reason: Mapped[str] = mapped_column(Text)
    ticket: Mapped[str | None] = mapped_column(String(100))
    source: Mapped[str] = mapped_column(String(16))  # ssh | portal | api | console
    break_glass: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    contract_version_id: Mapped[int | None] = mapped_column(ForeignKey("contract_versions.id"))
    # The contracts engine's verdict at filing time, shown to approvers as it was.
    verdict: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    approvals_required: Mapped[int] = mapped_column(Integer, default=1)
    declared_by_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    technician: Mapped[Technician] = relationship()
    target: Mapped[Target] = relationship()
    reviews: Mapped[list[Review]] = relationship(back_populates="request")


class Review(Base):
    """One approver's decision on a request; an approval carries its WebAuthn proof."""

    __tablename__ = "reviews"
    __table_args__ = (UniqueConstraint("request_id", "staff_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("access_requests.id"))
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"))
    decision: Mapped[str] = mapped_column(String(16))  # approve | deny
    reason: Mapped[str | None] = mapped_column(Text)
    credential_id: Mapped[int | None] = mapped_column(ForeignKey("webauthn_credentials.id"))
    challenge_digest: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    request: Mapped[AccessRequest] = relationship(back_populates="reviews")
    staff: Mapped[StaffUser] = relationship()


class Grant(Base):
    """A time-boxed permission, no wider than the contract and the request."""

    __tablename__ = "grants"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("access_requests.id"), unique=True)
    technician_id: Mapped[int] = mapped_column(ForeignKey("technicians.id"))
    target_id: Mapped[int] = mapped_column(ForeignKey("targets.id"))
    account_name: Mapped[str] = mapped_column(String(64))
    not_before: Mapped[datetime] = mapped_column(UTCDateTime)
    not_after: Mapped[datetime] = mapped_column(UTCDateTime)
    scope: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    contract_version_id: Mapped[int | None] = mapped_column(ForeignKey("contract_versions.id"))
    status: Mapped[str] = mapped_column(String(16), default="approved")
    break_glass: Mapped[bool] = mapped_column(Boolean, default=False)
    certificate: Mapped[str | None] = mapped_column(Text)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_by: Mapped[str | None] = mapped_column(String(100))
    revoke_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    request: Mapped[AccessRequest] = relationship()
    technician: Mapped[Technician] = relationship()
    target: Mapped[Target] = relationship()


class BreakGlassReview(Base):
    """The mandatory a-posteriori review of an emergency access, closed by the DPO."""

    __tablename__ = "break_glass_reviews"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("access_requests.id"), unique=True)
    grant_id: Mapped[int | None] = mapped_column(ForeignKey("grants.id"))
    justification: Mapped[str] = mapped_column(Text)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    deadline: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_by_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    verdict: Mapped[str | None] = mapped_column(String(16))  # justified | unjustified
    comment: Mapped[str | None] = mapped_column(Text)

    request: Mapped[AccessRequest] = relationship()


class BreakGlassAcknowledgement(Base):
    """One on-call approver's one-time link to acknowledge an emergency on health data
    (bastion.breakglass.acknowledge): the first to sign the emergency's content opens it;
    every link of that emergency is then used."""

    __tablename__ = "break_glass_acknowledgements"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("access_requests.id"), index=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    credential_id: Mapped[int | None] = mapped_column(ForeignKey("webauthn_credentials.id"))
    challenge: Mapped[str | None] = mapped_column(String(64))

    request: Mapped[AccessRequest] = relationship()
    staff: Mapped[StaffUser] = relationship()
