"""The audit trail's operations on a running core, for the CLI and the web console:
verify (and record that it was verified), checkpoint on demand, keys."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from bastion.models.audit import AuditCheckpoint

from .checkpoints import checkpoint_now
from .log import Actor
from .signing import CheckpointSigner, CheckpointVerifier
from .verify import VerifyReport, verify_log

if TYPE_CHECKING:
    from bastion.context import Bastion


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
                         if report.problem else None},
                message=report.summary(),
            )
    return report


def checkpoint(core: Bastion) -> AuditCheckpoint | None:
    """Sign the newest event now (e.g. before a backup, or at the end of an audit)."""
    with core.db.session() as session:
        return checkpoint_now(session, signer_of(core), interval=core.audit.checkpoint_every,
                              node=core.node)
