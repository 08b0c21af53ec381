"""The vendor portal's lock-out: after repeated wrong passwords or one-time codes a
technician's portal sign-in is refused for a while, on every node.

Kept on the technician's row (``failed_sign_ins``, ``locked_until``), as the console keeps
it on the staff member's (``bastion.approvals.sign_in``): a per-process count let an
attacker spread guesses over the nodes behind the load balancer, and a restart reset it.
The count is raised by an UPDATE of the column itself, so two nodes failing at once both
count.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from .models import Technician, utcnow

LOCK_AFTER_FAILURES = 5
LOCK_MINUTES = 15


def is_locked(technician: Technician, now: datetime | None = None) -> bool:
    """For a row already loaded (the sign-in steps load the technician anyway)."""
    until = technician.locked_until
    return until is not None and until > (now or utcnow())


def locked_until(session: Session, ident: str, now: datetime | None = None) -> datetime | None:
    """When the lock on ``ident`` ends, if it is locked now."""
    technician = session.scalar(select(Technician).where(Technician.ident == ident))
    return technician.locked_until if technician is not None and is_locked(technician, now) else None


def count_failure(session: Session, ident: str, now: datetime | None = None) -> datetime | None:
    """One more failure for ``ident`` (an unknown ident changes nothing). Returns the end
    of the lock when this failure starts one."""
    now = now or utcnow()
    session.execute(update(Technician).where(Technician.ident == ident)
                    .values(failed_sign_ins=Technician.failed_sign_ins + 1)
                    .execution_options(synchronize_session=False))
    failures = session.scalar(select(Technician.failed_sign_ins).where(Technician.ident == ident))
    if failures is None or failures < LOCK_AFTER_FAILURES:
        return None
    until = now + timedelta(minutes=LOCK_MINUTES)
    session.execute(update(Technician).where(Technician.ident == ident)
                    .values(failed_sign_ins=0, locked_until=until)
                    .execution_options(synchronize_session=False))
    return until


def clear_failures(session: Session, ident: str) -> None:
    """A complete sign-in: the count starts again from zero."""
    session.execute(update(Technician).where(Technician.ident == ident)
                    .values(failed_sign_ins=0, locked_until=None)
                    .execution_options(synchronize_session=False))
