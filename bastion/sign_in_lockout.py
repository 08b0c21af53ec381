"""Lock-out after repeated failed sign-ins: five failures lock the account for 15 minutes,
on every node. One policy for the console's staff (``bastion.approvals.sign_in``) and the
vendor portal's technicians (``web.blueprints.portal_auth``).

Kept on the person's row (``failed_sign_ins``, ``locked_until``): a per-process count let
an attacker spread guesses over the nodes behind the load balancer, and a restart reset
it. The count is raised by an UPDATE of the column itself, so two nodes failing at once
both count.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.orm import Session

from .models import StaffUser, Technician, utcnow

LOCK_AFTER_FAILURES = 5
LOCK_MINUTES = 15

Person = StaffUser | Technician


def is_locked(person: Person, now: datetime | None = None) -> bool:
    """For a row already loaded (the sign-in steps load the person anyway)."""
    until = person.locked_until
    return until is not None and until > (now or utcnow())


def locked_until(session: Session, model: type[Person], which: ColumnElement[bool],
                 now: datetime | None = None) -> datetime | None:
    """When the lock on the person ``which`` selects ends, if it is locked now."""
    person = session.scalar(select(model).where(which))
    return person.locked_until if person is not None and is_locked(person, now) else None


def count_failure(session: Session, model: type[Person], which: ColumnElement[bool],
                  now: datetime | None = None) -> datetime | None:
    """One more failure for the person ``which`` selects (nobody: nothing changes).
    Returns the end of the lock when this failure starts one."""
    now = now or utcnow()
    session.execute(update(model).where(which)
                    .values(failed_sign_ins=model.failed_sign_ins + 1)
                    .execution_options(synchronize_session=False))
    failures = session.scalar(select(model.failed_sign_ins).where(which))
    if failures is None or failures < LOCK_AFTER_FAILURES:
        return None
    until = now + timedelta(minutes=LOCK_MINUTES)
    session.execute(update(model).where(which)
                    .values(failed_sign_ins=0, locked_until=until)
                    .execution_options(synchronize_session=False))
    return until


def clear_failures(session: Session, model: type[Person], which: ColumnElement[bool]) -> None:
    """A complete sign-in: the count starts again from zero."""
    session.execute(update(model).where(which)
                    .values(failed_sign_ins=0, locked_until=None)
                    .execution_options(synchronize_session=False))
