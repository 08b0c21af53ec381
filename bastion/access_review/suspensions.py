"""Is an access suspended or revoked by an access review? Asked by the contracts engine's
``decide_access`` on every decision, so it imports nothing but the models (the engine
imports it lazily: this package's other modules import the engine).

The latest decision on a technician x target x account stands: a suspension (not
confirmed by the deadline) or a revocation refuses new access until a later decision
confirms it again (a late confirmation, or the next campaign's). Pending lines of an open
campaign change nothing: the access keeps working until the deadline.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from bastion.i18n.marker import N_, Phrase
from bastion.models import AccessReviewCampaign, AccessReviewLine

BLOCKING = ("suspended", "revoked")


@dataclass(frozen=True)
class Suspension:
    campaign_id: int
    line_id: int
    decision: str  # suspended | revoked
    technician: str
    target: str
    account: str
    deadline: date

    @property
    def code(self) -> str:
        return "access_suspended" if self.decision == "suspended" else "access_revoked"

    @property
    def headline(self) -> Phrase:
        """The technician's one line (the proxy shows it after "refused: ")."""
        if self.decision == "suspended":
            return Phrase.of(N_("access to {target} suspended by access review {review}: not "
                                "confirmed by {day}"),
                             target=self.target, review=self.campaign_id, day=self.deadline)
        return Phrase.of(N_("access to {target} revoked by access review {review}"),
                         target=self.target, review=self.campaign_id)

    @property
    def detail(self) -> Phrase:
        """The precise reason: whose access, which account, which line (approvers read it
        in their language)."""
        what = (Phrase.of(N_("suspended by access review {review}: not confirmed by {day}"),
                          review=self.campaign_id, day=self.deadline)
                if self.decision == "suspended"
                else Phrase.of(N_("revoked by access review {review}"), review=self.campaign_id))
        return Phrase.of(N_("access of {technician} to {account}@{target} {what} (line {line})"),
                         technician=self.technician, account=self.account, target=self.target,
                         what=what, line=self.line_id)

    @property
    def reason(self) -> str:
        """The audit log's precise reason, in English."""
        return self.detail.english()


def blocking_decision(session: Session, *, technician_id: int, target_id: int,
                      account: str | None) -> Suspension | None:
    """The suspension or revocation in force for this access, if any. ``account=None``
    (not settled yet) looks at every account of the technician on the target."""
    query = (select(AccessReviewLine, AccessReviewCampaign)
             .join(AccessReviewCampaign, AccessReviewCampaign.id == AccessReviewLine.campaign_id)
             .where(AccessReviewLine.technician_id == technician_id,
                    AccessReviewLine.target_id == target_id,
                    AccessReviewLine.decision != "pending")
             .order_by(AccessReviewLine.decided_at.desc(), AccessReviewLine.id.desc()))
    if account is not None:
        query = query.where(AccessReviewLine.account_name == account)
    latest: dict[str, tuple[AccessReviewLine, AccessReviewCampaign]] = {}
    for line, campaign in session.execute(query):
        latest.setdefault(line.account_name, (line, campaign))  # newest first: keep the first
    for line, campaign in latest.values():
        if line.decision in BLOCKING:
            return Suspension(campaign.id, line.id, line.decision, line.technician.ident,
                              line.target.name, line.account_name, campaign.deadline)
    return None
