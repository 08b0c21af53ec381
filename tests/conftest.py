"""Shared fixtures: real parts, fresh state per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import argon2.profiles
import hypothesis
import pytest
from argon2 import PasswordHasher

from bastion import passwords
from bastion.config import Settings, load_settings
from bastion.context import Bastion
from bastion.db import Database
from tests.harness.clients import OpenSshClient
from tests.harness.migrated import copy_sqlite, migrate_postgres_template, migrate_sqlite_template
from tests.harness.postgres import PostgresServer
from tests.harness.sshd import SshdTarget
from tests.harness.tmux import TmuxSession

# Property-based tests draw the same examples on every run (each test bounds how many with
# max_examples): a failure in CI is one anyone can replay, and no run takes longer by luck.
hypothesis.settings.register_profile("suite", derandomize=True, database=None)
hypothesis.settings.load_profile("suite")

# Modules whose tests share a module- or class-scoped fixture (a running `bastion serve`
# node, a cluster, a recorded shell session) run on one pytest-xdist worker, so that the
# fixture is built once, not once per worker (`make test` runs with --dist loadgroup).
SHARED_SCOPES = {"module", "class", "package"}


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups in its own hook
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        info = getattr(item, "_fixtureinfo", None)
        if info is None or item.get_closest_marker("xdist_group"):
            continue
        if any(definitions[-1].scope in SHARED_SCOPES
               for definitions in info.name2fixturedefs.values() if definitions):
            item.add_marker(pytest.mark.xdist_group(item.module.__name__ if item.module else item.nodeid))


@pytest.fixture(scope="session", autouse=True)
def cheapest_password_hashing() -> Iterator[None]:
    """argon2 at the cheapest parameters its authors give for tests, in the test process
    only: a sign-in or a password check costs a third of a second at the production
    parameters, and the tests are about who gets in, not about argon2's cost. The code path
    (argon2id hash and verify) is the production one, and the ``bastion`` processes the
    tests start keep the production parameters."""
    production = passwords._hasher
    passwords._hasher = PasswordHasher.from_parameters(argon2.profiles.CHEAPEST)
    yield
    passwords._hasher = production


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file per test process; each test gets a copy (tests/harness/migrated.py)."""
    return migrate_sqlite_template(tmp_path_factory.mktemp("template") / "migrated.db")


@pytest.fixture(scope="session")
def postgres_template(postgres_server: PostgresServer) -> str:
    """One migrated PostgreSQL database per test process, the template of each test's."""
    return migrate_postgres_template(postgres_server)


def migrated_url(kind: str, request: pytest.FixtureRequest, path: Path) -> str:
    """The URL of a new migrated database of ``kind`` for this test (SQLite: at ``path``)."""
    if kind == "sqlite":
        return copy_sqlite(request.getfixturevalue("sqlite_template"), path)
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.create_database(f"t_{uuid.uuid4().hex[:12]}",
                                  template=request.getfixturevalue("postgres_template"))


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A migrated, empty database: the test runs once on SQLite, once on PostgreSQL."""
    db = Database(migrated_url(request.param, request, tmp_path / "bastion.db"))
    yield db
    db.dispose()


# Most tests are about something else than the technicians' second factor: they turn it
# off (an exception has a reason and a last day), and tests/proxy/test_second_factor.py
# turns it on with its own settings.
SECOND_FACTOR_OFF = {"BASTION_SSH__SECOND_FACTOR": "off",
                     "BASTION_SSH__SECOND_FACTOR_OFF_REASON": "tests about something else",
                     "BASTION_SSH__SECOND_FACTOR_OFF_UNTIL": "2099-12-31"}


def make_settings(tmp_path: Path, **env: str) -> Settings:
    base = {"BASTION_PATHS__VAR_DIR": str(tmp_path / "var"), **SECOND_FACTOR_OFF}
    base.update(env)
    return load_settings(None, env=base)


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.chdir(tmp_path)
    return make_settings(tmp_path)


def _initialised_core(settings: Settings, *, migrated: bool = False) -> Bastion:
    """What ``bastion init`` leaves: keys and the schema (``migrated``: the database is
    already a migrated copy, see ``migrated_url``)."""
    core = Bastion.from_settings(settings, node="test-node")
    core.keys.ensure()
    if not migrated:
        core.db.upgrade()
    return core


@pytest.fixture
def core(settings: Settings, request: pytest.FixtureRequest) -> Iterator[Bastion]:
    """An initialised bastion core on SQLite: keys, schema, nothing else."""
    # A test module's own ``settings`` may name another database: that one is migrated.
    copied = settings.database.url is None
    if copied:
        migrated_url("sqlite", request, settings.var_dir / "bastion.db")
    core = _initialised_core(settings, migrated=copied)
    yield core
    core.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_core(request: pytest.FixtureRequest, tmp_path: Path,
             monkeypatch: pytest.MonkeyPatch) -> Iterator[Bastion]:
    """An initialised bastion core, once on SQLite and once on PostgreSQL."""
    monkeypatch.chdir(tmp_path)
    url = migrated_url(request.param, request, tmp_path / "bastion.db")
    core = _initialised_core(make_settings(tmp_path, BASTION_DATABASE__URL=url), migrated=True)
    yield core
    core.close()


@pytest.fixture
def sshd_target(core: Bastion, tmp_path: Path) -> Iterator[SshdTarget]:
    """A real OpenSSH sshd trusting this bastion's target CA, with a real shell account."""
    target = SshdTarget(tmp_path / "sshd", trusted_ca_pub=core.keys.directory / "target_ca.pub")
    target.start()
    yield target
    target.stop()


@pytest.fixture
def openssh_client(tmp_path: Path) -> OpenSshClient:
    return OpenSshClient(tmp_path / "client")


@pytest.fixture
def tmux(tmp_path: Path) -> Iterator[TmuxSession]:
    session = TmuxSession(tmp_path)
    yield session
    session.kill()
