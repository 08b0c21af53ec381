from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

from bastion.db import Database, DatabaseError
from bastion.models import Base


def test_uninitialised_database_is_refused(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'empty.db'}")
    with pytest.raises(DatabaseError, match="not initialised: run 'bastion init'"):
        db.require_current_schema()


def test_every_revision_upgrades_to_head(database: Database, tmp_path: Path) -> None:
    """A database left at any earlier release's schema upgrades to this one."""
    script = ScriptDirectory.from_config(database._alembic_config())
    revisions = [rev.revision for rev in script.walk_revisions()]
    from alembic import command

    for revision in revisions:
        db = Database(f"sqlite:///{tmp_path / f'at-{revision}.db'}")
        config = db._alembic_config()
        with db.engine.connect() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
            connection.commit()
        db.upgrade()
        db.require_current_schema()
        db.dispose()
    assert database.current_revision() == database.head_revision()


def test_migrations_match_the_models(database: Database) -> None:
    """A model change without its migration fails here."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    with database.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": False})
        differences = compare_metadata(context, Base.metadata)
    assert differences == []
