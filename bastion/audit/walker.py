"""Walking the chain event by event against its signed checkpoints. Pure: the database
side (reading in batches, checking signatures) is in :mod:`bastion.audit.verify`.

Three kinds of proof, each catching what the others cannot:

- each event's hash covers its content and its predecessor's hash: a changed, deleted,
  inserted or moved event breaks the chain *at that event*;
- a signed checkpoint vouches for one event's hash and position: rewriting the chain from
  some event on (recomputing every hash after it) is caught at the next checkpoint, and
  deleting the tail is caught by a checkpoint that now points past the end;
- checkpoints come at least every ``interval`` events: deleting the newest checkpoints
  along with a rewrite shows as a tail longer than any interval ever configured.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .chain import event_hash


@dataclass(frozen=True)
class CheckpointInfo:
    id: int
    kind: str
    event_id: int
    event_hash: str
    event_count: int
    interval: int
    at: datetime

    def __str__(self) -> str:
        return f"checkpoint #{self.id} ({self.kind}, event {self.event_id}, {self.at:%Y-%m-%d %H:%M:%S}Z)"


@dataclass(frozen=True)
class Problem:
    """The first thing wrong. ``event_id`` is the first event that can no longer be
    trusted, when one can be named; ``checkpoint_id`` the checkpoint involved, if any."""

    message: str
    event_id: int | None = None
    checkpoint_id: int | None = None
    # Too few checkpoints rather than a wrong one: a forged checkpoint that verification
    # had to ignore explains it, so that is the problem to report instead.
    missing_checkpoints: bool = False

    def __str__(self) -> str:
        where = f"audit event {self.event_id}: " if self.event_id is not None else ""
        return where + self.message


class ChainWalker:
    """Feed events in id order with :meth:`feed`; call :meth:`finish` at the end of the
    log. The first problem found is kept in :attr:`problem` and stops the walk."""

    def __init__(
        self,
        *,
        start_hash: str,
        start_count: int,
        start_label: str,
        start_checkpoint: CheckpointInfo | None = None,
        checkpoints: Iterable[CheckpointInfo] = (),
        lookup: Callable[[str], int | None] = lambda _hash: None,
    ) -> None:
        self.expected_prev = start_hash
        self.count = start_count  # position in the chain of the last event seen
        self.verified = 0
        self.first_id: int | None = None
        self.last_id: int | None = None
        self.problem: Problem | None = None
        # The newest point known good: a checkpoint that matched, or the start.
        self.last_good_label = start_label
        self.last_good_count = start_count
        self.last_good_checkpoint = start_checkpoint
        self._pending = sorted(checkpoints, key=lambda c: (c.event_id, c.id))
        self._lookup = lookup
        self._prev: tuple[int, str] | None = None
        self._prev_prev: tuple[int, str] | None = None
        # When the oldest event no checkpoint covers was written (None: none is unsigned).
        self.unsigned_since: datetime | None = None
        # Ids skipped between consecutive events whose links hold: a PostgreSQL sequence
        # skips the ids of rolled-back transactions; nothing chained was removed there.
        self.gaps: list[tuple[int, int]] = []
        self._last_seen_id = start_checkpoint.event_id if start_checkpoint else None

    def feed(self, event: Mapping[str, Any]) -> bool:
        """Check one event; False once a problem is found (stop feeding)."""
        if self.problem is not None:
            return False
        event_id = event["id"]
        if self._pending and self._pending[0].event_id < event_id:
            self.problem = self._missing(self._pending[0])
            return False
        if event["prev_hash"] != self.expected_prev:
            self.problem = self._broken_link(event)
            return False
        if event_hash(event, event["prev_hash"]) != event["hash"]:
            self.problem = Problem("its content no longer matches its hash: it was modified", event_id)
            return False
        self.count += 1
        while self._pending and self._pending[0].event_id == event_id:
            checkpoint = self._pending.pop(0)
            if checkpoint.event_hash != event["hash"] or checkpoint.event_count != self.count:
                self.problem = self._rewritten(checkpoint, event_id)
                return False
            self.last_good_label = str(checkpoint)
            self.last_good_count = self.count
            self.last_good_checkpoint = checkpoint
        if self.count == self.last_good_count:
            self.unsigned_since = None
        elif self.unsigned_since is None:
            self.unsigned_since = event["at"]
        if self._last_seen_id is not None and event_id > self._last_seen_id + 1:
            self.gaps.append((self._last_seen_id + 1, event_id - 1))
        self._last_seen_id = event_id
        self.verified += 1
        self.first_id = event_id if self.first_id is None else self.first_id
        self.last_id = event_id
        self._prev_prev, self._prev = self._prev, (event_id, event["hash"])
        self.expected_prev = event["hash"]
        return True

    def finish(self, *, interval: int) -> Problem | None:
        """At the end of the log: nothing may be vouched for beyond it, and the events
        after the newest checkpoint must be fewer than a checkpoint interval."""
        if self.problem is None and self._pending:
            checkpoint = self._pending[0]
            end = f"event {self.last_id}" if self.last_id is not None else "its start"
            self.problem = Problem(
                f"{checkpoint} vouches for event {checkpoint.event_id}, but the log ends at "
                f"{end}: the newest events were deleted", checkpoint.event_id, checkpoint.id)
        if self.problem is None:
            allowed = max(interval, self.last_good_checkpoint.interval if self.last_good_checkpoint else 0)
            tail = self.count - self.last_good_count
            if tail > allowed:
                self.problem = Problem(
                    f"{tail} events after {self.last_good_label} carry no signed checkpoint "
                    f"(one is written every {allowed} at most): checkpoints were deleted, or "
                    "events were written without the audit signing key",
                    self.first_unsigned_id, missing_checkpoints=True)
        return self.problem

    @property
    def unsigned_tail(self) -> int:
        return self.count - self.last_good_count

    @property
    def first_unsigned_id(self) -> int | None:
        checkpoint = self.last_good_checkpoint
        return checkpoint.event_id + 1 if checkpoint else self.first_id

    # --- naming what went wrong -----------------------------------------------------------

    def _missing(self, checkpoint: CheckpointInfo) -> Problem:
        after = f"after event {self._prev[0]} " if self._prev else ""
        return Problem(f"{checkpoint} vouches for this event, which is missing: events {after}"
                       "were deleted", checkpoint.event_id, checkpoint.id)

    def _broken_link(self, event: Mapping[str, Any]) -> Problem:
        event_id = event["id"]
        if self._prev_prev is not None and event["prev_hash"] == self._prev_prev[1]:
            inserted = self._prev[0] if self._prev else event_id
            return Problem(f"it was inserted: event {event_id} links past it to event "
                           f"{self._prev_prev[0]}", inserted)
        target = self._lookup(event["prev_hash"])
        if target is not None and target > event_id:
            return Problem(f"it is out of order: it links to event {target}, which now comes "
                           "after it (events were moved)", event_id)
        if target is not None:
            before = self._prev[0] if self._prev else "the start"
            return Problem(f"it links to event {target} instead of {before}: events were "
                           "moved or inserted", event_id)
        if self._prev is None:
            return Problem(f"it does not link to {self.last_good_label}: the events between "
                           "were deleted", event_id)
        return Problem(f"the event it links to is missing: an event between {self._prev[0]} and "
                       f"{event_id} was deleted", event_id)

    def _rewritten(self, checkpoint: CheckpointInfo, event_id: int) -> Problem:
        first_suspect = (self.last_good_checkpoint.event_id + 1 if self.last_good_checkpoint
                         else self.first_id or event_id)
        return Problem(
            f"{checkpoint} signed a different chain up to event {event_id}: events from "
            f"{first_suspect} to {event_id} were rewritten (hashes recomputed), inserted or "
            "deleted since", first_suspect, checkpoint.id)
