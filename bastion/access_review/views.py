"""Frozen views of campaigns and their lines, for the CLI and the console (no ORM rows
leave a transaction), and the lists of campaigns due and overdue."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bastion.context import Bastion
from bastion.models import AccessReviewCampaign, AccessReviewLine, Vendor, utcnow

from .errors import ReviewError


@dataclass(frozen=True)
class LineInfo:
    id: int
    campaign_id: int
    technician: str
    technician_name: str
    target: str
    account: str
    decision: str  # pending | confirmed | revoked | suspended
    decided_at: datetime | None
    decided_by: str | None
    comment: str | None


@dataclass(frozen=True)
class CampaignInfo:
    id: int
    vendor: str
    vendor_name: str
    deadline: date
    due_at: datetime
    status: str  # open | closed
    opened_at: datetime
    opened_by: str
    closed_at: datetime | None
    closed_by: str | None
    contract_reference: str | None
    note: str | None
    counts: dict[str, int]  # lines per decision

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def pending(self) -> int:
        return self.counts.get("pending", 0)

    def state(self, now: datetime | None = None) -> str:
        """``open`` (waiting for confirmations), ``overdue`` (deadline passed, suspensions
        not applied yet) or ``closed``."""
        if self.status != "open":
            return "closed"
        return "overdue" if self.due_at <= (now or utcnow()) else "open"


@dataclass(frozen=True)
class CampaignDetail:
    campaign: CampaignInfo
    lines: tuple[LineInfo, ...]


@dataclass(frozen=True)
class Attention:
    """Open campaigns, for the admin's and the DPO's home pages."""

    due: tuple[CampaignInfo, ...]  # deadline ahead, lines to confirm
    overdue: tuple[CampaignInfo, ...]  # deadline passed, suspensions about to apply


def line_info(line: AccessReviewLine) -> LineInfo:
    return LineInfo(line.id, line.campaign_id, line.technician.ident, line.technician.full_name,
                    line.target.name, line.account_name, line.decision, line.decided_at,
                    line.decided_by, line.comment)


def campaign_info(campaign: AccessReviewCampaign) -> CampaignInfo:
    counts = Counter(line.decision for line in campaign.lines)
    version = campaign.contract_version
    return CampaignInfo(campaign.id, campaign.vendor.slug, campaign.vendor.name, campaign.deadline,
                        campaign.due_at, campaign.status, campaign.opened_at, campaign.opened_by,
                        campaign.closed_at, campaign.closed_by,
                        version.reference if version is not None else None, campaign.note,
                        dict(counts))


def load_campaign(session: Session, campaign_id: int) -> AccessReviewCampaign:
    campaign = session.get(AccessReviewCampaign, campaign_id)
    if campaign is None:
        raise ReviewError("campaign_not_found", f"no access review {campaign_id}")
    return campaign


def list_campaigns(core: Bastion, *, vendor: str | None = None, open_only: bool = False,
                   limit: int = 200) -> list[CampaignInfo]:
    """Newest first."""
    with core.db.session() as session:
        query = select(AccessReviewCampaign).order_by(AccessReviewCampaign.id.desc()).limit(limit)
        if vendor is not None:
            query = query.join(Vendor, Vendor.id == AccessReviewCampaign.vendor_id).where(
                Vendor.slug == vendor)
        if open_only:
            query = query.where(AccessReviewCampaign.status == "open")
        return [campaign_info(c) for c in session.scalars(query)]


def get_campaign(core: Bastion, campaign_id: int) -> CampaignDetail:
    with core.db.session() as session:
        campaign = load_campaign(session, campaign_id)
        lines = sorted(campaign.lines, key=lambda x: (x.technician.ident, x.target.name,
                                                      x.account_name))
        return CampaignDetail(campaign_info(campaign), tuple(line_info(x) for x in lines))


def needing_attention(core: Bastion, now: datetime | None = None) -> Attention:
    now = now or utcnow()
    campaigns = sorted(list_campaigns(core, open_only=True), key=lambda c: c.due_at)
    return Attention(tuple(c for c in campaigns if c.state(now) == "open"),
                     tuple(c for c in campaigns if c.state(now) == "overdue"))
