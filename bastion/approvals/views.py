"""Plain, frozen views of requests, reviews, grants and credentials.

Callers (console, JSON API, proxy) get these instead of ORM rows: they stay valid after
the transaction ends, can be shown or serialised freely, and cannot be changed by
accident and flushed back.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from webauthn.helpers import bytes_to_base64url

from bastion.models import AccessRequest, Grant, Review, StaffUser, WebAuthnCredential


@dataclass(frozen=True)
class ReviewInfo:
    staff_id: int
    staff_username: str
    staff_name: str
    decision: str  # approve | deny
    reason: str | None
    credential_id: int | None
    at: datetime


@dataclass(frozen=True)
class RequestInfo:
    id: int
    status: str  # pending | approved | denied | cancelled | expired
    technician: str
    technician_name: str
    vendor: str
    target: str
    data_categories: tuple[str, ...]
    account: str
    window_start: datetime
    window_end: datetime
    channels: tuple[str, ...]
    reason: str
    ticket: str | None
    source: str
    break_glass: bool
    verdict: dict[str, Any]  # the contracts engine's verdict at filing time
    approvals_required: int
    approvals: int
    reviews: tuple[ReviewInfo, ...]
    declared_by: str | None  # staff user name, when staff filed it
    contract_version_id: int | None
    expires_at: datetime | None
    decided_at: datetime | None
    created_at: datetime
    grant_id: int | None

    @property
    def in_contract(self) -> bool:
        return bool(self.verdict.get("allowed"))

    @property
    def approvals_missing(self) -> int:
        return max(0, self.approvals_required - self.approvals)

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(asdict(self))


@dataclass(frozen=True)
class GrantInfo:
    id: int
    request_id: int
    status: str  # approved | active | ended | revoked
    technician: str
    target: str
    account: str
    not_before: datetime
    not_after: datetime
    scope: dict[str, Any]
    contract_version_id: int | None
    break_glass: bool
    has_certificate: bool
    revoked_at: datetime | None
    revoked_by: str | None
    revoke_reason: str | None
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(asdict(self))


@dataclass(frozen=True)
class CredentialInfo:
    id: int
    name: str
    credential_id: str  # base64url, as browsers show it
    discoverable: bool
    transports: tuple[str, ...]
    aaguid: str | None
    sign_count: int
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None = None
    revoked_reason: str | None = None
    suspended_at: datetime | None = None
    suspended_reason: str | None = None

    @property
    def usable(self) -> bool:
        return self.revoked_at is None and self.suspended_at is None


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    return value


def review_info(review: Review) -> ReviewInfo:
    staff: StaffUser = review.staff
    return ReviewInfo(staff.id, staff.username, staff.full_name, review.decision, review.reason,
                      review.credential_id, review.created_at)


def request_info(session: Session, request: AccessRequest) -> RequestInfo:
    reviews = tuple(review_info(r) for r in sorted(request.reviews, key=lambda r: r.id))
    declared = (session.get(StaffUser, request.declared_by_staff_id)
                if request.declared_by_staff_id is not None else None)
    grant_id = session.scalar(select(Grant.id).where(Grant.request_id == request.id))
    return RequestInfo(
        id=request.id, status=request.status, technician=request.technician.ident,
        technician_name=request.technician.full_name, vendor=request.technician.vendor.slug,
        target=request.target.name,
        data_categories=tuple(sorted(request.target.data_categories or ())),
        account=request.account_name, window_start=request.window_start,
        window_end=request.window_end, channels=tuple(request.channels or ()),
        reason=request.reason, ticket=request.ticket, source=request.source,
        break_glass=request.break_glass, verdict=dict(request.verdict or {}),
        approvals_required=request.approvals_required,
        approvals=sum(1 for r in reviews if r.decision == "approve"), reviews=reviews,
        declared_by=declared.username if declared is not None else None,
        contract_version_id=request.contract_version_id, expires_at=request.expires_at,
        decided_at=request.decided_at, created_at=request.created_at, grant_id=grant_id)


def grant_info(grant: Grant) -> GrantInfo:
    return GrantInfo(
        id=grant.id, request_id=grant.request_id, status=grant.status,
        technician=grant.technician.ident, target=grant.target.name,
        account=grant.account_name, not_before=grant.not_before, not_after=grant.not_after,
        scope=dict(grant.scope or {}), contract_version_id=grant.contract_version_id,
        break_glass=grant.break_glass, has_certificate=grant.certificate is not None,
        revoked_at=grant.revoked_at, revoked_by=grant.revoked_by,
        revoke_reason=grant.revoke_reason, created_at=grant.created_at)


def credential_info(row: WebAuthnCredential) -> CredentialInfo:
    return CredentialInfo(row.id, row.name, bytes_to_base64url(row.credential_id), row.discoverable,
                          tuple(row.transports or ()), row.aaguid, row.sign_count,
                          row.created_at, row.last_used_at, row.revoked_at, row.revoked_reason,
                          row.suspended_at, row.suspended_reason)
