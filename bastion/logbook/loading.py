"""Loading interventions for a period from the database, in a few queries per page of
requests (never one per row), into the plain facts the assembly works on."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from bastion.controls.transfers import TRANSFER_ACTIONS
from bastion.models import (
    AccessRequest,
    AuditEvent,
    BreakGlassReview,
    Grant,
    RecordedCommand,
    Review,
    SshSession,
    StaffUser,
    Target,
    Technician,
    Vendor,
)
from bastion.trace_sealing import TraceSealer

from .entries import COMMAND_RULE_ACTIONS
from .facts import (
    BreakGlassFacts,
    CommandFacts,
    EventFacts,
    GrantFacts,
    Intervention,
    RequestFacts,
    SessionFacts,
)

T = TypeVar("T")

EVENT_ACTIONS = (*TRANSFER_ACTIONS, *COMMAND_RULE_ACTIONS)
MAX_ENTRIES = 2000  # a year of a busy vendor fits; beyond, narrow the period


@dataclass(frozen=True)
class LogbookFilter:
    """Days are the hospital's (``web.time_zone``), both included."""

    since: date | None = None
    until: date | None = None
    vendor: str | None = None  # vendor slug
    target: str | None = None  # target name

    def bounds(self, zone: ZoneInfo) -> tuple[datetime | None, datetime | None]:
        start = datetime.combine(self.since, time(0), tzinfo=zone) if self.since else None
        end = (datetime.combine(self.until + timedelta(days=1), time(0), tzinfo=zone)
               if self.until else None)
        return start, end


def _person(user: StaffUser) -> str:
    return f"{user.full_name} ({user.username})"


def load_interventions(session: Session, query: LogbookFilter, zone: ZoneInfo,
                       traces: TraceSealer, limit: int = MAX_ENTRIES) -> list[Intervention]:
    """Granted requests whose grant window overlaps the period, oldest first. (Sessions
    never outlive their grant, so the window covers everything that happened.)"""
    start, end = query.bounds(zone)
    rows = (select(AccessRequest, Grant)
            .join(Grant, Grant.request_id == AccessRequest.id)
            .join(Technician, Technician.id == AccessRequest.technician_id)
            .join(Vendor, Vendor.id == Technician.vendor_id)
            .join(Target, Target.id == AccessRequest.target_id))
    if start is not None:
        rows = rows.where(Grant.not_after >= start)
    if end is not None:
        rows = rows.where(Grant.not_before < end)
    if query.vendor:
        rows = rows.where(Vendor.slug == query.vendor)
    if query.target:
        rows = rows.where(Target.name == query.target)
    pairs = [(r, g) for r, g in session.execute(rows.order_by(Grant.not_before, Grant.id).limit(limit))]
    return assemble_rows(session, pairs, traces)


def assemble_rows(session: Session, pairs: Sequence[tuple[AccessRequest, Grant]],
                  traces: TraceSealer) -> list[Intervention]:
    grant_ids = [g.id for _, g in pairs]
    request_ids = [r.id for r, _ in pairs]
    sessions = _by(session.scalars(select(SshSession).where(SshSession.grant_id.in_(grant_ids))
                                   .order_by(SshSession.started_at, SshSession.id)),
                   lambda s: s.grant_id)
    session_ids = [s.id for group in sessions.values() for s in group]
    commands = _by(session.scalars(select(RecordedCommand)
                                   .where(RecordedCommand.session_id.in_(session_ids))
                                   .order_by(RecordedCommand.at, RecordedCommand.id)),
                   lambda c: c.session_id)
    events = _by(session.scalars(select(AuditEvent)
                                 .where(AuditEvent.session_id.in_(session_ids),
                                        AuditEvent.action.in_(EVENT_ACTIONS))
                                 .order_by(AuditEvent.id)),
                 lambda e: e.session_id)
    approvers = _by(session.scalars(select(Review).where(Review.request_id.in_(request_ids),
                                                        Review.decision == "approve")
                                    .order_by(Review.created_at, Review.id)),
                    lambda r: r.request_id)
    reviews = {b.request_id: b for b in session.scalars(
        select(BreakGlassReview).where(BreakGlassReview.request_id.in_(request_ids)))}
    declarers = {u.id: u for u in session.scalars(select(StaffUser).where(StaffUser.id.in_(
        {r.declared_by_staff_id for r, _ in pairs if r.declared_by_staff_id})))}
    found = []
    for request, grant in pairs:
        mine = sessions.get(grant.id, [])
        review = reviews.get(request.id)
        declarer = declarers.get(request.declared_by_staff_id or -1)
        glass = (BreakGlassFacts(review.justification if review else request.reason,
                                 _person(declarer) if declarer else None,
                                 review.verdict if review else None)
                 if request.break_glass else None)
        found.append(Intervention(
            request=_request(request), grant=_grant(grant),
            approvers=tuple(_person(r.staff) for r in approvers.get(request.id, [])),
            sessions=tuple(_session(s) for s in mine),
            commands=tuple(_command(session, traces, c) for s in mine
                           for c in commands.get(s.id, [])),
            events=tuple(_event(session, traces, e) for s in mine for e in events.get(s.id, [])),
            break_glass=glass))
    return found


def _by(rows: Iterable[T], key: Callable[[T], int | None]) -> dict[int | None, list[T]]:
    grouped: dict[int | None, list[T]] = defaultdict(list)
    for row in rows:
        grouped[key(row)].append(row)
    return grouped


def _request(r: AccessRequest) -> RequestFacts:
    vendor = r.technician.vendor
    return RequestFacts(r.id, vendor.slug, vendor.name, r.technician.ident, r.technician.full_name,
                        r.target.name, r.account_name, r.reason, r.ticket, r.source,
                        r.break_glass, r.created_at)


def _grant(g: Grant) -> GrantFacts:
    return GrantFacts(g.id, g.not_before, g.not_after, g.status, g.revoked_at, g.revoked_by,
                      g.revoke_reason)


def _session(s: SshSession) -> SessionFacts:
    return SessionFacts(s.id, s.technician.ident, s.technician.full_name, s.target.name,
                        s.account_name, s.started_at, s.ended_at, s.status, s.end_reason)


def _command(session: Session, traces: TraceSealer, c: RecordedCommand) -> CommandFacts:
    return CommandFacts(c.session_id, c.at, c.kind, traces.command_text(session, c), c.exit_status)


def _event(session: Session, traces: TraceSealer, e: AuditEvent) -> EventFacts:
    return EventFacts(e.id, e.session_id, e.at, e.action, e.outcome,
                      traces.open_details(session, e.details))
