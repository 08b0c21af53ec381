"""Retention of the audit log: purge events older than ``audit.retention_days`` without
losing the ability to verify what remains; a legal hold that suspends purging.

A purge removes a *prefix* of the chain (the oldest events, up to the last one older than
the cut-off), in batches. Each batch is one transaction that:

1. takes the chain lock and verifies the batch (links, hashes, signed checkpoints): a
   purge must never erase the evidence of tampering, nor sign over it (unless forced);
2. signs an *anchor* checkpoint on the batch's last event: verification afterwards starts
   from that hash and position instead of the genesis;
3. deletes the batch through the one path the triggers allow (PostgreSQL: the function
   ``audit_purge_events``, which runs as the tables' owner and sets the transaction-local
   permit ``bastion.audit_purge_up_to`` only for events a signed anchor covers, so an
   application role that does not own the tables cannot purge by itself; SQLite: a row in
   ``audit_purge_permits``), then closes that path again;
4. appends an ``audit.purged`` event: the purge is itself in the trail.

Default retention: 365 days, from the CNIL's recommendation on logging (délibération
2021-122): 6 months to 1 year; see docs/operations.md.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import delete, func, select, text
from sqlalchemy.orm import Session

from bastion.models import AuditEvent, utcnow
from bastion.models.audit import AuditCheckpoint, AuditPurgePermit
from bastion.periodic import run_every

from .chain import GENESIS_HASH
from .checkpoints import chain_position, latest_anchor, lock_chain, store_checkpoint
from .log import Actor
from .signing import CheckpointSigner, CheckpointVerifier
from .verify import checkpoint_info, signature_problem
from .walker import ChainWalker, Problem

if TYPE_CHECKING:
    from bastion.context import Bastion

log = logging.getLogger("bastion.audit")

BATCH = 10_000
HOLD_ACTIONS = ("audit.hold_placed", "audit.hold_released")


class AuditRetentionError(Exception):
    """The purge was refused (legal hold, or the events to purge fail verification)."""


@dataclass(frozen=True)
class AuditPurgeResult:
    cutoff: datetime
    purged: int
    first_event_id: int | None = None
    last_event_id: int | None = None
    anchor_id: int | None = None  # the newest anchor written
    dry_run: bool = False


@dataclass(frozen=True)
class HoldStatus:
    held: bool
    since: datetime | None = None
    by: str | None = None
    reason: str | None = None


def hold_status(session: Session) -> HoldStatus:
    """The hold is whatever the newest hold event says: its state lives in the trail."""
    event = session.scalar(select(AuditEvent).where(AuditEvent.action.in_(HOLD_ACTIONS))
                           .order_by(AuditEvent.id.desc()).limit(1))
    if event is None or event.action == "audit.hold_released":
        return HoldStatus(False)
    return HoldStatus(True, event.at, event.actor, event.details.get("reason"))


def set_hold(core: Bastion, *, hold: bool, reason: str, actor: Actor | None = None) -> bool:
    """Place or release the legal hold on the audit log (e.g. during an investigation or
    litigation, purging is suspended). Returns False when it was already so."""
    with core.db.session() as session:
        lock_chain(session)  # two admins toggling at once must not both "change" it
        if hold_status(session).held == hold:
            return False
        core.audit.append(session, action=HOLD_ACTIONS[0] if hold else HOLD_ACTIONS[1],
                          outcome="ok", actor=actor, details={"reason": reason}, message=reason)
    return True


def _cutoff_boundary(session: Session, cutoff: datetime) -> int | None:
    """The last event of the longest prefix older than ``cutoff``. A prefix, so an event
    with a skewed clock (another node) never leaves a hole in what remains."""
    first_kept = session.scalar(select(func.min(AuditEvent.id)).where(AuditEvent.at >= cutoff))
    query = select(func.max(AuditEvent.id))
    if first_kept is not None:
        query = query.where(AuditEvent.id < first_kept)
    return session.scalar(query)


def _verify_prefix(session: Session, verifier: CheckpointVerifier, up_to: int) -> tuple[int, Problem | None]:
    """Verify the events from the current anchor to ``up_to`` (inside the purge's locked
    transaction); returns the chain position reached and the first problem."""
    anchor = latest_anchor(session)
    start = checkpoint_info(anchor) if anchor is not None else None
    start_id = start.event_id if start else 0
    rows = session.scalars(select(AuditCheckpoint).where(AuditCheckpoint.event_id > start_id,
                                                         AuditCheckpoint.event_id <= up_to)).all()
    for row in rows:
        forged = signature_problem(verifier, row)
        if forged is not None:
            return 0, forged
    walker = ChainWalker(start_hash=start.event_hash if start else GENESIS_HASH,
                         start_count=start.event_count if start else 0,
                         start_label=str(start) if start else "the first event",
                         start_checkpoint=start, checkpoints=[checkpoint_info(r) for r in rows])
    columns = tuple(AuditEvent.__table__.c)
    for row in session.execute(select(*columns).where(AuditEvent.id > start_id,
                                                      AuditEvent.id <= up_to).order_by(AuditEvent.id)):
        if not walker.feed(row._asdict()):
            break
    return walker.count, walker.problem


def _open_purge_path(session: Session, up_to: int) -> None:
    if session.get_bind().dialect.name == "postgresql":
        # is_local => true: the setting dies with this transaction, whatever happens.
        session.execute(text("SELECT set_config('bastion.audit_purge_up_to', :v, true)"),
                        {"v": str(up_to)})
    else:
        session.add(AuditPurgePermit(up_to_event_id=up_to))
        session.flush()


def _close_purge_path(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT set_config('bastion.audit_purge_up_to', '', true)"))
    else:
        session.execute(delete(AuditPurgePermit))


def _delete_prefix(session: Session, up_to: int) -> int:
    """Delete events up to ``up_to`` (its anchor is already written)."""
    if session.get_bind().dialect.name == "postgresql":
        return session.scalar(text("SELECT audit_purge_events(:up_to)"), {"up_to": up_to}) or 0
    _open_purge_path(session, up_to)
    purged = session.execute(delete(AuditEvent).where(AuditEvent.id <= up_to)
                             .execution_options(synchronize_session=False)).rowcount
    _close_purge_path(session)
    return purged


def _purge_batch(core: Bastion, signer: CheckpointSigner, verifier: CheckpointVerifier, *,
                 cutoff: datetime, days: int, actor: Actor | None, force: bool,
                 dry_run: bool) -> AuditPurgeResult | None:
    with core.db.session() as session:
        lock_chain(session)
        boundary = _cutoff_boundary(session, cutoff)
        if boundary is None:
            return None
        if hold_status(session).held:
            raise AuditRetentionError("the audit log is on legal hold: nothing is purged until "
                                      "the hold is released")
        first = session.scalar(select(func.min(AuditEvent.id)))
        if dry_run:
            count = session.scalar(select(func.count()).select_from(AuditEvent)
                                   .where(AuditEvent.id <= boundary)) or 0
            return AuditPurgeResult(cutoff, count, first, boundary, None, True)
        up_to = session.scalar(select(AuditEvent.id).where(AuditEvent.id <= boundary)
                               .order_by(AuditEvent.id).offset(BATCH - 1).limit(1)) or boundary
        position, problem = _verify_prefix(session, verifier, up_to)
        if problem is not None and not force:
            raise AuditRetentionError(f"events to purge fail verification, so they are kept as "
                                      f"evidence: {problem}")
        last = session.execute(select(AuditEvent.id, AuditEvent.hash)
                               .where(AuditEvent.id == up_to)).one()
        # Position from the walk when it succeeded; forced past a problem, from the
        # checkpoints' bookkeeping (the walk stopped early).
        position = position if problem is None else chain_position(session, up_to)
        anchor = store_checkpoint(session, signer, kind="anchor", event_id=up_to,
                                  event_hash=last.hash, event_count=position,
                                  interval=core.audit.checkpoint_every, node=core.node)
        purged = _delete_prefix(session, up_to)
        core.audit.append(
            session, action="audit.purged", outcome="ok", actor=actor,
            details={"count": purged, "first_event_id": first, "last_event_id": up_to,
                     "last_event_hash": last.hash, "anchor_checkpoint_id": anchor.id,
                     "cutoff": cutoff.isoformat(), "retention_days": days,
                     "forced_past": str(problem) if problem else None},
            message=f"{purged} audit events older than {days} days purged",
        )
        return AuditPurgeResult(cutoff, purged, first, up_to, anchor.id, False)


def purge_expired_events(
    core: Bastion,
    *,
    actor: Actor | None = None,
    now: datetime | None = None,
    dry_run: bool = False,
    force: bool = False,
) -> AuditPurgeResult:
    """Purge every event older than ``audit.retention_days``. Raises
    :class:`AuditRetentionError` (after auditing the refusal) on a legal hold or when the
    events to purge fail verification; ``force`` purges the latter anyway, saying so in
    the ``audit.purged`` event."""
    from .service import signer_of, verifier_of

    days = core.settings.audit.retention_days
    cutoff = (now or utcnow()) - timedelta(days=days)
    signer, verifier = signer_of(core), verifier_of(core)
    total, first, last, anchor = 0, None, None, None
    try:
        while True:
            batch = _purge_batch(core, signer, verifier, cutoff=cutoff, days=days, actor=actor,
                                 force=force, dry_run=dry_run)
            if batch is None:
                break
            total += batch.purged
            first = first if first is not None else batch.first_event_id
            last, anchor = batch.last_event_id, batch.anchor_id
            if dry_run:
                break
    except AuditRetentionError as exc:
        if dry_run:
            raise
        with core.db.session() as session:
            core.audit.append(session, action="audit.purge_refused", outcome="denied", actor=actor,
                              reasons=[str(exc)], details={"cutoff": cutoff.isoformat(),
                                                           "retention_days": days})
        raise
    return AuditPurgeResult(cutoff, total, first, last, anchor, dry_run)


async def purge_daily(core: Bastion, stop: asyncio.Event, *, interval_seconds: float = 24 * 3600) -> None:
    """For ``bastion serve``: purge now, then every ``interval_seconds`` until ``stop``.
    Runs in a worker thread so the event loop never waits on the database."""
    async def purge() -> None:
        try:
            result = await asyncio.to_thread(purge_expired_events, core)
        except AuditRetentionError as exc:
            log.warning("audit retention: %s", exc)
            return
        if result.purged:
            log.info("audit retention: %d events purged", result.purged)

    await run_every(interval_seconds, stop, purge, what="audit retention purge")
