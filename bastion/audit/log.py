"""Appending to the audit log, inside the caller's transaction.

The event commits or rolls back with the change it describes: an action is never
recorded without happening, nor happens without being recorded.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from bastion.models import AuditEvent, utcnow

from .chain import GENESIS_HASH, event_hash, normalise

# Any fixed 64-bit number: the PostgreSQL advisory lock that serialises chain appends
# across every process and node sharing the database.
_PG_CHAIN_LOCK = 0x6261_7374_696F_6E01 & 0x7FFF_FFFF_FFFF_FFFF

OUTCOMES = ("allowed", "denied", "ok", "failed", "error")


@dataclass(frozen=True)
class Actor:
    """Who did it: ``staff:alice``, ``technician:jdupont``, ``system``, ``cli:root``."""

    name: str
    role: str

    @classmethod
    def system(cls) -> Actor:
        return cls("system", "system")


class AuditLog:
    def __init__(self, node: str) -> None:
        self.node = node

    def append(
        self,
        session: Session,
        *,
        action: str,
        outcome: str,
        actor: Actor | None = None,
        reasons: Iterable[str] = (),
        details: Mapping[str, Any] | None = None,
        message: str | None = None,
        vendor: str | None = None,
        technician: str | None = None,
        target: str | None = None,
        account: str | None = None,
        session_id: int | None = None,
        request_id: int | None = None,
        grant_id: int | None = None,
    ) -> AuditEvent:
        if outcome not in OUTCOMES:
            raise ValueError(f"unknown audit outcome {outcome!r}")
        actor = actor or Actor.system()
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_CHAIN_LOCK})
        prev_hash = session.scalar(
            select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1)
        ) or GENESIS_HASH
        fields: dict[str, Any] = {
            "at": utcnow(),
            "actor": actor.name,
            "actor_role": actor.role,
            "action": action,
            "outcome": outcome,
            "vendor": vendor,
            "technician": technician,
            "target": target,
            "account": account,
            "session_id": session_id,
            "request_id": request_id,
            "grant_id": grant_id,
            "reasons": normalise(list(reasons)),
            "details": normalise(dict(details or {})),
            "node": self.node,
            "message": message,
        }
        event = AuditEvent(**fields, prev_hash=prev_hash, hash=event_hash(fields, prev_hash))
        session.add(event)
        session.flush()
        return event
