"""Retention: purge recordings past their retention period, except those on legal hold;
legal holds; re-wrapping data keys when the master key rotates.

A purge deletes the file, the recording's indexed commands, and its wrapped data key
(crypto-shredding: a copy of the file left in a backup can no longer be decrypted). The
catalog row stays, marked ``purged`` with its final hash, so the audit trail still says
what existed and when it went. Each purge is one transaction with its audit event.

Retention is counted from the end of the recording (its seal), or its start when it has
none. The CNIL's guidance for access traces is 6 months to 1 year; the default is
``recording.retention_days = 365``.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select

from bastion.audit import Actor
from bastion.models import RecordedCommand, Recording, utcnow
from bastion.periodic import run_every

from .catalog import RecordingService, session_audit_fields
from .encryption import rewrap_data_key
from .errors import RecordingNotFound

log = logging.getLogger("bastion.recording")


@dataclass(frozen=True)
class PurgeItem:
    recording_id: int
    session_id: int
    storage_key: str
    ended_at: datetime
    file_deleted: bool  # False: the file was already gone (or a dry run)


def purge_expired(
    service: RecordingService,
    *,
    actor: Actor | None = None,
    now: datetime | None = None,
    retention_days: int | None = None,
    dry_run: bool = False,
) -> list[PurgeItem]:
    core = service.core
    days = retention_days if retention_days is not None else core.settings.recording.retention_days
    cutoff = (now or utcnow()) - timedelta(days=days)
    ended = func.coalesce(Recording.sealed_at, Recording.started_at)
    with core.db.session() as session:
        candidates = session.execute(
            select(Recording.id)
            .where(Recording.status.in_(("sealed", "interrupted")))
            .where(Recording.legal_hold.is_(False))
            .where(ended < cutoff)
            .order_by(Recording.id)
        ).scalars().all()
    purged = []
    for recording_id in candidates:
        with core.db.session() as session:
            recording = session.get(Recording, recording_id)
            # Re-checked inside the transaction: a hold placed meanwhile wins.
            if recording is None or recording.legal_hold or recording.status == "purged":
                continue
            ended_at = recording.sealed_at or recording.started_at
            if dry_run:
                purged.append(PurgeItem(recording.id, recording.session_id, recording.storage_key,
                                        ended_at, False))
                continue
            deleted = service.storage.delete(recording.storage_key)
            session.execute(delete(RecordedCommand).where(RecordedCommand.recording_id == recording.id))
            recording.status = "purged"
            recording.purged_at = utcnow()
            recording.wrapped_key = b""
            core.audit.append(
                session,
                action="recording.purged",
                outcome="ok",
                actor=actor,
                details={
                    "recording_id": recording.id,
                    "storage_key": recording.storage_key,
                    "final_hash": recording.final_hash,
                    "ended_at": ended_at.isoformat(),
                    "retention_days": days,
                    "file_deleted": deleted,
                },
                **session_audit_fields(recording.session),
            )
            purged.append(PurgeItem(recording.id, recording.session_id, recording.storage_key,
                                    ended_at, deleted))
    return purged


async def purge_daily(
    service: RecordingService, stop: asyncio.Event, *, interval_seconds: float = 24 * 3600
) -> None:
    """For ``bastion serve``: purge once now, then every ``interval_seconds`` until
    ``stop`` is set. A failing run is logged and retried at the next interval."""
    loop = asyncio.get_running_loop()

    async def purge() -> None:
        items = await loop.run_in_executor(service.executor, lambda: purge_expired(service))
        if items:
            log.info("retention: %d recordings purged", len(items))

    await run_every(interval_seconds, stop, purge, what="recording retention purge")


def set_legal_hold(
    service: RecordingService,
    recording_ids: list[int],
    *,
    hold: bool,
    actor: Actor | None = None,
    reason: str | None = None,
) -> list[int]:
    """Place or release a legal hold; returns the ids whose hold changed."""
    changed = []
    with service.core.db.session() as session:
        for recording_id in recording_ids:
            recording = session.get(Recording, recording_id)
            if recording is None:
                raise RecordingNotFound(f"no recording {recording_id}")
            if recording.status == "purged":
                raise RecordingNotFound(f"recording {recording_id} was already purged")
            if recording.legal_hold == hold:
                continue
            recording.legal_hold = hold
            service.core.audit.append(
                session,
                action="recording.hold" if hold else "recording.hold_released",
                outcome="ok",
                actor=actor,
                details={"recording_id": recording_id, "reason": reason},
                **session_audit_fields(recording.session),
            )
            changed.append(recording_id)
    return changed


def recordings_of_session(service: RecordingService, session_id: int) -> list[int]:
    with service.core.db.session() as session:
        return list(session.execute(
            select(Recording.id).where(Recording.session_id == session_id).order_by(Recording.id)
        ).scalars())


def rewrap_data_keys(
    service: RecordingService,
    old_master: bytes,
    new_master: bytes,
    new_master_id: str,
    *,
    old_master_id: str,
    actor: Actor | None = None,
) -> int:
    """Master-key rotation, recording side: re-wrap every live data key under the new
    master key, in one transaction (all or none), leaving recording files untouched."""
    count = 0
    with service.core.db.session() as session:
        rows = session.execute(
            select(Recording)
            .where(Recording.master_key_id == old_master_id)
            .where(Recording.status != "purged")
        ).scalars().all()
        for recording in rows:
            recording.wrapped_key = rewrap_data_key(
                old_master, new_master, recording.wrapped_key, recording.storage_key
            )
            recording.master_key_id = new_master_id
            count += 1
        service.core.audit.append(
            session,
            action="recording.keys_rewrapped",
            outcome="ok",
            actor=actor,
            details={"count": count, "old_master_key_id": old_master_id,
                     "new_master_key_id": new_master_id},
        )
    return count
