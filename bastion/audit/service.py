"""The audit trail's operations on a running core, for the CLI and the web console:
verify (and record that it was verified), checkpoint on demand, keys."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from bastion.models.audit import AuditCheckpoint

from .checkpoints import checkpoint_now, checkpoint_stale
from .log import Actor
from .signing import CheckpointSigner, CheckpointVerifier
from .verify import VerifyReport, verify_log

if TYPE_CHECKING:
    from bastion.context import Bastion

log = logging.getLogger("bastion.audit")


def signer_of(core: Bastion) -> CheckpointSigner:
    return CheckpointSigner.from_pem(core.keys.audit_signing_key_pem())


def verifier_of(core: Bastion, public_keys: Sequence[Path] = ()) -> CheckpointVerifier:
    """The bastion's own key by default; explicit PEM public keys when the auditor keeps
    a copy apart from the bastion (someone able to replace the key files could otherwise
    re-sign a rewritten log)."""
    if public_keys:
        return CheckpointVerifier.from_pem_files(public_keys)
    return CheckpointVerifier([signer_of(core).public_key])


def verify(
    core: Bastion,
    *,
    from_id: int | None = None,
    to_id: int | None = None,
    public_keys: Sequence[Path] = (),
    actor: Actor | None = None,
    record: bool = True,
) -> VerifyReport:
    """Verify the log (see :func:`bastion.audit.verify.verify_log`). With ``record``, the
    verification and its result become an ``audit.verified`` event: regular controls
    leave a trace the DPO can show."""
    report = verify_log(core.db, verifier_of(core, public_keys),
                        interval=core.audit.checkpoint_every, from_id=from_id, to_id=to_id)
    if record:
        with core.db.session() as session:
            core.audit.append(
                session, action="audit.verified", outcome="ok" if report.ok else "failed",
                actor=actor, reasons=[str(report.problem)] if report.problem else [],
                details={"events": report.events, "first_event_id": report.first_event_id,
                         "last_event_id": report.last_event_id, "from_id": from_id,
                         "to_id": to_id, "bad_event_id": report.problem.event_id
                         if report.problem else None, "unsigned_tail": report.unsigned_tail,
                         "unsigned_since": report.unsigned_since, "id_gaps": len(report.gaps)},
                message=report.summary(),
            )
    return report


def checkpoint(core: Bastion, kind: str = "manual") -> AuditCheckpoint | None:
    """Sign the newest event now (e.g. before a backup, at the end of an audit, or as a
    ``serve`` starts (``kind="start"``) or stops (``"stop"``))."""
    with core.db.session() as session:
        return checkpoint_now(session, signer_of(core), interval=core.audit.checkpoint_every,
                              node=core.node, kind=kind)


def checkpoint_if_stale(core: Bastion) -> AuditCheckpoint | None:
    """Sign an idle tail once its oldest event is ``audit.checkpoint_minutes`` old."""
    with core.db.session() as session:
        return checkpoint_stale(session, signer_of(core), interval=core.audit.checkpoint_every,
                                max_age=core.audit.checkpoint_age, node=core.node)


async def checkpoint_timer(core: Bastion, stop: asyncio.Event) -> None:
    """For ``bastion serve``: look for an idle unsigned tail every fifth of the age limit
    (at most every minute), in a worker thread: the event loop never waits on the database."""
    period = min(60.0, core.audit.checkpoint_age.total_seconds() / 5)
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), period)
        except TimeoutError:
            pass
        if stop.is_set():
            return
        try:
            await asyncio.to_thread(checkpoint_if_stale, core)
        except Exception:  # noqa: BLE001 - retried at the next round; verify shows the tail
            log.exception("timed audit checkpoint failed")
