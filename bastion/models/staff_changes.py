"""Changes to staff accounts that need a second person or a one-time link: role changes
waiting for confirmation (``bastion.role_changes``) and first-key enrolment links
(``bastion.enrolment_links``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, UTCDateTime, utcnow
from .people import StaffUser

ROLE_CHANGE_STATES = ("pending", "applied", "refused")


class RoleChange(Base):
    """A change of one staff member's roles that grants a role: proposed by an admin,
    applied only when another admin or the DPO confirms it with their security key."""

    __tablename__ = "staff_role_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"), index=True)
    roles_before: Mapped[list[str]] = mapped_column(JSON)
    roles_after: Mapped[list[str]] = mapped_column(JSON)
    proposed_by_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"))
    proposed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reason: Mapped[str | None] = mapped_column(Text)
    # The confirmation's proof: the key that signed and the challenge it answered (the
    # challenge row keeps the assertion), as a review keeps an approval's.
    credential_id: Mapped[int | None] = mapped_column(ForeignKey("webauthn_credentials.id"))
    challenge: Mapped[str | None] = mapped_column(String(64))
    # "directory": filed at sign-in because the hospital directory or identity provider
    # puts the person in a group mapped to the role (the person is then also proposer).
    origin: Mapped[str | None] = mapped_column(String(16))

    staff: Mapped[StaffUser] = relationship(foreign_keys=[staff_id])
    proposed_by: Mapped[StaffUser] = relationship(foreign_keys=[proposed_by_id])
    decided_by: Mapped[StaffUser | None] = relationship(foreign_keys=[decided_by_id])


class EnrolmentLink(Base):
    """A one-time link that lets a staff member without a usable key register one."""

    __tablename__ = "staff_enrolment_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id", ondelete="CASCADE"),
                                          index=True)
    # SHA-256 (hex) of the link's token: a copy of this table enrols nobody.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    issued_by: Mapped[str] = mapped_column(String(200))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
