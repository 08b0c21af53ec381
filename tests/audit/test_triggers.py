"""The database itself refuses to change or delete audit events and checkpoints, on both
databases; only the retention purge's explicit, bounded, transaction-local permit lets
old events be deleted."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from bastion.audit.retention import _close_purge_path, _open_purge_path

from .conftest import append, checkpoints, events

REFUSED = [
    "UPDATE audit_events SET outcome = 'denied'",
    "UPDATE audit_events SET id = id + 100 WHERE id = 3",
    "DELETE FROM audit_events",
    "DELETE FROM audit_events WHERE id = 12",
    "UPDATE audit_checkpoints SET event_count = 1",
    "DELETE FROM audit_checkpoints",
]


def test_changes_are_refused(acore) -> None:
    append(acore, 12)
    before = (events(acore.db), checkpoints(acore.db))
    statements = REFUSED + (["TRUNCATE audit_events", "TRUNCATE audit_checkpoints"]
                            if acore.db.is_postgresql else [])
    for statement in statements:
        with pytest.raises(DBAPIError, match="append-only"):
            with acore.db.session() as session:
                session.execute(text(statement))
    assert (events(acore.db), checkpoints(acore.db)) == before


def test_purge_permit_is_bounded_and_ends_with_its_transaction(acore) -> None:
    append(acore, 12)
    # Beyond the permit's bound: refused, and nothing is deleted.
    with pytest.raises(DBAPIError, match="append-only"):
        with acore.db.session() as session:
            _open_purge_path(session, 5)
            session.execute(text("DELETE FROM audit_events"))
    assert len(events(acore.db)) == 12
    # Within it: allowed; closed again before the end of the transaction.
    with acore.db.session() as session:
        _open_purge_path(session, 5)
        session.execute(text("DELETE FROM audit_events WHERE id <= 5"))
        _close_purge_path(session)
        with pytest.raises(DBAPIError, match="append-only"):
            with session.begin_nested():
                session.execute(text("DELETE FROM audit_events WHERE id = 6"))
    assert [e["id"] for e in events(acore.db)] == list(range(6, 13))
    # A later transaction has no permit at all.
    with pytest.raises(DBAPIError, match="append-only"):
        with acore.db.session() as session:
            session.execute(text("DELETE FROM audit_events WHERE id = 6"))
    with acore.db.session() as session:
        assert session.execute(text("SELECT count(*) FROM audit_purge_permits")).scalar() == 0


def test_permit_from_a_rolled_back_transaction_leaves_nothing(acore) -> None:
    append(acore, 4)
    with pytest.raises(RuntimeError):
        with acore.db.session() as session:
            _open_purge_path(session, 100)
            raise RuntimeError("the purge failed halfway")
    with pytest.raises(DBAPIError, match="append-only"):
        with acore.db.session() as session:
            session.execute(text("DELETE FROM audit_events"))
