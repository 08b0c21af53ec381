"""Reading the facts of a period from the database, and computing its flags.

The period is half-open, ``since <= t < until``: sessions that started in it, audit
events written in it, emergency accesses declared in it. Recordings are read for every
session those name, so a flag on a session that began before the period still links to
its moment.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from bastion.access_review.staff_roles import overdue_staff_reviews
from bastion.access_review.yearly import overdue_reviews
from bastion.context import Bastion
from bastion.models import (
    AccessRequest,
    AuditEvent,
    BreakGlassReview,
    Grant,
    Recording,
    SshSession,
    StaffUser,
    Technician,
    Vendor,
    utcnow,
)
from bastion.trace_sealing import TraceSealer

from . import rules
from .calendar import Calendar
from .facts import (
    FLAG_KINDS,
    BreakGlassFacts,
    EventFacts,
    Flag,
    RecordingSpan,
    ReviewDueFacts,
    SessionFacts,
)
from .transfers import TRANSFER_ACTIONS

EVENT_ACTIONS = (*rules.COMMAND_ACTIONS, *TRANSFER_ACTIONS, *rules.REFUSAL_ACTIONS)


@dataclass(frozen=True)
class PeriodFacts:
    since: datetime
    until: datetime
    sessions: tuple[SessionFacts, ...]
    events: tuple[EventFacts, ...]
    spans: tuple[RecordingSpan, ...]
    break_glass: tuple[BreakGlassFacts, ...]


def _check_period(since: datetime, until: datetime) -> None:
    if since.tzinfo is None or until.tzinfo is None:
        raise ValueError("the period's bounds must carry a time zone")
    if until <= since:
        raise ValueError("the period must end after it starts")


def technician_vendors(session: Session) -> dict[str, str]:
    """ident -> vendor slug. The proxy's events name the technician, not always the vendor."""
    return dict(session.execute(select(Technician.ident, Vendor.slug)
                                .join(Vendor, Vendor.id == Technician.vendor_id)).all())


def _sessions(session: Session, since: datetime, until: datetime) -> list[SessionFacts]:
    rows = session.execute(
        select(SshSession, Grant.break_glass)
        .outerjoin(Grant, Grant.id == SshSession.grant_id)
        .options(selectinload(SshSession.technician).selectinload(Technician.vendor),
                 selectinload(SshSession.target))
        .where(SshSession.started_at >= since, SshSession.started_at < until)
        .order_by(SshSession.started_at, SshSession.id)).all()
    return [SessionFacts(
        id=s.id, technician=s.technician.ident, vendor=s.technician.vendor.slug,
        target=s.target.name, account=s.account_name,
        # Copied when the session opened; sessions from before that fall back to today's.
        data_categories=frozenset(s.data_categories if s.data_categories is not None
                                  else s.target.data_categories or ()), started_at=s.started_at,
        ended_at=s.ended_at, status=s.status, grant_id=s.grant_id,
        break_glass=bool(glass), client_address=s.client_address) for s, glass in rows]


def _events(session: Session, since: datetime, until: datetime,
            vendors: dict[str, str], traces: TraceSealer) -> list[EventFacts]:
    rows = session.scalars(select(AuditEvent)
                           .where(AuditEvent.at >= since, AuditEvent.at < until,
                                  AuditEvent.action.in_(EVENT_ACTIONS))
                           .order_by(AuditEvent.id))
    return [EventFacts(e.id, e.at, e.action, e.outcome, e.technician,
                       e.vendor or vendors.get(e.technician or ""), e.target, e.session_id,
                       traces.open_details(session, e.details)) for e in rows]


