"""The sign-in lock-out lives on the person's row: five failures lock for 15 minutes, on
both databases, and an unknown identifier changes nothing."""

from __future__ import annotations

from datetime import timedelta

from bastion.context import Bastion
from bastion.models import Technician, utcnow
from bastion.sign_in_lockout import LOCK_AFTER_FAILURES, clear_failures, count_failure, locked_until
from tests.recording.conftest import add_session

JDUPONT = Technician.ident == "jdupont"
NOBODY = Technician.ident == "nobody"


def test_five_failures_lock_for_a_while_then_a_sign_in_clears(any_core: Bastion) -> None:
    add_session(any_core)  # creates technician jdupont
    now = utcnow()
    with any_core.db.session() as session:
        results = [count_failure(session, Technician, JDUPONT, now) for _ in range(LOCK_AFTER_FAILURES)]
        assert results[:-1] == [None] * (LOCK_AFTER_FAILURES - 1)
        assert results[-1] == now + timedelta(minutes=15)
        assert locked_until(session, Technician, JDUPONT, now + timedelta(minutes=14)) is not None
        assert locked_until(session, Technician, JDUPONT, now + timedelta(minutes=16)) is None
        assert count_failure(session, Technician, NOBODY, now) is None
        assert locked_until(session, Technician, NOBODY, now) is None
        clear_failures(session, Technician, JDUPONT)
        assert locked_until(session, Technician, JDUPONT, now) is None
