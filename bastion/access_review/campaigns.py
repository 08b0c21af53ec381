"""Opening a campaign, confirming or revoking its lines, and suspending what was not
confirmed by the deadline. Each function opens its own transaction(s) on ``core.db``,
audits what it changes, and refuses with :class:`ReviewError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from bastion.audit import Actor
from bastion.context import Bastion
from bastion.contracts import ContractStoreError, current_contract_for_vendor, target_facts
from bastion.models import (
    AccessReviewCampaign,
    AccessReviewLine,
    Target,
    Technician,
    Vendor,
    utcnow,
)

from .allowed import allowed_lines
from .errors import ReviewError
from .grants import refuse_blocked_requests, revoke_blocked_grants
from .suspensions import blocking_decision
from .views import CampaignInfo, LineInfo, campaign_info, line_info
from .yearly import reinstate_vendor

MAX_NOTE = 2000


def due_instant(deadline: date, zone: ZoneInfo) -> datetime:
    """The end of the deadline day in the hospital's zone: "confirm by 31 March" means
    until midnight, local time (DST-aware), whatever the server's own zone."""
    return datetime.combine(deadline + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)


def hospital_zone(core: Bastion) -> ZoneInfo:
    return ZoneInfo(core.settings.web.time_zone)


def _subject(line: AccessReviewLine) -> dict[str, object]:
    return {"vendor": line.campaign.vendor.slug, "technician": line.technician.ident,
            "target": line.target.name, "account": line.account_name}


def open_campaign(core: Bastion, *, vendor: str, deadline: date, actor: Actor,
                  note: str | None = None, now: datetime | None = None) -> CampaignInfo:
    """List every access the vendor's current contract allows (one line per active
    technician x enabled target x account) for confirmation by ``deadline``."""
    now = now or utcnow()
    note = (note or "").strip()[:MAX_NOTE] or None
    due_at = due_instant(deadline, hospital_zone(core))
    if due_at <= now:
        raise ReviewError("deadline_past", f"the deadline {deadline.isoformat()} is already past")
    with core.db.session() as session:
        # Locked: two people opening a campaign at once must not open two.
        row = session.scalar(select(Vendor).where(Vendor.slug == vendor).with_for_update())
        if row is None:
            raise ReviewError("vendor_unknown", f"unknown vendor {vendor}")
        running = session.scalar(select(AccessReviewCampaign).where(
            AccessReviewCampaign.vendor_id == row.id, AccessReviewCampaign.status == "open"))
        if running is not None:
            raise ReviewError("already_open",
                              f"access review {running.id} of vendor {vendor} is still open "
                              f"(deadline {running.deadline.isoformat()})")
        try:
            current = current_contract_for_vendor(session, row.id)
        except ContractStoreError as exc:
            raise ReviewError("contract_unreadable", str(exc)) from None
        if current is None:
            raise ReviewError("no_contract", f"vendor {vendor} has no current contract")
        version, contract = current
        # Inactive technicians and disabled targets are refused by the engine's caller
        # anyway: nothing to confirm there.
        people = {t.ident: t.id for t in session.scalars(
            select(Technician).where(Technician.vendor_id == row.id, Technician.active.is_(True)))}
        targets = {t.name: t for t in session.scalars(select(Target).where(Target.enabled.is_(True)))}
        lines = allowed_lines(contract, sorted(people), [target_facts(t) for t in targets.values()],
                              now)
        if not lines:
            raise ReviewError("nothing_to_review",
                              f"contract {contract.reference} allows no access to a target "
                              "of the inventory: nothing to review")
        campaign = AccessReviewCampaign(vendor_id=row.id, contract_version_id=version.id,
                                        deadline=deadline, due_at=due_at, status="open", note=note,
                                        opened_at=now, opened_by=actor.name)
        campaign.vendor = row
        session.add(campaign)
        session.flush()
        for line in lines:
            session.add(AccessReviewLine(campaign_id=campaign.id, technician_id=people[line.technician],
                                         target_id=targets[line.target].id,
                                         account_name=line.account, decision="pending"))
        session.flush()
        session.refresh(campaign)
        core.audit.append(
            session, action="access_review.opened", outcome="ok", actor=actor, vendor=vendor,
            reasons=[f"{len(lines)} access(es) allowed by contract {contract.reference} to "
                     f"confirm by {deadline.isoformat()}"],
            details={"campaign_id": campaign.id, "deadline": deadline.isoformat(),
                     "due_at": due_at.isoformat(), "contract_reference": contract.reference,
                     "contract_version": version.version, "lines": len(lines), "note": note})
        return campaign_info(campaign)


def _close_if_done(session: Session, core: Bastion, campaign: AccessReviewCampaign, *,
                   actor: Actor, now: datetime, why: str) -> None:
    if campaign.status != "open" or any(x.decision == "pending" for x in campaign.lines):
        return
    campaign.status, campaign.closed_at, campaign.closed_by = "closed", now, actor.name
    counts: dict[str, int] = {}
    for line in campaign.lines:
        counts[line.decision] = counts.get(line.decision, 0) + 1
    core.audit.append(session, action="access_review.closed", outcome="ok", actor=actor,
                      vendor=campaign.vendor.slug, reasons=[why],
                      details={"campaign_id": campaign.id, "lines": counts})


