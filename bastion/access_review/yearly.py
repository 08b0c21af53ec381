"""Access reviews that cannot be forgotten: a vendor whose accesses nobody confirmed for a
year (``access_review.every_days``) is flagged to the DPO; past ``access_review.grace_days``
more it is suspended (``vendors.review_suspended_at``), which the decision point refuses
and which revokes its live grants,
until a review confirms one of its accesses again.

Counted from the newest confirmed line of any of the vendor's campaigns, or from the
vendor's creation when it never had one. Only vendors with an active technician count: a
vendor nobody works for has nothing to review.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bastion.approvals import revoke_live_grants
from bastion.audit import Actor
from bastion.config import AccessReviewSettings
from bastion.context import Bastion
from bastion.models import AccessReviewCampaign, AccessReviewLine, Technician, Vendor, utcnow


@dataclass(frozen=True)
class VendorReview:
    vendor: str
    last_review: datetime | None  # the newest confirmation, None: never reviewed
    due_at: datetime  # flagged from then
    suspend_at: datetime  # suspended from then
    suspended_at: datetime | None


def vendor_reviews(session: Session, settings: AccessReviewSettings) -> list[VendorReview]:
    confirmed = dict(session.execute(
        select(AccessReviewCampaign.vendor_id, func.max(AccessReviewLine.decided_at))
        .join(AccessReviewLine, AccessReviewLine.campaign_id == AccessReviewCampaign.id)
        .where(AccessReviewLine.decision == "confirmed")
        .group_by(AccessReviewCampaign.vendor_id)).all())
    working = select(Technician.vendor_id).where(Technician.active.is_(True))
    found = []
    for vendor in session.scalars(select(Vendor).where(Vendor.id.in_(working)).order_by(Vendor.slug)):
        last = confirmed.get(vendor.id)
        start = max(vendor.created_at, vendor.review_clock_from or vendor.created_at)
        due = (last or start) + timedelta(days=settings.every_days)
        found.append(VendorReview(vendor.slug, last, due, due + timedelta(days=settings.grace_days),
                                  vendor.review_suspended_at))
    return found


def overdue_reviews(core: Bastion, now: datetime | None = None) -> list[VendorReview]:
    now = now or utcnow()
    with core.db.session() as session:
        return [r for r in vendor_reviews(session, core.settings.access_review) if r.due_at <= now]


def suspend_unreviewed_vendors(core: Bastion, *, now: datetime | None = None,
                               actor: Actor | None = None) -> list[str]:
    """Suspend the vendors past their review and its grace period; returns their ids. Safe
    to run as often as wanted (the server's housekeeping does)."""
    now = now or utcnow()
    actor = actor or Actor.system()
    suspended = []
    with core.db.session() as session:
        for review in vendor_reviews(session, core.settings.access_review):
            if review.suspended_at is not None or review.suspend_at > now:
                continue
            vendor = session.scalar(select(Vendor).where(Vendor.slug == review.vendor)
                                    .with_for_update())
            if vendor is None or vendor.review_suspended_at is not None:
                continue
            vendor.review_suspended_at = now
            since = review.last_review.date().isoformat() if review.last_review else "never"
            core.audit.append(
                session, action="access_review.vendor_suspended", outcome="ok", actor=actor,
                vendor=vendor.slug,
                reasons=[f"no access review of vendor {vendor.slug} confirmed since {since}; "
                         f"grace period ended {review.suspend_at.date().isoformat()}"],
                details={"last_review": review.last_review.isoformat() if review.last_review else None,
                         "due_at": review.due_at.isoformat(),
                         "suspend_at": review.suspend_at.isoformat()})
            technicians = session.scalars(select(Technician.id)
                                          .where(Technician.vendor_id == vendor.id)).all()
            revoke_live_grants(session, core, technicians, actor=actor, now=now,
                               reason=f"vendor {vendor.slug} suspended: no access review "
                                      f"confirmed since {since}")
            suspended.append(vendor.slug)
    return suspended


def reinstate_vendor(session: Session, core: Bastion, vendor: Vendor, *, actor: Actor,
                     line_id: int) -> None:
    """A confirmed line is a review: the vendor's yearly suspension ends (in the caller's
    transaction)."""
    if vendor.review_suspended_at is None:
        return
    vendor.review_suspended_at = None
    core.audit.append(session, action="access_review.vendor_reinstated", outcome="ok", actor=actor,
                      vendor=vendor.slug,
                      reasons=[f"access review line {line_id} confirmed"],
                      details={"line_id": line_id})
