"""Plain, frozen views of emergency accesses and their reviews, safe to keep after the
transaction that read them (the console, the CLI and the summary e-mail show them)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bastion.approvals import GrantInfo
from bastion.models import BreakGlassReview, Grant, SshSession, StaffUser

VERDICTS = ("justified", "unjustified")


@dataclass(frozen=True)
class BreakGlassAccess:
    """What :func:`declare_break_glass` opened: the grant (a normal one, ``break_glass``
    set), the stored request it came from, and the review the DPO must close."""

    grant: GrantInfo
    request_id: int
    review_id: int
    review_deadline: datetime
    notifications: int  # messages queued for approvers and the DPO

    @property
    def not_after(self) -> datetime:
        return self.grant.not_after


@dataclass(frozen=True)
class ReviewInfo:
    id: int
    request_id: int
    grant_id: int | None
    technician: str
    technician_name: str
    vendor: str
    target: str
    account: str
    data_categories: tuple[str, ...]
    justification: str
    ticket: str | None
    source: str  # ssh | console
    declared_by: str | None  # staff user name, when staff declared for the technician
    opened_at: datetime
    deadline: datetime
    grant_not_before: datetime | None
    grant_not_after: datetime | None
    grant_status: str | None
    session_ids: tuple[int, ...]
    closed_at: datetime | None
    closed_by: str | None
    verdict: str | None  # justified | unjustified
    comment: str | None

    @property
    def is_open(self) -> bool:
        return self.closed_at is None

    def is_overdue(self, now: datetime) -> bool:
        return self.closed_at is None and self.deadline <= now


def review_info(session: Session, review: BreakGlassReview) -> ReviewInfo:
    request = review.request
    grant = session.get(Grant, review.grant_id) if review.grant_id is not None else None
    sessions = tuple(session.scalars(
        select(SshSession.id).where(SshSession.grant_id == review.grant_id)
        .order_by(SshSession.id))) if review.grant_id is not None else ()
    declared = (session.get(StaffUser, request.declared_by_staff_id)
                if request.declared_by_staff_id is not None else None)
    closer = (session.get(StaffUser, review.closed_by_staff_id)
              if review.closed_by_staff_id is not None else None)
    return ReviewInfo(
        id=review.id, request_id=review.request_id, grant_id=review.grant_id,
        technician=request.technician.ident, technician_name=request.technician.full_name,
        vendor=request.technician.vendor.slug, target=request.target.name,
        account=request.account_name,
        data_categories=tuple(sorted(request.target.data_categories or ())),
        justification=review.justification, ticket=request.ticket, source=request.source,
        declared_by=declared.username if declared is not None else None,
        opened_at=review.opened_at, deadline=review.deadline,
        grant_not_before=grant.not_before if grant is not None else None,
        grant_not_after=grant.not_after if grant is not None else None,
        grant_status=grant.status if grant is not None else None, session_ids=sessions,
        closed_at=review.closed_at, closed_by=closer.username if closer is not None else None,
        verdict=review.verdict, comment=review.comment)