def confirm_line(core: Bastion, line_id: int, *, actor: Actor, comment: str | None = None,
                 now: datetime | None = None) -> LineInfo:
    """Still needed. Also lifts a suspension (a late confirmation)."""
    return _decide(core, line_id, "confirmed", actor=actor, comment=comment, now=now)


def revoke_line(core: Bastion, line_id: int, *, actor: Actor, reason: str,
                now: datetime | None = None) -> LineInfo:
    """No longer needed: new access is refused at once and live grants are revoked. The
    contract itself should then be narrowed (the review does not edit contracts)."""
    if not (reason or "").strip():
        raise ReviewError("reason_required", "say why the access is revoked")
    return _decide(core, line_id, "revoked", actor=actor, comment=reason, now=now)


ALLOWED_BEFORE = {"confirmed": ("pending", "suspended"),
                  "revoked": ("pending", "confirmed", "suspended")}


def _decide(core: Bastion, line_id: int, decision: str, *, actor: Actor, comment: str | None,
            now: datetime | None) -> LineInfo:
    now = now or utcnow()
    comment = (comment or "").strip()[:MAX_NOTE] or None
    with core.db.session() as session:
        line = session.get(AccessReviewLine, line_id, with_for_update=True)
        if line is None:
            raise ReviewError("line_not_found", f"no access review line {line_id}")
        before = line.decision
        if before not in ALLOWED_BEFORE[decision]:
            raise ReviewError("line_already_decided",
                              f"line {line_id} of access review {line.campaign_id} is "
                              f"already {before}")
        line.decision, line.decided_at, line.decided_by, line.comment = (
            decision, now, actor.name, comment)
        verb = "confirmed" if decision == "confirmed" else "revoked"
        core.audit.append(
            session, action=f"access_review.{verb}", outcome="ok", actor=actor,
            reasons=[f"access of {line.technician.ident} to {line.account_name}@"
                     f"{line.target.name} {verb}" + (" (lifting its suspension)"
                                                     if before == "suspended" else "")],
            details={"campaign_id": line.campaign_id, "line_id": line.id, "before": before,
                     "comment": comment},
            **_subject(line))  # type: ignore[arg-type]
        if decision == "confirmed":
            reinstate_vendor(session, core, line.campaign.vendor, actor=actor, line_id=line.id)
        _close_if_done(session, core, line.campaign, actor=actor, now=now,
                       why="every line was confirmed or revoked")
        info = line_info(line)
    if decision == "revoked":
        revoke_blocked_grants(core, actor=actor, now=now)
        refuse_blocked_requests(core, actor=actor, now=now)
    return info


@dataclass(frozen=True)
class CloseReport:
    campaigns: tuple[int, ...]  # closed now
    suspended: tuple[LineInfo, ...]  # lines suspended now
    grants_revoked: tuple[int, ...]


def close_overdue_campaigns(core: Bastion, *, now: datetime | None = None,
                            actor: Actor | None = None) -> CloseReport:
    """Suspend every line still pending past its campaign's deadline, close those
    campaigns, and revoke live grants of every blocked access. Safe to run at any time
    and as often as wanted (the server's housekeeping runs it periodically)."""
    now = now or utcnow()
    actor = actor or Actor.system()
    closed, suspended = [], []
    with core.db.session() as session:
        campaigns = session.scalars(
            select(AccessReviewCampaign)
            .where(AccessReviewCampaign.status == "open", AccessReviewCampaign.due_at <= now)
            .order_by(AccessReviewCampaign.id).with_for_update())
        for campaign in campaigns:
            for line in campaign.lines:
                if line.decision != "pending":
                    continue
                line.decision, line.decided_at, line.decided_by = "suspended", now, actor.name
                session.flush()
                blocked = blocking_decision(session, technician_id=line.technician_id,
                                            target_id=line.target_id, account=line.account_name)
                core.audit.append(
                    session, action="access_review.suspended", outcome="ok", actor=actor,
                    reasons=[blocked.reason if blocked else f"line {line.id} suspended"],
                    details={"campaign_id": campaign.id, "line_id": line.id,
                             "deadline": campaign.deadline.isoformat()},
                    **_subject(line))  # type: ignore[arg-type]
                suspended.append(line_info(line))
            _close_if_done(session, core, campaign, actor=actor, now=now,
                           why=f"deadline {campaign.deadline.isoformat()} passed")
            closed.append(campaign.id)
    revoked = revoke_blocked_grants(core, actor=actor, now=now)
    if suspended:
        refuse_blocked_requests(core, actor=actor, now=now)
    return CloseReport(tuple(closed), tuple(suspended), tuple(revoked))
