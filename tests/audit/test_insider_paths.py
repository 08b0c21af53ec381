"""Paths around the append-only triggers an insider with database access would try
(issue 15): SQLite's INSERT OR REPLACE (a delete no DELETE trigger sees), and on
PostgreSQL the purge permit set by an application role that does not own the tables."""

from __future__ import annotations

import sqlite3
import uuid
from datetime import timedelta

import psycopg
import pytest
from sqlalchemy.engine import make_url

import bastion.audit.log
from bastion.audit.retention import purge_expired_events
from bastion.audit.service import verify
from bastion.context import Bastion
from bastion.models import utcnow

from ..conftest import make_settings
from .conftest import append, checkpoints, events, with_interval


def sqlite_path(core: Bastion) -> str:
    return make_url(core.db.url).database


REPLACES = [
    # Same id: a REPLACE would delete event 3 and put a forged one in its place.
    ("INSERT OR REPLACE INTO audit_events SELECT id, at, actor, actor_role, 'audit.forged', "
     "outcome, vendor, technician, target, account, session_id, request_id, grant_id, reasons, "
     "details, node, prev_hash, hash || '', message FROM audit_events WHERE id = 3"),
    ("REPLACE INTO audit_events SELECT * FROM audit_events WHERE id = 5"),
    # Same hash under a new id: the unique constraint would make REPLACE delete event 4.
    ("INSERT OR REPLACE INTO audit_events (at, actor, actor_role, action, outcome, reasons, "
     "details, node, prev_hash, hash) SELECT at, actor, actor_role, action, outcome, reasons, "
     "details, node, prev_hash, hash FROM audit_events WHERE id = 4"),
    ("INSERT OR REPLACE INTO audit_checkpoints SELECT id, kind, event_id, event_hash, 1, "
     "interval, at, node, key_id, signature FROM audit_checkpoints WHERE id = 1"),
    ("INSERT OR REPLACE INTO audit_checkpoints (kind, event_id, event_hash, event_count, "
     "interval, at, node, key_id, signature) SELECT kind, event_id, event_hash, 1, interval, "
     "at, node, key_id, signature FROM audit_checkpoints WHERE id = 1"),
]


@pytest.mark.parametrize("statement", REPLACES)
def test_insert_or_replace_is_refused_on_sqlite(core, statement) -> None:
    with_interval(core, 5)
    append(core, 6)
    before = (events(core.db), checkpoints(core.db))
    connection = sqlite3.connect(sqlite_path(core))
    try:
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            connection.execute(statement)
        connection.rollback()
    finally:
        connection.close()
    assert (events(core.db), checkpoints(core.db)) == before
    assert verify(core, record=False).ok


def test_plain_appends_still_work_beside_the_replace_guard(core) -> None:
    with_interval(core, 5)
    append(core, 12)
    assert [e["id"] for e in events(core.db)] == list(range(1, 13))
    assert len(checkpoints(core.db)) == 2


@pytest.fixture
def two_roles(postgres_server, tmp_path, monkeypatch):
    """A database migrated by its owner (postgres), and a core that connects as
    ``bastion_app``: allowed to read and write every table, owner of none."""
    monkeypatch.chdir(tmp_path)
    name = f"t_{uuid.uuid4().hex[:12]}"
    owner_url = postgres_server.create_database(name)
    owner = Bastion.from_settings(make_settings(tmp_path, BASTION_DATABASE__URL=owner_url),
                                  node="test-node")
    owner.keys.ensure()
    owner.db.upgrade()
    owner.close()
    role = f"app_{uuid.uuid4().hex[:8]}"
    dsn = f"host=127.0.0.1 port={postgres_server.port} user=postgres dbname={name}"
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(f"CREATE ROLE {role} LOGIN")
        connection.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}")
        connection.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}")
    app_url = owner_url.replace("postgres@", f"{role}@", 1)
    app = Bastion.from_settings(make_settings(tmp_path, BASTION_DATABASE__URL=app_url),
                                node="test-node")
    yield with_interval(app, 10)
    app.close()


def test_the_application_role_cannot_open_the_purge_path_by_itself(two_roles, monkeypatch) -> None:
    app = two_roles
    monkeypatch.setattr(bastion.audit.log, "utcnow", lambda: utcnow() - timedelta(days=400))
    append(app, 15)
    monkeypatch.undo()
    append(app, 3, start=15)
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    # The permit the purge used to rely on, set by the application role: refused.
    with pytest.raises(DBAPIError, match="append-only"):
        with app.db.session() as session:
            session.execute(text("SELECT set_config('bastion.audit_purge_up_to', '1000', true)"))
            session.execute(text("DELETE FROM audit_events WHERE id <= 17"))
    # The owner's function, without a signed anchor for that event: refused.
    with pytest.raises(DBAPIError, match="no signed anchor checkpoint on event 17"):
        with app.db.session() as session:
            session.execute(text("SELECT audit_purge_events(17)"))
    assert len(events(app.db)) == 18
    # The real purge (anchor first, then the function) works for the application role.
    result = purge_expired_events(app)
    assert (result.purged, result.last_event_id) == (15, 15)
    assert [e["id"] for e in events(app.db)][0] == 16
    assert verify(app, record=False).ok
