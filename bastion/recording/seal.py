"""A recording's signed seal, and how it is checked against the audit events about it.

When a recording closes, its seal (sealed or interrupted, chunk count, final chain hash,
sizes, time) is signed with the node's audit signing key and kept in its catalog row. So:

- the seal verifies on its own once the audit purge has removed its ``recording.sealed``
  event (a recording on legal hold outlives the audit retention);
- rewriting the row (an "interrupted" recording cut short, a new final hash) breaks the
  signature unless the rewriter holds the signing key;
- every seal or interruption event still in the audit log must tell the same story as the
  signed row: a second, contradicting event (appended, correctly chained, by someone
  able to write to the database) is reported, never silently preferred.

Pure: the signer and the verifier are passed in (:mod:`bastion.audit.signing`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from bastion.audit.signing import CheckpointSigner, CheckpointVerifier
from bastion.models import Recording, utcnow

PURPOSE = "bastion recording seal v1"
SEAL_ACTIONS = {"recording.sealed": "sealed", "recording.interrupted": "interrupted"}
# What the audit events record and the row must agree with.
_COMPARED = ("final_hash", "chunk_count", "size_bytes", "output_bytes")


class SealEvent(Protocol):
    id: int
    action: str
    details: dict[str, Any]


def seal_fields(recording: Recording) -> dict[str, Any]:
    return {
        "recording_id": recording.id,
        "session_id": recording.session_id,
        "channel": recording.channel,
        "storage_key": recording.storage_key,
        "status": recording.status,
        "chunk_count": recording.chunk_count,
        "final_hash": recording.final_hash,
        "size_bytes": recording.size_bytes,
        "output_bytes": recording.output_bytes,
        "signed_at": recording.seal_signed_at,
        "key_id": recording.seal_key_id,
    }


def sign_seal(recording: Recording, signer: CheckpointSigner) -> None:
    """Sign the row's seal as it stands now (call once its status is final)."""
    recording.seal_signed_at = utcnow()
    recording.seal_key_id = signer.key_id
    recording.seal_signature = signer.sign_document(PURPOSE, seal_fields(recording))


def signature_problem(recording: Recording, verifier: CheckpointVerifier) -> str | None:
    """None when the row carries a seal signature that holds; else what is wrong."""
    if not recording.seal_signature or not recording.seal_key_id:
        return "its catalog entry carries no signed seal"
    wrong = verifier.document_problem(PURPOSE, seal_fields(recording), recording.seal_key_id,
                                      recording.seal_signature)
    if wrong is None:
        return None
    return f"its signed seal does not hold ({wrong})"


def audit_contradictions(recording: Recording, events: Iterable[SealEvent]) -> list[str]:
    """What the audit log's seal and interruption events about this recording say that
    the catalog row does not (every such event is compared, not only the newest)."""
    problems = []
    for event in events:
        details: Mapping[str, Any] = event.details or {}
        said = SEAL_ACTIONS.get(event.action)
        if said is not None and said != recording.status:
            problems.append(f"the audit log's event {event.id} ({event.action}) says {said}, "
                            f"the catalog {recording.status}")
        for name in _COMPARED:
            # ``or None``: an empty hash is recorded as "" in one place, NULL in the other.
            if name in details and (details[name] or None) != (getattr(recording, name) or None):
                problems.append(f"the audit log's event {event.id} ({event.action}) records "
                                f"{name} {details[name]}, the catalog {getattr(recording, name)}")
    return problems
