"""Writing signed checkpoints, and where the chain stands (its head, an event's position).

Every function here expects the caller to hold the chain lock (:func:`lock_chain`), in
the same transaction as the events it covers: two processes can then never both decide
that the same event needs a checkpoint, nor count positions from a half-written chain.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from bastion.models import AuditEvent, utcnow
from bastion.models.audit import AuditCheckpoint

from .chain import GENESIS_HASH
from .signing import SIGNED_FIELDS, CheckpointSigner

# Any fixed 64-bit number: the PostgreSQL advisory lock that serialises chain appends
# (and checkpoints, and purges) across every process and node sharing the database.
_PG_CHAIN_LOCK = 0x6261_7374_696F_6E01 & 0x7FFF_FFFF_FFFF_FFFF

# periodic: every N events; timed: the oldest unsigned event reached the age limit;
# start/stop: a ``bastion serve`` started or stopped; manual: on demand; anchor: a purge.
KINDS = ("periodic", "timed", "start", "stop", "manual", "anchor")


def lock_chain(session: Session) -> None:
    """Serialise with every other writer of the chain until this transaction ends. On
    SQLite every transaction already holds the write lock (``BEGIN IMMEDIATE``)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_CHAIN_LOCK})


def latest_anchor(session: Session) -> AuditCheckpoint | None:
    return session.scalar(
        select(AuditCheckpoint).where(AuditCheckpoint.kind == "anchor")
        .order_by(AuditCheckpoint.event_id.desc()).limit(1)
    )


def chain_head(session: Session) -> tuple[int, str]:
    """The id and hash the next event links to. After a purge that removed every event,
    that is the purge anchor, not the genesis: the chain goes on where it stopped."""
    row = session.execute(
        select(AuditEvent.id, AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)
    ).first()
    if row is not None:
        return row.id, row.hash
    anchor = latest_anchor(session)
    if anchor is not None:
        return anchor.event_id, anchor.event_hash
    return 0, GENESIS_HASH


def _base(session: Session, up_to_event_id: int) -> tuple[int, int]:
    """(event id, position) of the newest checkpoint at or before an event, or (0, 0)."""
    row = session.execute(
        select(AuditCheckpoint.event_id, AuditCheckpoint.event_count)
        .where(AuditCheckpoint.event_id <= up_to_event_id)
        .order_by(AuditCheckpoint.event_id.desc()).limit(1)
    ).first()
    return (row.event_id, row.event_count) if row is not None else (0, 0)


def _events_between(session: Session, after_id: int, up_to_id: int) -> int:
    return session.scalar(
        select(func.count()).select_from(AuditEvent)
        .where(AuditEvent.id > after_id, AuditEvent.id <= up_to_id)
    ) or 0


def chain_position(session: Session, event_id: int) -> int:
    """How many events the chain holds up to and including ``event_id``, counting those a
    purge removed (positions never restart, so a checkpoint's count stays meaningful)."""
    base_id, base_count = _base(session, event_id)
    return base_count + _events_between(session, base_id, event_id)


def store_checkpoint(
    session: Session, signer: CheckpointSigner, *, kind: str, event_id: int, event_hash: str,
    event_count: int, interval: int, node: str,
) -> AuditCheckpoint:
    if kind not in KINDS:
        raise ValueError(f"unknown checkpoint kind {kind!r}")
    checkpoint = AuditCheckpoint(
        kind=kind, event_id=event_id, event_hash=event_hash, event_count=event_count,
        interval=interval, at=utcnow(), node=node, key_id=signer.key_id, signature="",
    )
    checkpoint.signature = signer.sign({name: getattr(checkpoint, name) for name in SIGNED_FIELDS})
    session.add(checkpoint)
    session.flush()
    return checkpoint


def _oldest_unsigned_is_older(session: Session, base_id: int, max_age: timedelta,
                              now: datetime) -> bool:
    oldest = session.scalar(select(AuditEvent.at).where(AuditEvent.id > base_id)
                            .order_by(AuditEvent.id).limit(1))
    return oldest is not None and oldest <= now - max_age


def checkpoint_if_due(
    session: Session, signer: CheckpointSigner, *, event: AuditEvent, interval: int, node: str,
    max_age: timedelta | None = None,
) -> AuditCheckpoint | None:
    """After appending ``event``: sign it when ``interval`` events have passed since the
    newest checkpoint (of any kind, so a manual one or a purge anchor restarts the count),
    or when the oldest event after that checkpoint is ``max_age`` old."""
    base_id, base_count = _base(session, event.id)
    since = _events_between(session, base_id, event.id)
    if since >= interval:
        kind = "periodic"
    elif max_age is not None and _oldest_unsigned_is_older(session, base_id, max_age, event.at):
        kind = "timed"
    else:
        return None
    return store_checkpoint(session, signer, kind=kind, event_id=event.id,
                            event_hash=event.hash, event_count=base_count + since,
                            interval=interval, node=node)


def checkpoint_stale(
    session: Session, signer: CheckpointSigner, *, interval: int, max_age: timedelta, node: str
) -> AuditCheckpoint | None:
    """For an idle log: sign the newest event when the oldest unsigned one is ``max_age``
    old (no append comes to do it). None when nothing is due."""
    lock_chain(session)
    head = session.execute(
        select(AuditEvent.id, AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)
    ).first()
    if head is None:
        return None
    base_id, base_count = _base(session, head.id)
    if base_id >= head.id or not _oldest_unsigned_is_older(session, base_id, max_age, utcnow()):
        return None
    return store_checkpoint(session, signer, kind="timed", event_id=head.id, event_hash=head.hash,
                            event_count=base_count + _events_between(session, base_id, head.id),
                            interval=interval, node=node)


def checkpoint_now(
    session: Session, signer: CheckpointSigner, *, interval: int, node: str, kind: str = "manual"
) -> AuditCheckpoint | None:
    """On demand, or at a serve start or stop (``kind``): sign the newest event (unless a
    checkpoint already covers it). Returns the checkpoint covering the head, or None when
    the log is empty."""
    lock_chain(session)
    row = session.execute(
        select(AuditEvent.id, AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)
    ).first()
    if row is None:
        return None
    existing = session.scalar(
        select(AuditCheckpoint).where(AuditCheckpoint.event_id == row.id,
                                      AuditCheckpoint.kind != "anchor").limit(1)
    )
    if existing is not None:
        return existing
    return store_checkpoint(session, signer, kind=kind, event_id=row.id, event_hash=row.hash,
                            event_count=chain_position(session, row.id), interval=interval,
                            node=node)
