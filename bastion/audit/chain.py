"""Hashing and verification of the audit chain. Pure functions over event fields."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

GENESIS_HASH = "0" * 64

# The fields a hash covers, in a fixed order. ``id`` is deliberately left out: PostgreSQL
# sequences may skip numbers on rollback, and the chain (prev_hash) is what orders events.
HASHED_FIELDS = (
    "at",
    "actor",
    "actor_role",
    "action",
    "outcome",
    "vendor",
    "technician",
    "target",
    "account",
    "session_id",
    "request_id",
    "grant_id",
    "reasons",
    "details",
    "node",
    "message",
)


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def normalise(value: Any) -> Any:
    """What a JSON column gives back: apply it before hashing so a stored event re-hashes
    to the same value (datetimes become strings, tuples lists)."""
    return json.loads(canonical_json(value))


def event_hash(fields: Mapping[str, Any], prev_hash: str) -> str:
    body: dict[str, Any] = {}
    for name in HASHED_FIELDS:
        value = fields.get(name)
        if isinstance(value, datetime):
            value = value.isoformat(timespec="microseconds")
        body[name] = value
    body["prev_hash"] = prev_hash
    return hashlib.sha256(canonical_json(body).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ChainBreak:
    """The first event at which the chain no longer holds, and what is wrong there."""

    event_id: int
    problem: str

    def __str__(self) -> str:
        return f"audit event {self.event_id}: {self.problem}"


def verify_chain(
    events: Iterable[Mapping[str, Any]], start_hash: str = GENESIS_HASH
) -> tuple[int, ChainBreak | None]:
    """Walk events in id order. Returns how many verified and the first break, if any."""
    expected_prev = start_hash
    count = 0
    for event in events:
        if event["prev_hash"] != expected_prev:
            return count, ChainBreak(
                event["id"],
                "its link to the previous event is broken: an event before it was "
                "deleted, inserted or moved",
            )
        if event_hash(event, event["prev_hash"]) != event["hash"]:
            return count, ChainBreak(event["id"], "its content no longer matches its hash: modified")
        expected_prev = event["hash"]
        count += 1
    return count, None
