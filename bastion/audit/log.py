"""Appending to the audit log, inside the caller's transaction.

The event commits or rolls back with the change it describes: an action is never
recorded without happening, nor happens without being recorded.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from bastion.db import APPENDED_EVENTS
from bastion.models import AuditEvent, utcnow

from .chain import event_hash, normalise
from .checkpoints import chain_head, checkpoint_if_due, lock_chain
from .signing import CheckpointSigner

if TYPE_CHECKING:
    from bastion.trace_sealing import TraceSealer

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
    """Appends events; with a ``signer``, also writes a signed checkpoint every
    ``checkpoint_every`` events, and on the first append once the oldest unsigned event is
    ``checkpoint_seconds`` old, in the same transaction and under the same lock (``bastion
    serve`` also signs an idle tail on a timer: :func:`bastion.audit.service.checkpoint_stale`).

    ``signer`` is a loader (see :func:`bastion.audit.signing.keystore_signer`): a missing
    or unreadable signing key makes the append fail, and so the action it records (fail
    closed: nothing happens that the trail cannot vouch for)."""

    def __init__(
        self,
        node: str,
        *,
        signer: Callable[[], CheckpointSigner] | None = None,
        checkpoint_every: int = 100,
        checkpoint_seconds: float = 300.0,
    ) -> None:
        if checkpoint_every < 1 or checkpoint_seconds <= 0:
            raise ValueError("checkpoint_every must be at least 1, checkpoint_seconds positive")
        self.node = node
        self.signer = signer
        # Seals the details that name what was run or touched (bastion.trace_sealing);
        # set by the Bastion that owns this log.
        self.sealer: TraceSealer | None = None
        self.checkpoint_every = checkpoint_every
        self.checkpoint_age = timedelta(seconds=checkpoint_seconds)

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
        lock_chain(session)
        _, prev_hash = chain_head(session)
        if details and self.sealer is not None:
            reasons = self.sealer.redact(details, reasons)
            details = self.sealer.seal_details(session, details)
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
        session.info.setdefault(APPENDED_EVENTS, []).append(event)
        if self.signer is not None:
            checkpoint_if_due(session, self.signer(), event=event, interval=self.checkpoint_every,
                              max_age=self.checkpoint_age, node=self.node)
        return event
