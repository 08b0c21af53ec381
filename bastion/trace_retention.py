"""Retention of the access traces kept outside the audit log: requests, their reviews and
approval proofs, grants, break-glass reviews, notifications, SSH sessions, the catalog rows
of purged recordings and the command index.

One period for every access trace, the audit log's: ``audit.retention_days`` (CNIL
délibération 2021-122: 6 to 12 months; up to 3 years only with
``audit.retention_justification``, checked in bastion/config.py). Without this, a purged
audit log would still leave who connected from where, to what data and why, for ever.

The unit of deletion is an access request with everything hanging from it, so nothing is
left half-kept. A request is kept while any of it is still needed:

- its window, its last change, one of its sessions or its break-glass review's closing is
  newer than the cut-off, or the review is still open (the DPO has not decided yet);
- a recording of one of its sessions still exists (recordings have their own period) or is
  on legal hold: the session rows it refers to stay with it;
- the audit log is on legal hold: then nothing is purged at all.

Children go before parents (foreign keys): commands, recordings, sessions, break-glass
reviews, approval reviews, challenges (the approvers' proofs), notifications, grants,
requests. Each batch is one transaction with a ``traces.purged`` audit event that counts
the rows per table.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import delete, exists, or_, select
from sqlalchemy.orm import Session

from bastion.audit import Actor
from bastion.audit.retention import hold_status
from bastion.models import (
    AccessRequest,
    BreakGlassReview,
    Grant,
    NotificationOutbox,
    RecordedCommand,
    Recording,
    Review,
    SshSession,
    WebAuthnChallenge,
    utcnow,
)
from bastion.periodic import run_every

if TYPE_CHECKING:
    from bastion.context import Bastion

log = logging.getLogger("bastion.retention")

BATCH = 500
# Deletion order: every table after the ones that point at it.
TABLES = ("recorded_commands", "recordings", "ssh_sessions", "break_glass_reviews", "reviews",
          "webauthn_challenges", "notification_outbox", "grants", "access_requests")


class TraceRetentionRefused(Exception):
    """Nothing was purged; the message says why (a legal hold)."""


@dataclass
class TracePurgeResult:
    cutoff: datetime
    retention_days: int
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TABLES, 0))
    dry_run: bool = False

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def add(self, counts: dict[str, int]) -> None:
        for table, count in counts.items():
            self.counts[table] += count


def _session_still_needed(cutoff: datetime):  # type: ignore[no-untyped-def]
    """A session that is live, recent, or whose recording is still kept or held."""
    kept_recording = exists().where(Recording.session_id == SshSession.id,
                                    or_(Recording.legal_hold.is_(True), Recording.status != "purged"))
    return or_(SshSession.ended_at.is_(None), SshSession.ended_at >= cutoff, kept_recording)


def expired_requests(session: Session, cutoff: datetime, limit: int = BATCH) -> list[int]:
    needed_grants = select(SshSession.grant_id).where(SshSession.grant_id.is_not(None),
                                                      _session_still_needed(cutoff))
    needed_by_sessions = select(Grant.request_id).where(Grant.id.in_(needed_grants))
    needed_by_review = select(BreakGlassReview.request_id).where(
        or_(BreakGlassReview.closed_at.is_(None), BreakGlassReview.closed_at >= cutoff))
    return list(session.scalars(
        select(AccessRequest.id)
        .where(AccessRequest.window_end < cutoff, AccessRequest.updated_at < cutoff,
               AccessRequest.id.not_in(needed_by_sessions), AccessRequest.id.not_in(needed_by_review))
        .order_by(AccessRequest.id).limit(limit)))


def expired_orphan_sessions(session: Session, cutoff: datetime, limit: int = BATCH) -> list[int]:
    """Sessions without a grant (refused at the door, or from before grants were linked)."""
    return list(session.scalars(select(SshSession.id)
                                .where(SshSession.grant_id.is_(None),
                                       ~_session_still_needed(cutoff))
                                .order_by(SshSession.id).limit(limit)))


def _delete(session: Session, statement) -> int:  # type: ignore[no-untyped-def]
    return session.execute(statement.execution_options(synchronize_session=False)).rowcount or 0


def _delete_sessions(session: Session, session_ids: list[int]) -> dict[str, int]:
    return {
        "recorded_commands": _delete(session, delete(RecordedCommand)
                                     .where(RecordedCommand.session_id.in_(session_ids))),
        "recordings": _delete(session, delete(Recording).where(Recording.session_id.in_(session_ids))),
        "ssh_sessions": _delete(session, delete(SshSession).where(SshSession.id.in_(session_ids))),
    }


def _delete_requests(session: Session, request_ids: list[int]) -> dict[str, int]:
    grant_ids = list(session.scalars(select(Grant.id).where(Grant.request_id.in_(request_ids))))
    session_ids = list(session.scalars(select(SshSession.id).where(SshSession.grant_id.in_(grant_ids))))
    counts = _delete_sessions(session, session_ids)
    counts["break_glass_reviews"] = _delete(session, delete(BreakGlassReview)
                                            .where(BreakGlassReview.request_id.in_(request_ids)))
    counts["reviews"] = _delete(session, delete(Review).where(Review.request_id.in_(request_ids)))
    counts["webauthn_challenges"] = _delete(session, delete(WebAuthnChallenge)
                                            .where(WebAuthnChallenge.request_id.in_(request_ids)))
    counts["notification_outbox"] = _delete(session, delete(NotificationOutbox)
                                            .where(NotificationOutbox.request_id.in_(request_ids)))
    counts["grants"] = _delete(session, delete(Grant).where(Grant.id.in_(grant_ids)))
    counts["access_requests"] = _delete(session, delete(AccessRequest)
                                        .where(AccessRequest.id.in_(request_ids)))
    return counts


def _delete_old_notifications(session: Session, cutoff: datetime) -> dict[str, int]:
    """Messages tied to no request (daily summaries, reviews...), once delivered or given up."""
    return {"notification_outbox": _delete(session, delete(NotificationOutbox).where(
        NotificationOutbox.request_id.is_(None), NotificationOutbox.created_at < cutoff,
        NotificationOutbox.status != "pending"))}


def _batch(core: Bastion, cutoff: datetime, days: int, actor: Actor | None,
           dry_run: bool) -> dict[str, int] | None:
    with core.db.session() as session:
        if hold_status(session).held:
            raise TraceRetentionRefused("the audit log is on legal hold: access traces are kept "
                                        "until the hold is released (bastion audit hold --release)")
        request_ids = expired_requests(session, cutoff)
        orphan_ids = expired_orphan_sessions(session, cutoff)
        if dry_run:
            counts = dict.fromkeys(TABLES, 0)
            counts["access_requests"], counts["ssh_sessions"] = len(request_ids), len(orphan_ids)
            return counts
        counts = dict.fromkeys(TABLES, 0)
        for part in (_delete_requests(session, request_ids) if request_ids else {},
                     _delete_sessions(session, orphan_ids) if orphan_ids else {},
                     _delete_old_notifications(session, cutoff)):
            for table, count in part.items():
                counts[table] += count
        if not any(counts.values()):
            return None
        core.audit.append(
            session, action="traces.purged", outcome="ok", actor=actor,
            reasons=[f"older than the retention period ({days} days)"],
            details={"counts": counts, "cutoff": cutoff.isoformat(), "retention_days": days,
                     "request_ids": request_ids, "session_ids": orphan_ids},
            message=f"{sum(counts.values())} access-trace rows older than {days} days purged")
        return counts


def purge_expired_traces(core: Bastion, *, actor: Actor | None = None, now: datetime | None = None,
                         dry_run: bool = False) -> TracePurgeResult:
    """Purge every access trace older than ``audit.retention_days``. Raises
    :class:`TraceRetentionRefused` (after auditing the refusal) on a legal hold. A dry run
    counts the requests and grant-less sessions that would go."""
    days = core.settings.audit.retention_days
    result = TracePurgeResult((now or utcnow()) - timedelta(days=days), days, dry_run=dry_run)
    try:
        while (counts := _batch(core, result.cutoff, days, actor, dry_run)) is not None:
            result.add(counts)
            if dry_run or (counts["access_requests"] < BATCH and counts["ssh_sessions"] < BATCH):
                break
    except TraceRetentionRefused as exc:
        if not dry_run:
            with core.db.session() as session:
                core.audit.append(session, action="traces.purge_refused", outcome="denied",
                                  actor=actor, reasons=[str(exc)],
                                  details={"cutoff": result.cutoff.isoformat(),
                                           "retention_days": days})
        raise
    return result


async def purge_daily(core: Bastion, stop: asyncio.Event, *, interval_seconds: float = 24 * 3600) -> None:
    """For ``bastion serve``: purge now, then daily, in a worker thread (never on the loop)."""
    async def purge() -> None:
        try:
            result = await asyncio.to_thread(purge_expired_traces, core)
        except TraceRetentionRefused as exc:
            log.warning("trace retention: %s", exc)
            return
        if result.total:
            log.info("trace retention: %s", result.counts)

    await run_every(interval_seconds, stop, purge, what="trace retention purge")
