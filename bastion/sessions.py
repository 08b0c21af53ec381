"""Live SSH sessions as the console, the API and the CLI act on them."""

from __future__ import annotations

from sqlalchemy.orm import Session

from .audit import Actor, AuditLog
from .models import SshSession, utcnow


def request_termination(db: Session, audit: AuditLog, row: SshSession, *, actor: Actor,
                        reason: str, via: str) -> bool:
    """Order the session closed: the proxy node serving it (whichever it is) polls the
    order and closes the session within 2 seconds, telling the technician why. Returns
    False when an order already stands (the first one, and its reason, are kept)."""
    if row.terminate_requested_at is not None:
        return False
    row.terminate_requested_at = utcnow()
    row.terminate_requested_by = actor.name
    row.terminate_reason = reason
    audit.append(db, action="session.terminate_requested", outcome="ok", actor=actor,
                 reasons=[reason], vendor=row.technician.vendor.slug,
                 technician=row.technician.ident, target=row.target.name,
                 account=row.account_name, session_id=row.id, grant_id=row.grant_id,
                 details={"node": row.node, "via": via})
    return True
