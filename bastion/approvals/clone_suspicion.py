"""A security key whose signature counter went backwards may have been cloned: suspend it.

py_webauthn's rule (refuse that one answer) leaves the copy usable at its next higher
count. Here the key itself is suspended, in the transaction that records the refusal (not
in the attempt's savepoint, which is rolled back), so neither the original nor the copy
signs anything again until an administrator revokes it and its owner registers another.
The owner, the admins and the DPO are told at once, and the suspension is audited.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from bastion.audit import Actor
from bastion.context import Bastion
from bastion.models import WebAuthnCredential

from . import staff_notices
from .assertion import CounterRegressed
from .errors import ApprovalError

SYSTEM = Actor("system:webauthn", "system")


def suspend_if_cloned(session: Session, core: Bastion, exc: ApprovalError,
                      credential_id: int | None, *, now: datetime) -> bool:
    """Call from a ceremony's refusal handler with the key the assertion named."""
    if not isinstance(exc, CounterRegressed) or credential_id is None:
        return False
    key = session.get(WebAuthnCredential, credential_id)
    if key is None or key.suspended_at is not None or key.staff is None:
        return False
    before, after = key.sign_count, exc.presented
    key.suspended_at = now
    key.suspended_reason = (f"signature counter went from {before} to {after}: "
                            "the key may have been cloned")
    owner = key.staff
    core.audit.append(session, action="staff.security_key_suspended", outcome="denied",
                      actor=SYSTEM, reasons=[key.suspended_reason],
                      details={"username": owner.username, "name": key.name,
                               "credential": key.id, "sign_count_stored": before,
                               "sign_count_presented": after})
    staff_notices.key_changed(session, core, event="key_suspended", owner=owner, key=key.name,
                              actor=SYSTEM.name, counter_before=before, counter_after=after)
    return True
