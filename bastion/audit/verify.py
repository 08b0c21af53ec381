"""``bastion audit verify``: check the whole log (or a range) against its hash chain and
its signed checkpoints, naming the first thing wrong.

Events are read in batches, each in its own short transaction: on SQLite every
transaction holds the write lock, and verifying a year of events must not stall the
bastion's writers meanwhile. The log being append-only, batches read one after the
other still see one consistent prefix of it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text

from bastion.db import Database
from bastion.models import AuditEvent, utcnow
from bastion.models.audit import AuditCheckpoint

from .chain import GENESIS_HASH
from .signing import SIGNED_FIELDS, CheckpointVerifier
from .walker import ChainWalker, CheckpointInfo, Problem

BATCH = 2000
_EVENT_COLUMNS = tuple(AuditEvent.__table__.c)


@dataclass(frozen=True)
class VerifyReport:
    events: int
    first_event_id: int | None
    last_event_id: int | None
    start: str  # what the walk started from: the genesis, a purge anchor, a checkpoint
    checkpoints_checked: int
    last_checkpoint: CheckpointInfo | None
    unsigned_tail: int  # events after the newest checkpoint (covered by the chain only)
    problem: Problem | None
    partial: bool  # --to given: the end of the log was not checked
    unsigned_since: datetime | None = None  # when the oldest of those was written
    gaps: tuple[tuple[int, int], ...] = ()  # id ranges skipped between linked events
    checked_at: datetime | None = None

    @property
    def unsigned_age(self) -> timedelta | None:
        if self.unsigned_since is None or self.checked_at is None:
            return None
        return max(self.checked_at - self.unsigned_since, timedelta(0))

    @property
    def ok(self) -> bool:
        return self.problem is None

    def summary(self) -> str:
        if self.problem is not None:
            return f"audit log FAILED verification: {self.problem}"
        span = (f"events {self.first_event_id}-{self.last_event_id}" if self.events else "no events")
        last = str(self.last_checkpoint) if self.last_checkpoint else "none"
        tail = f", {self.unsigned_tail} newer events chained only" if self.unsigned_tail else ""
        if self.unsigned_tail and self.unsigned_age is not None:
            tail += f" (unsigned tail {_minutes(self.unsigned_age)} old)"
        gaps = ""
        if self.gaps:
            missing = sum(last - first + 1 for first, last in self.gaps)
            shown = ", ".join(f"{a}-{b}" if a != b else str(a) for a, b in self.gaps[:5])
            more = ", ..." if len(self.gaps) > 5 else ""
            gaps = (f"; {missing} event ids never used ({shown}{more}): ids of rolled-back "
                    "transactions, the links on both sides hold")
        return (f"audit log OK: {self.events} events verified ({span}) from {self.start}; "
                f"{self.checkpoints_checked} signed checkpoints checked, last {last}{tail}{gaps}")


def _minutes(age: timedelta) -> str:
    seconds = int(age.total_seconds())
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


def checkpoint_info(row: AuditCheckpoint) -> CheckpointInfo:
    return CheckpointInfo(row.id, row.kind, row.event_id, row.event_hash, row.event_count,
                          row.interval, row.at)


def signature_problem(verifier: CheckpointVerifier, row: AuditCheckpoint) -> Problem | None:
    wrong = verifier.problem({name: getattr(row, name) for name in SIGNED_FIELDS}, row.signature)
    if wrong is None:
        return None
    return Problem(f"{checkpoint_info(row)}: {wrong}", row.event_id, row.id)


def _load_checkpoints(
    db: Database, verifier: CheckpointVerifier
) -> tuple[list[CheckpointInfo], Problem | None]:
    """Every checkpoint whose signature holds, and the first (lowest event) that does not."""
    good, bad = [], None
    with db.session() as session:
        rows = session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.event_id,
                                                                 AuditCheckpoint.id)).all()
    for row in rows:
        problem = signature_problem(verifier, row)
        if problem is None:
            good.append(checkpoint_info(row))
        elif bad is None:
            bad = problem
    return good, bad


def _events(db: Database, after_id: int, to_id: int | None) -> Iterator[dict[str, Any]]:
    while True:
        query = select(*_EVENT_COLUMNS).where(AuditEvent.id > after_id)
        if to_id is not None:
            query = query.where(AuditEvent.id <= to_id)
        with db.session() as session:
            rows = [row._asdict() for row in
                    session.execute(query.order_by(AuditEvent.id).limit(BATCH))]
        yield from rows
        if len(rows) < BATCH:
            return
        after_id = rows[-1]["id"]


def _lookup(db: Database) -> Callable[[str], int | None]:
    """Where a hash is now, to tell a moved event from a deleted one once a link breaks."""

    def find(hash_: str) -> int | None:
        with db.session() as session:
            return session.scalar(select(AuditEvent.id).where(AuditEvent.hash == hash_))
    return find


def verify_log(
    db: Database,
    verifier: CheckpointVerifier,
    *,
    interval: int,
    from_id: int | None = None,
    to_id: int | None = None,
) -> VerifyReport:
    """Verify the log. ``from_id`` starts at the newest signed checkpoint before it (so the
    starting hash is vouched for by a signature, never taken on trust); ``to_id`` stops
    there, and then the end of the log (truncation, missing checkpoints) is not checked.
    ``interval`` is the configured ``audit.checkpoint_every``."""
    checked_at = utcnow()
    handed_out = _sqlite_ids_handed_out(db) if to_id is None else None
    checkpoints, bad_signature = _load_checkpoints(db, verifier)
    anchors = [c for c in checkpoints if c.kind == "anchor"]
    start = anchors[-1] if anchors else None
    if from_id is not None:
        earlier = [c for c in checkpoints if c.event_id < from_id
                   and (start is None or c.event_id >= start.event_id)]
        start = earlier[-1] if earlier else start
    start_id = start.event_id if start else 0
    walker = ChainWalker(
        start_hash=start.event_hash if start else GENESIS_HASH,
        start_count=start.event_count if start else 0,
        start_label=str(start) if start else "the first event",
        start_checkpoint=start,
        checkpoints=[c for c in checkpoints if c.event_id > start_id],
        lookup=_lookup(db),
    )
    problem = _leftover_before_anchor(db, anchors[-1]) if anchors and from_id is None else None
    if problem is None:
        for event in _events(db, start_id, to_id):
            if not walker.feed(event):
                break
        problem = walker.problem if to_id is not None else walker.finish(interval=interval)
    if problem is None and handed_out is not None:
        problem = _cut_tail(handed_out, walker.last_id if walker.last_id is not None else start_id)
    # Report whichever comes first in the log: a forged checkpoint or a broken chain.
    if bad_signature is not None and (problem is None or problem.missing_checkpoints
                                      or problem.event_id is None
                                      or bad_signature.event_id <= problem.event_id):
        problem = bad_signature
    return VerifyReport(
        events=walker.verified, first_event_id=walker.first_id, last_event_id=walker.last_id,
        start=str(start) if start else "the first event",
        checkpoints_checked=len(checkpoints), last_checkpoint=walker.last_good_checkpoint,
        unsigned_tail=walker.unsigned_tail, problem=problem, partial=to_id is not None,
        unsigned_since=walker.unsigned_since, gaps=tuple(walker.gaps), checked_at=checked_at,
    )


def _sqlite_ids_handed_out(db: Database) -> int | None:
    """SQLite (AUTOINCREMENT) remembers the highest id it ever handed out, and a rolled-back
    insert takes its id back: the log must reach that id. Read before the walk, so events
    appended meanwhile do not count."""
    if not db.is_sqlite:
        return None
    with db.session() as session:
        return session.scalar(text("SELECT seq FROM sqlite_sequence WHERE name = 'audit_events'"))


def _cut_tail(handed_out: int, last_id: int) -> Problem | None:
    if handed_out <= last_id:
        return None
    return Problem(f"events {last_id + 1} to {handed_out} were deleted from the end of the log "
                   f"(SQLite handed out ids up to {handed_out}; a rolled-back insert leaves no "
                   "such gap)", last_id + 1)


def _leftover_before_anchor(db: Database, anchor: CheckpointInfo) -> Problem | None:
    """Events at or before the purge anchor should be gone; one there was put back in."""
    with db.session() as session:
        found = session.scalar(select(func.min(AuditEvent.id)).where(AuditEvent.id <= anchor.event_id))
    if found is None:
        return None
    return Problem(f"it lies before {anchor}, the last purge's anchor: it should have been "
                   "purged, so it was inserted afterwards", found)
