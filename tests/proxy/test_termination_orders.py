"""The watchdog's question, every second on every proxy worker: which of my live sessions
must end now? Answered for each reason, only for this node's sessions, on SQLite and
PostgreSQL, by one statement that does not grow with the number of live sessions (at 500
sessions, listing their ids held the worker's GIL for 7.5 ms a round)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import event

from bastion.context import Bastion
from bastion.models import SshSession, utcnow
from bastion.proxy.directory import termination_orders
from tests.recording.conftest import add_grant, add_session


def _terminate(core: Bastion, session_id: int) -> None:
    with core.db.session() as s:
        row = s.get(SshSession, session_id)
        row.terminate_requested_at = utcnow()
        row.terminate_requested_by = "m.martin"
        row.terminate_reason = "patient data exported"


def test_each_reason_to_end_reaches_only_this_nodes_live_sessions(any_core: Bastion) -> None:
    core = any_core
    running = add_session(core)
    add_grant(core, running, status="active")
    terminated = add_session(core)
    _terminate(core, terminated)
    revoked = add_session(core)
    add_grant(core, revoked, status="revoked", revoke_reason="contract ended")
    expired = add_session(core)
    add_grant(core, expired, status="active", ends_in=-timedelta(minutes=1))
    elsewhere = add_session(core, node="other-node")
    _terminate(core, elsewhere)
    already_over = add_session(core, status="terminated")
    _terminate(core, already_over)

    orders = termination_orders(core, [running, terminated, revoked, expired, elsewhere],
                                utcnow())

    assert {sid: reason.english() for sid, reason in orders.items()} == {
        terminated: "terminated by m.martin: patient data exported",
        revoked: "access revoked: contract ended",
        expired: "the access window has ended",
    }


def test_one_statement_whatever_the_number_of_live_sessions(any_core: Bastion) -> None:
    core = any_core
    few = [add_session(core) for _ in range(2)]
    many = few + [add_session(core) for _ in range(298)]
    _terminate(core, few[0])
    sent: list[tuple[str, object]] = []

    def record(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if "ssh_sessions" in statement:
            sent.append((statement, parameters))

    event.listen(core.db.engine, "before_cursor_execute", record)
    try:
        for live in (few, many):
            assert list(termination_orders(core, live, utcnow())) == [few[0]]
    finally:
        event.remove(core.db.engine, "before_cursor_execute", record)

    (small, small_parameters), (large, large_parameters) = sent
    assert small == large
    assert len(small_parameters) == len(large_parameters)  # type: ignore[arg-type]
