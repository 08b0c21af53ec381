"""Migrated databases made by copying, not by migrating each time.

Running every Alembic revision took about half a second per SQLite test and more on
PostgreSQL, for a schema that is the same in every test. The suite migrates one database
of each kind per test process, the same ``Database.upgrade()`` every test used to run, and
hands each test a copy: a file copy for SQLite, ``CREATE DATABASE ... TEMPLATE`` for
PostgreSQL. The migrations themselves are tested from an empty database in
tests/foundation/test_migrations.py.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from bastion.db import Database

from .postgres import PostgresServer


def migrate_sqlite_template(path: Path) -> Path:
    """A migrated SQLite file at ``path``, closed and in rollback-journal mode (the WAL
    folded in), so that a plain byte copy of it is a whole database."""
    db = Database(f"sqlite:///{path}")
    db.upgrade()
    db.dispose()
    connection = sqlite3.connect(path)
    try:
        connection.execute("PRAGMA journal_mode=DELETE")
    finally:
        connection.close()
    return path


def copy_sqlite(template: Path, destination: Path) -> str:
    """A private (0600, as the bastion creates it) copy of ``template``; its URL."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(destination, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(template.read_bytes())
    return f"sqlite:///{destination}"


def migrate_postgres_template(server: PostgresServer, name: str = "migrated_template") -> str:
    """A migrated PostgreSQL database that nobody may connect to (not even autovacuum, which
    would make ``CREATE DATABASE ... TEMPLATE`` wait): the template of each test's."""
    db = Database(server.create_database(name))
    db.upgrade()
    db.dispose()
    server.execute(f'ALTER DATABASE "{name}" WITH IS_TEMPLATE true ALLOW_CONNECTIONS false')
    return name
