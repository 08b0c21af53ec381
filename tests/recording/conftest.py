"""Fixtures of the recording tests: a real local-folder storage, a real core (SQLite,
keys, migrations) with a session to hang recordings on, and the service over them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from bastion.config import load_settings
from bastion.context import Bastion
from bastion.models import AccessRequest, Grant, SshSession, Target, Technician, Vendor, utcnow
from bastion.recording import LocalFolderStorage, RecordingService
from bastion.recording.encryption import new_data_key

HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIipmyuU4kLeNLI823hJ7NlUzqXldpseQHYeUp2EBWRb"


@pytest.fixture
def storage(tmp_path: Path) -> LocalFolderStorage:
    return LocalFolderStorage(tmp_path / "recordings")


@pytest.fixture
def data_key() -> bytes:
    return new_data_key()


def build_core(var_dir: Path, node: str = "test-node", **env: str) -> Bastion:
    settings = load_settings(None, env={"BASTION_PATHS__VAR_DIR": str(var_dir), **env})
    core = Bastion.from_settings(settings, node=node)
    core.keys.ensure()
    core.db.upgrade()
    return core


@pytest.fixture
def rec_core(tmp_path: Path) -> Iterator[Bastion]:
    core = build_core(tmp_path / "var")
    yield core
    core.close()


def add_session(core: Bastion, *, node: str | None = None, status: str = "live") -> int:
    """A technician of a vendor on a target, and a session of theirs: what a recording
    belongs to."""
    with core.db.session() as session:
        vendor = session.query(Vendor).filter_by(slug="medisoft").one_or_none()
        if vendor is None:
            vendor = Vendor(slug="medisoft", name="Medisoft")
            technician = Technician(ident="jdupont", vendor=vendor, employer="Medisoft",
                                    full_name="Jeanne Dupont", email="j.dupont@medisoft.example")
            target = Target(name="dpi-app-01", host="10.0.0.5", host_key=HOST_KEY)
            session.add_all([vendor, technician, target])
            session.flush()
        else:
            technician = session.query(Technician).filter_by(ident="jdupont").one()
            target = session.query(Target).filter_by(name="dpi-app-01").one()
        row = SshSession(technician_id=technician.id, target_id=target.id, account_name="maint",
                         node=node or core.node, status=status, client_address="192.0.2.7")
        session.add(row)
        session.flush()
        return row.id


def add_grant(core: Bastion, session_id: int, *, status: str = "approved",
              ends_in: timedelta = timedelta(hours=1), revoke_reason: str | None = None) -> int:
    """A grant (begun an hour ago, ending ``ends_in`` from now) for the session's technician
    and target, with its approved request; the session is put under it."""
    with core.db.session() as session:
        row = session.get(SshSession, session_id)
        now = utcnow()
        request = AccessRequest(technician_id=row.technician_id, target_id=row.target_id,
                                account_name="maint", window_start=now - timedelta(hours=1),
                                window_end=now + ends_in, reason="test", source="api",
                                status="approved")
        session.add(request)
        session.flush()
        grant = Grant(request_id=request.id, technician_id=row.technician_id,
                      target_id=row.target_id, account_name="maint",
                      not_before=now - timedelta(hours=1), not_after=now + ends_in,
                      status=status, revoke_reason=revoke_reason)
        session.add(grant)
        session.flush()
        row.grant_id = grant.id
        return grant.id


@pytest.fixture
def new_session(rec_core: Bastion) -> Callable[..., int]:
    return lambda **kwargs: add_session(rec_core, **kwargs)


@pytest.fixture
def service(rec_core: Bastion) -> RecordingService:
    return RecordingService(rec_core)
