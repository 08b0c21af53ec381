"""The yearly review of staff roles: the vendors' accesses are reviewed every year, and so
are the hospital's own admins, approvers and DPOs (HDS: revue des habilitations).

Each active staff member with roles is due ``access_review.every_days`` after their roles
were last confirmed (or the account was created); another admin or the DPO confirms them
(never the person themself). Unconfirmed past ``access_review.grace_days`` more, the roles
are suspended (``staff_users.roles_suspended_at``): ``StaffUser.role_names`` is then empty,
so every role check refuses, until a confirmation.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from bastion.audit import Actor
from bastion.config import AccessReviewSettings
from bastion.context import Bastion
from bastion.models import StaffUser, utcnow

from .errors import ReviewError

REVIEWERS = ("admin", "dpo")


@dataclass(frozen=True)
class StaffReview:
    username: str
    roles: tuple[str, ...]
    last_review: datetime | None
    due_at: datetime
    suspend_at: datetime
    suspended_at: datetime | None


def staff_reviews(session: Session, settings: AccessReviewSettings) -> list[StaffReview]:
    found = []
    for user in session.scalars(select(StaffUser).where(StaffUser.active.is_(True))
                                .order_by(StaffUser.username)):
        if not user.granted_roles:
            continue
        start = max(user.created_at, user.review_clock_from or user.created_at)
        due = (user.roles_reviewed_at or start) + timedelta(days=settings.every_days)
        found.append(StaffReview(user.username, tuple(sorted(user.granted_roles)),
                                 user.roles_reviewed_at, due,
                                 due + timedelta(days=settings.grace_days), user.roles_suspended_at))
    return found


def overdue_staff_reviews(core: Bastion, now: datetime | None = None) -> list[StaffReview]:
    now = now or utcnow()
    with core.db.session() as session:
        return [r for r in staff_reviews(session, core.settings.access_review) if r.due_at <= now]


def suspend_unreviewed_staff(core: Bastion, *, now: datetime | None = None,
                             actor: Actor | None = None) -> list[str]:
    """Suspend the roles of staff past their review and its grace period (housekeeping)."""
    now = now or utcnow()
    actor = actor or Actor.system()
    suspended = []
    with core.db.session() as session:
        for review in staff_reviews(session, core.settings.access_review):
            if review.suspended_at is not None or review.suspend_at > now:
                continue
            user = session.scalar(select(StaffUser).where(StaffUser.username == review.username)
                                  .with_for_update())
            if user is None or user.roles_suspended_at is not None:
                continue
            user.roles_suspended_at = now
            since = review.last_review.date().isoformat() if review.last_review else "never"
            core.audit.append(
                session, action="access_review.staff_suspended", outcome="ok", actor=actor,
                reasons=[f"roles of {user.username} ({', '.join(review.roles)}) not confirmed "
                         f"since {since}; grace period ended {review.suspend_at.date().isoformat()}"],
                details={"username": user.username, "roles": list(review.roles),
                         "last_review": review.last_review.isoformat() if review.last_review else None})
            suspended.append(user.username)
    return suspended


def confirm_staff_roles(core: Bastion, username: str, *, reviewer: str | None, actor: Actor,
                        comment: str | None = None, now: datetime | None = None) -> tuple[str, ...]:
    """Another admin or the DPO confirms ``username``'s roles are still needed; lifts a
    suspension. ``reviewer`` None: nobody in force could review (every admin and DPO is
    suspended), the operator's OS account is named instead."""
    now = now or utcnow()
    with core.db.session() as session:
        user = session.scalar(select(StaffUser).where(StaffUser.username == username)
                              .with_for_update())
        if user is None or not user.active or not user.granted_roles:
            raise ReviewError("staff_not_found", f"no active staff member {username!r} with roles")
        if reviewer is not None:
            if reviewer == username:
                raise ReviewError("self_review", "nobody confirms their own roles: ask another "
                                                 "admin or the DPO")
            who = session.scalar(select(StaffUser).where(StaffUser.username == reviewer))
            if who is None or not who.active or not (who.role_names & set(REVIEWERS)):
                raise ReviewError("not_a_reviewer", f"{reviewer} cannot review roles: an active "
                                                    "admin or DPO does")
        elif _reviewers_in_force(session):
            raise ReviewError("reviewer_needed", "name the reviewer with --as USERNAME (another "
                                                 "admin or the DPO)")
        lifted = user.roles_suspended_at is not None
        user.roles_reviewed_at, user.roles_suspended_at = now, None
        roles = tuple(sorted(user.granted_roles))
        core.audit.append(
            session, action="access_review.staff_confirmed", outcome="ok", actor=actor,
            reasons=[f"roles of {username} ({', '.join(roles)}) confirmed"
                     + (" (lifting their suspension)" if lifted else "")],
            details={"username": username, "roles": list(roles), "comment": comment,
                     "lifted_suspension": lifted})
        return roles


def _reviewers_in_force(session: Session) -> bool:
    return any(u.role_names & set(REVIEWERS)
               for u in session.scalars(select(StaffUser).where(StaffUser.active.is_(True))))