def _break_glass(session: Session, since: datetime, until: datetime) -> list[BreakGlassFacts]:
    found = []
    rows = session.scalars(select(BreakGlassReview)
                           .where(BreakGlassReview.opened_at >= since,
                                  BreakGlassReview.opened_at < until)
                           .order_by(BreakGlassReview.opened_at, BreakGlassReview.id))
    for review in rows:
        request: AccessRequest = review.request
        first = session.execute(
            select(SshSession.id, SshSession.started_at)
            .where(SshSession.grant_id == review.grant_id)
            .order_by(SshSession.started_at, SshSession.id).limit(1)).first() \
            if review.grant_id is not None else None
        declarer = (session.get(StaffUser, request.declared_by_staff_id)
                    if request.declared_by_staff_id is not None else None)
        found.append(BreakGlassFacts(
            review_id=review.id, request_id=request.id, grant_id=review.grant_id,
            technician=request.technician.ident, vendor=request.technician.vendor.slug,
            target=request.target.name, opened_at=review.opened_at, deadline=review.deadline,
            closed_at=review.closed_at, verdict=review.verdict,
            justification=review.justification,
            declared_by=declarer.username if declarer is not None else None,
            first_session_id=first[0] if first else None,
            first_session_start=first[1] if first else None))
    return found


def _spans(session: Session, session_ids: Collection[int]) -> list[RecordingSpan]:
    if not session_ids:
        return []
    rows = session.scalars(select(Recording).where(Recording.session_id.in_(sorted(session_ids)))
                           .order_by(Recording.started_at, Recording.id))
    return [RecordingSpan(r.id, r.session_id, r.channel, r.started_at, r.sealed_at)
            for r in rows]


def load_period(core: Bastion, since: datetime, until: datetime) -> PeriodFacts:
    _check_period(since, until)
    with core.db.session() as session:
        vendors = technician_vendors(session)
        sessions = _sessions(session, since, until)
        events = _events(session, since, until, vendors, core.traces)
        accesses = _break_glass(session, since, until)
        wanted = ({s.id for s in sessions} | {e.session_id for e in events if e.session_id}
                  | {b.first_session_id for b in accesses if b.first_session_id})
        spans = _spans(session, wanted)
    return PeriodFacts(since, until, tuple(sessions), tuple(events), tuple(spans),
                       tuple(accesses))


def flags_of(facts: PeriodFacts, core: Bastion, now: datetime) -> list[Flag]:
    """Every flag of the period, in time order."""
    controls = core.settings.controls
    spans = facts.spans
    return rules.sort_flags([
        *rules.sensitive_data(facts.sessions, spans),
        *rules.command_rules(facts.events, spans),
        *rules.transfer_volume(facts.events, spans, controls.sftp_download_mb * 1_000_000),
        *rules.off_hours(facts.sessions, spans, Calendar.from_settings(core.settings), now),
        *rules.refusal_bursts(facts.events, spans, count=controls.burst_count,
                              minutes=controls.burst_minutes),
        *rules.break_glass(facts.break_glass, spans, now),
        *rules.access_reviews_due(ReviewDueFacts(r.vendor, r.last_review, r.due_at, r.suspend_at,
                                                 r.suspended_at)
                                  for r in overdue_reviews(core, now)),
        *rules.access_reviews_due(ReviewDueFacts(None, r.last_review, r.due_at, r.suspend_at,
                                                 r.suspended_at, staff=r.username)
                                  for r in overdue_staff_reviews(core, now)),
    ])


def filter_flags(flags: Iterable[Flag], *, vendor: str | None = None,
                 kinds: Collection[str] | None = None) -> list[Flag]:
    if kinds is not None and (unknown := set(kinds) - set(FLAG_KINDS)):
        raise ValueError(f"unknown flag kind(s): {', '.join(sorted(unknown))}")
    return [f for f in flags if (vendor is None or f.vendor == vendor)
            and (kinds is None or f.kind in kinds)]


def compute_flags(core: Bastion, *, since: datetime, until: datetime,
                  vendor: str | None = None, kinds: Collection[str] | None = None,
                  now: datetime | None = None) -> list[Flag]:
    """The flags of ``since <= t < until``, optionally one vendor's or some kinds only."""
    facts = load_period(core, since, until)
    return filter_flags(flags_of(facts, core, now or utcnow()), vendor=vendor, kinds=kinds)
