"""Running one ceremony step so that a refusal is on record even though it changes nothing.

The step runs in a savepoint. If it raises :class:`ApprovalError`, the savepoint is
rolled back (no half-made change survives), ``on_refusal`` writes the audit event (and
burns the challenge, where one was reached) in the still-open transaction, that is
committed, and the error is raised to the caller. Any other exception rolls everything
back: fail closed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.orm import Session

from bastion.context import Bastion

from .errors import ApprovalError

T = TypeVar("T")


def run_audited(core: Bastion, work: Callable[[Session], T],
                on_refusal: Callable[[Session, ApprovalError], None]) -> T:
    refusal: ApprovalError | None = None
    with core.db.session() as session:
        try:
            with session.begin_nested():
                result = work(session)
        except ApprovalError as exc:
            refusal = exc
            on_refusal(session, exc)
    if refusal is not None:
        raise refusal
    return result
