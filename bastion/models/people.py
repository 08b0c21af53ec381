"""Vendors, their technicians and keys; hospital staff, their roles and security keys."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, UTCDateTime, utcnow

STAFF_ROLES = ("admin", "approver", "dpo")


class Vendor(Base):
    """A maintenance company (or subprocessor) bound by a contract."""

    __tablename__ = "vendors"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # No access review confirmed for a year, grace period over (bastion.access_review.
    # yearly): its technicians are refused until a review confirms an access again.
    review_suspended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the yearly review's clock started for a vendor that existed before the rule
    # (the upgrade): without it, an old install would suspend every vendor at once.
    review_clock_from: Mapped[datetime | None] = mapped_column(UTCDateTime)

    technicians: Mapped[list[Technician]] = relationship(back_populates="vendor")


class Technician(Base):
    """A named person working for a vendor or one of its declared subprocessors.

    Never a shared account: the contracts engine refuses one key on two technicians.
    """

    __tablename__ = "technicians"

    id: Mapped[int] = mapped_column(primary_key=True)
    ident: Mapped[str] = mapped_column(String(64), unique=True)
    vendor_id: Mapped[int] = mapped_column(ForeignKey("vendors.id"))
    employer: Mapped[str] = mapped_column(String(200))
    full_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(254))
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    suspended_reason: Mapped[str | None] = mapped_column(Text)
    password_hash: Mapped[str | None] = mapped_column(String(200))
    totp_secret_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    # The newest time step whose one-time code was accepted, on any node, over SSH or in
    # the portal: a code works once (bastion.totp.use_code).
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)
    # Portal sign-in lock-out, in the database so it holds across nodes and restarts
    # (bastion.sign_in_lockout), as StaffUser's does for the console.
    failed_sign_ins: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    vendor: Mapped[Vendor] = relationship(back_populates="technicians")
    keys: Mapped[list[TechnicianKey]] = relationship(
        back_populates="technician", cascade="all, delete-orphan"
    )


class TechnicianKey(Base):
    """An SSH public key registered for one technician (OpenSSH one-line form)."""

    __tablename__ = "technician_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    technician_id: Mapped[int] = mapped_column(ForeignKey("technicians.id", ondelete="CASCADE"))
    algorithm: Mapped[str] = mapped_column(String(64))
    public_key: Mapped[str] = mapped_column(Text)
    # One key, one person: the fingerprint is unique across all technicians.
    fingerprint: Mapped[str] = mapped_column(String(100), unique=True)
    comment: Mapped[str | None] = mapped_column(String(200))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    technician: Mapped[Technician] = relationship(back_populates="keys")


class StaffUser(Base):
    """Hospital staff using the console: admins, approvers, DPO/auditors."""

    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    full_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254))
    password_hash: Mapped[str | None] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    language: Mapped[str] = mapped_column(String(8), default="fr")
    time_zone: Mapped[str] = mapped_column(String(64), default="Europe/Paris")
    failed_sign_ins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The yearly review of staff roles (bastion.access_review.staff_roles): when another
    # admin or the DPO last confirmed them, and since when they are suspended for want of it.
    roles_reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    roles_suspended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # As for vendors: staff who existed before the yearly review are counted from the upgrade.
    review_clock_from: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Where the person signs in: "local" (a password here), "ldap" or "oidc" (the hospital
    # directory or identity provider, bastion.directory), and their id there (the entry's
    # DN, or the provider's issuer and subject), so a renamed login cannot take over.
    identity_source: Mapped[str] = mapped_column(String(8), default="local",
                                                 server_default="local")
    external_id: Mapped[str | None] = mapped_column(String(500))
    # Set when the directory disabled the account (or it vanished from it): a later sign-in
    # the directory accepts again re-activates it; an admin's own disabling stays.
    directory_disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    roles: Mapped[list[StaffRole]] = relationship(
        back_populates="staff", cascade="all, delete-orphan", lazy="selectin"
    )
    credentials: Mapped[list[WebAuthnCredential]] = relationship(
        back_populates="staff", cascade="all, delete-orphan"
    )

    @property
    def granted_roles(self) -> set[str]:
        """The roles given to the account, in force or not (what an admin edits)."""
        return {role.role for role in self.roles}

    @property
    def usable_credentials(self) -> list[WebAuthnCredential]:
        """Keys that may sign in and sign: neither revoked nor suspended."""
        return [key for key in self.credentials if key.usable]

    @property
    def role_names(self) -> set[str]:
        """The roles in force: none while suspended by the yearly review, so every check
        of a role (console, API, approvals, break-glass, CLI) refuses."""
        return set() if self.roles_suspended_at is not None else self.granted_roles

    def has_role(self, role: str) -> bool:
        return role in self.role_names


class StaffRole(Base):
    __tablename__ = "staff_roles"
    __table_args__ = (UniqueConstraint("staff_id", "role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(32))
    # When the role took effect (NULL: before roles were dated, so long established), and
    # when the DPO or a local operator vouched for it: a new approver only counts towards
    # a two-person approval once vouched for or after [approvals] new_approver_hours.
    granted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    vouched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    staff: Mapped[StaffUser] = relationship(back_populates="roles")


class WebAuthnCredential(Base):
    """A security key or passkey registered by a staff member or a technician."""

    __tablename__ = "webauthn_credentials"

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff_users.id", ondelete="CASCADE")
    )
    technician_id: Mapped[int | None] = mapped_column(
        ForeignKey("technicians.id", ondelete="CASCADE")
    )
    credential_id: Mapped[bytes] = mapped_column(LargeBinary, unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    sign_count: Mapped[int] = mapped_column(Integer, default=0)
    transports: Mapped[list[str]] = mapped_column(JSON, default=list)
    aaguid: Mapped[str | None] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(100))
    discoverable: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Keys are revoked, never deleted: the reviews they signed keep their proof.
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_by: Mapped[str | None] = mapped_column(String(200))
    revoked_reason: Mapped[str | None] = mapped_column(Text)
    # Set when the key's signature counter went backwards (a cloned key): unusable until
    # revoked and replaced.
    suspended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    suspended_reason: Mapped[str | None] = mapped_column(Text)

    staff: Mapped[StaffUser | None] = relationship(back_populates="credentials")

    @property
    def usable(self) -> bool:
        return self.revoked_at is None and self.suspended_at is None
