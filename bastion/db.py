"""Engine, sessions and migrations. A :class:`Database` is created per process by whoever
needs it (CLI command, server, test) and passed along: no module-level engine."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


# Session.info key under which a transaction collects the audit events it appended
# (bastion.audit.log); observers are told of them once the transaction has committed.
APPENDED_EVENTS = "bastion.audit.appended"

log = logging.getLogger("bastion.db")


class DatabaseError(Exception):
    """The database cannot be used as configured (unreachable, not initialised, too old)."""


def _prepare_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, open transactions, so BEGIN IMMEDIATE below is
        # the statement that starts each one.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Take the write lock up front: with deferred transactions two writers that both
        # read first (e.g. the audit chain's last hash) deadlock on the lock upgrade, and
        # busy_timeout cannot resolve that. Transactions here are short, so serialising
        # writers costs little, and it keeps the audit chain unbroken.
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _create_private_file(path: Path) -> None:
    """The SQLite file holds who reached which patient-record server and why: only the
    bastion's user reads it. SQLite gives its -wal and -shm files the database's mode."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        pass


class Database:
    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        kwargs: dict[str, Any] = {"echo": echo, "future": True}
        if url.startswith("sqlite"):
            path = url.split("///", 1)[-1]
            if path and path != ":memory:":
                _create_private_file(Path(path))
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        else:
            kwargs["pool_pre_ping"] = True
            # psycopg prepares a statement run 5 times on a connection, and PostgreSQL may
            # then plan it once for any parameters. Console searches are exactly where
            # parameters decide the plan (a rare word wants the trigram index, a common
            # word narrowed to one technician wants the session index): measured, the
            # generic plan took 305 ms where the plan for the actual values took 8 ms.
            # Unprepared statements are planned for their values, and poolers in
            # transaction mode (pgbouncer) need them anyway.
            kwargs["connect_args"] = {"prepare_threshold": None}
        self.engine = create_engine(url, **kwargs)
        if self.is_sqlite:
            _prepare_sqlite(self.engine)
        self._factory = sessionmaker(self.engine, expire_on_commit=False)
        # Called with every audit event whose transaction committed: metrics and process
        # logs (bastion.observability), so a rolled-back action counts nothing.
        self.event_observers: list[Callable[[Any], None]] = []
        event.listen(self._factory, "after_commit", self._tell_observers)

    def _tell_observers(self, session: Session) -> None:
        # On the committing thread (a database executor, never the SSH loop); an observer
        # that fails is logged and never undoes or blocks the action it watches.
        for appended in session.info.pop(APPENDED_EVENTS, []):
            for observer in list(self.event_observers):
                try:
                    observer(appended)
                except Exception:  # noqa: BLE001 - see above
                    log.exception("observer %r failed on %s", observer, appended.action)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @property
    def is_postgresql(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: committed when the block ends, rolled back if it raises."""
        with self._factory.begin() as session:
            yield session

    def dispose(self) -> None:
        self.engine.dispose()

    # --- migrations -------------------------------------------------------------------

    def _alembic_config(self) -> AlembicConfig:
        config = AlembicConfig()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        config.set_main_option("sqlalchemy.url", self.url.replace("%", "%%"))
        return config

    def upgrade(self) -> None:
        """Bring the schema to the newest revision (creating it on an empty database)."""
        config = self._alembic_config()
        with self.engine.connect() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
            connection.commit()

    def head_revision(self) -> str | None:
        return ScriptDirectory.from_config(self._alembic_config()).get_current_head()

    def current_revision(self) -> str | None:
        with self.engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    def require_current_schema(self) -> None:
        """Fail closed when the schema is missing or older than this release."""
        try:
            current = self.current_revision()
        except Exception as exc:  # noqa: BLE001 - any driver error means "unusable"
            raise DatabaseError(f"database {self.safe_url} cannot be reached: {exc}") from exc
        head = self.head_revision()
        if current is None:
            raise DatabaseError("the database is not initialised: run 'bastion init'")
        if current != head:
            raise DatabaseError(
                f"the database schema is at {current}, this release needs {head}: "
                "run 'bastion init' to upgrade it"
            )

    @property
    def safe_url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)
