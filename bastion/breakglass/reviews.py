"""The DPO's a-posteriori review of each emergency access: list, read, close with a verdict.

Only an active DPO closes a review, never one they declared themself (the same rule as
"the approver is never the requester"). Closing changes nothing else: the DPO audits and
does not revoke; approvers do that. Reviews open past their deadline are *overdue*: the
DPO's pages and the daily summary show them until they are closed.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from bastion.approvals.lookup import StaffRef, staff_id_of
from bastion.audit import Actor
from bastion.context import Bastion
from bastion.models import BreakGlassReview, StaffUser, utcnow

from .errors import InvalidInput, NotTheReviewer, ReviewAlreadyClosed, ReviewNotFound
from .unjustified import suspend_after_unjustified
from .views import VERDICTS, ReviewInfo, review_info

MAX_COMMENT = 4000
STATES = ("open", "overdue", "closed")


def get_review(core: Bastion, review_id: int) -> ReviewInfo:
    with core.db.session() as session:
        review = session.get(BreakGlassReview, review_id)
        if review is None:
            raise ReviewNotFound(f"there is no break-glass review {review_id}")
        return review_info(session, review)


def review_for_request(core: Bastion, request_id: int) -> ReviewInfo | None:
    with core.db.session() as session:
        review = session.scalar(select(BreakGlassReview)
                                .where(BreakGlassReview.request_id == request_id))
        return review_info(session, review) if review is not None else None


def list_reviews(core: Bastion, *, state: str | None = None, now: datetime | None = None,
                 limit: int = 200) -> list[ReviewInfo]:
    """``state``: open (oldest deadline first), overdue (open past the deadline), closed
    (newest first), or None for all (open ones first)."""
    if state is not None and state not in STATES:
        raise InvalidInput(f"state must be one of {', '.join(STATES)}")
    now = now or utcnow()
    query = select(BreakGlassReview)
    if state in ("open", "overdue"):
        query = query.where(BreakGlassReview.closed_at.is_(None)).order_by(
            BreakGlassReview.deadline, BreakGlassReview.id)
        if state == "overdue":
            query = query.where(BreakGlassReview.deadline <= now)
    elif state == "closed":
        query = query.where(BreakGlassReview.closed_at.is_not(None)).order_by(
            BreakGlassReview.closed_at.desc(), BreakGlassReview.id.desc())
    else:
        # NULLs first on both databases: open reviews (no closed_at) lead.
        query = query.order_by(BreakGlassReview.closed_at.is_(None).desc(),
                               BreakGlassReview.deadline, BreakGlassReview.id)
    with core.db.session() as session:
        return [review_info(session, row) for row in session.scalars(query.limit(limit))]


def overdue_reviews(core: Bastion, now: datetime | None = None) -> list[ReviewInfo]:
    return list_reviews(core, state="overdue", now=now)


def close_review(core: Bastion, review_id: int, *, staff: StaffRef, verdict: str,
                 comment: str, now: datetime | None = None) -> ReviewInfo:
    """Record the DPO's verdict (justified | unjustified) and comment; audited."""
    now = now or utcnow()
    comment = (comment or "").strip()
    if verdict not in VERDICTS:
        raise InvalidInput(f"the verdict must be one of {', '.join(VERDICTS)}")
    if not comment:
        raise InvalidInput("say in a comment why the emergency access was justified or not")
    if len(comment) > MAX_COMMENT:
        raise InvalidInput(f"the comment is longer than {MAX_COMMENT} characters")
    staff_id = staff_id_of(staff)
    refusal: NotTheReviewer
    with core.db.session() as session:
        review = session.scalar(select(BreakGlassReview).where(BreakGlassReview.id == review_id)
                                .with_for_update())
        if review is None:
            raise ReviewNotFound(f"there is no break-glass review {review_id}")
        person = session.get(StaffUser, staff_id)
        request = review.request
        subject = {"vendor": request.technician.vendor.slug,
                   "technician": request.technician.ident, "target": request.target.name,
                   "account": request.account_name or None, "request_id": request.id,
                   "grant_id": review.grant_id}
        problem = _reviewer_problem(person, request.declared_by_staff_id)
        if problem is None:
            if review.closed_at is not None:
                raise ReviewAlreadyClosed(f"break-glass review {review_id} was already closed "
                                          f"({review.verdict})")
            review.closed_at, review.closed_by_staff_id = now, staff_id
            review.verdict, review.comment = verdict, comment
            assert person is not None
            core.audit.append(
                session, action="break_glass.reviewed", outcome="ok",
                actor=Actor(f"staff:{person.username}", "dpo"), reasons=[verdict, comment],
                details={"review_id": review.id, "verdict": verdict, "comment": comment,
                         "opened_at": review.opened_at.isoformat(),
                         "deadline": review.deadline.isoformat(),
                         "overdue": review.deadline <= now},
                **subject)
            if verdict == "unjustified":
                suspend_after_unjustified(session, core, review,
                                          Actor(f"staff:{person.username}", "dpo"), now)
            return review_info(session, review)
        # A refused attempt is evidence too: it commits with the block, then is raised.
        name = f"staff:{person.username}" if person is not None else f"staff:#{staff_id}"
        core.audit.append(session, action="break_glass.review_refused", outcome="denied",
                          actor=Actor(name, ",".join(sorted(person.role_names))
                                      if person is not None else "unknown"),
                          reasons=[problem], details={"review_id": review.id}, **subject)
        refusal = NotTheReviewer(problem)
    raise refusal


def _reviewer_problem(person: StaffUser | None, declared_by: int | None) -> str | None:
    if person is None or not person.active or not person.has_role("dpo"):
        return "only an active DPO may close a break-glass review"
    if declared_by == person.id:
        return "you declared this emergency access: another DPO must review it"
    return None
