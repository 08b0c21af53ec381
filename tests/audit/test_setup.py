"""The signing key, failing closed without it, and upgrading a database that already
holds events (0002 -> head)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import insert, text
from sqlalchemy.exc import DBAPIError

from bastion.audit import GENESIS_HASH
from bastion.audit.retention import _close_purge_path, _open_purge_path
from bastion.audit.service import verify
from bastion.db import Database
from bastion.keys import KeyStoreError
from bastion.models import utcnow

from .conftest import EVENTS, append, checkpoints, events, forged_event, with_interval


def test_signing_key_is_created_private_and_kept(core) -> None:
    key = core.keys.directory / "audit_signing.key"
    assert oct(os.stat(key).st_mode & 0o777) == "0o600"
    assert b"BEGIN PUBLIC KEY" in (core.keys.directory / "audit_signing.pub").read_bytes()
    before = key.read_bytes()
    assert core.keys.ensure() == []
    assert key.read_bytes() == before


def test_appending_fails_closed_without_the_signing_key(core) -> None:
    (core.keys.directory / "audit_signing.key").unlink()
    with_interval(core, 10)
    with pytest.raises(KeyStoreError, match="audit_signing.key is missing"):
        with core.db.session() as session:
            core.audit.append(session, action="grant.created", outcome="ok")
    assert events(core.db) == []


def test_upgrade_keeps_existing_events_verifiable_and_ids_never_reused(tmp_path: Path, core) -> None:
    db = Database(f"sqlite:///{tmp_path / 'old.db'}")
    config = db._alembic_config()
    with db.engine.connect() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0002_approvals")
        connection.commit()
    # Events as the release before checkpoints wrote them: chained, nothing signed.
    prev = GENESIS_HASH
    with db.session() as session:
        for i in range(5):
            row = forged_event(prev, utcnow(), action="old.event", details={"i": i})
            session.execute(insert(EVENTS).values(**row))
            prev = row["hash"]
    db.upgrade()
    with pytest.raises(DBAPIError, match="append-only"):
        with db.session() as session:
            session.execute(text("UPDATE audit_events SET actor = 'x'"))
    core.db.dispose()
    core.db = db
    with_interval(core, 10)
    append(core, 1)
    assert verify(core, record=False).ok
    # Emptied by the purge path, the table still never hands out an old id again.
    with db.session() as session:
        _open_purge_path(session, 6)
        session.execute(text("DELETE FROM audit_events"))
        _close_purge_path(session)
    with db.session() as session:
        core.audit.append(session, action="after.purge", outcome="ok")
    assert [e["id"] for e in events(db)] == [7]
    assert checkpoints(db) == []
