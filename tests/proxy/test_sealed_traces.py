"""Command text and file paths at rest are sealed (issue 18, point 6): after a technician
reads a patient's file with the real ssh (exec) and sftp, and is refused another, no row of
the database (SQLite and PostgreSQL, every table, read with plain SQL) holds the file's
name; the DPO's console pages still show it, and the command search finds it by a word.
A command index written before this release is sealed by ``bastion init``, and survives
a master key rotation."""

from __future__ import annotations

import os
import pwd
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import inspect, select, text

from bastion.cli import main_group
from bastion.context import Bastion
from bastion.models import RecordedCommand, SshSession
from bastion.trace_sealing import PREFIX
from tests.proxy.conftest import Scenario
from tests.web.conftest import make_staff
from web.app import create_app

from .test_typed_commands import _sign_in

PATIENT = "DUPONT_Jean"
OTHER = "MARTIN_Paul"


@pytest.fixture
def core(any_core: Bastion) -> Bastion:
    """The scenario's bastion, once on SQLite and once on PostgreSQL."""
    return any_core


@pytest.fixture
def patients(scenario: Scenario) -> Iterator[Path]:
    base = scenario.target.home / f"patients-{uuid.uuid4().hex[:8]}"
    base.mkdir()
    (base / f"{PATIENT}.pdf").write_text("compte rendu\n")
    (base / f"{OTHER}.key").write_text("secret\n")
    owner = pwd.getpwnam(scenario.target.account)
    for path in [base, *base.iterdir()]:
        os.chown(path, owner.pw_uid, owner.pw_gid)
    yield base
    shutil.rmtree(base, ignore_errors=True)


def _every_row(core: Bastion) -> list[str]:
    """Every row of every table, as plain SQL returns it (what a copy of the database shows)."""
    found = []
    with core.db.engine.connect() as connection:
        for table in inspect(connection).get_table_names():
            for row in connection.execute(text(f'SELECT * FROM "{table}"')):
                found.append(f"{table}: " + " | ".join(
                    bytes(v).decode("latin-1") if isinstance(v, (bytes, memoryview)) else str(v)
                    for v in row))
    return found


def _indexed(core: Bastion, sessions: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with core.db.session() as s:
            ended = s.scalars(select(SshSession).where(SshSession.ended_at.is_not(None))).all()
            kinds = set(s.scalars(select(RecordedCommand.kind)))
        if len(ended) >= sessions and {"exec", "sftp"} <= kinds:
            return
        time.sleep(0.1)
    raise AssertionError("the sessions' commands were not indexed")


def test_patient_names_are_sealed_at_rest_and_shown_to_the_dpo(
        scenario: Scenario, patients: Path, tmp_path: Path) -> None:
    core = scenario.core
    scenario.grant(sftp={"access": "read", "allow": [f"{patients}/**"], "deny": ["/**/*.key"]})
    read = scenario.ssh("cat", f"{patients}/{PATIENT}.pdf")
    assert read.returncode == 0 and read.stdout == b"compte rendu\n", read.stderr
    batch = (f"get {patients}/{PATIENT}.pdf {tmp_path}/copy.pdf\n"
             f"-get {patients}/{OTHER}.key {tmp_path}/other.key\n")
    got = scenario.client.sftp(scenario.user, "127.0.0.1", scenario.proxy.port, batch)
    assert got.returncode == 0, got.stderr
    assert (tmp_path / "copy.pdf").exists() and not (tmp_path / "other.key").exists()
    _indexed(core, 2)

    rows = _every_row(core)
    assert rows and not [r for r in rows if PATIENT.casefold() in r.casefold()
                         or OTHER.casefold() in r.casefold()]
    assert [r for r in rows if r.startswith("recorded_commands:") and PREFIX in r]

    # The DPO reads them: the session page, the audit trail, the command search by a word.
    app = create_app(core, {"TESTING": True})
    dpo = make_staff(core, "dpo", ["dpo"])
    admin = make_staff(core, "admin2", ["admin"])
    with core.db.session() as s:
        session_ids = list(s.scalars(select(SshSession.id).order_by(SshSession.id)))
    with app.test_client() as client:
        _sign_in(app, client, dpo)
        shown = client.get(f"/sessions/{session_ids[0]}").get_data(as_text=True)
        assert f"cat {patients}/{PATIENT}.pdf" in shown
        shown = client.get(f"/sessions/{session_ids[1]}").get_data(as_text=True)
        assert f"{PATIENT}.pdf" in shown and f"{OTHER}.key" in shown  # the refusal, too
        found = client.get("/sessions/commands", query_string={"q": "dupon"}).get_data(as_text=True)
        assert f"cat {patients}/{PATIENT}.pdf" in found
        nothing = client.get("/sessions/commands", query_string={"q": "durand"})
        assert PATIENT not in nothing.get_data(as_text=True)
        trail = client.get("/audit", query_string={"action": "sftp."}).get_data(as_text=True)
        assert f"{PATIENT}.pdf" in trail
        # An admin reads the trail (who, when, what kind) but not what was touched.
        _sign_in(app, client, admin)
        trail = client.get("/audit", query_string={"action": "sftp."}).get_data(as_text=True)
        assert "sftp.transfer" in trail and PATIENT not in trail

    # The CLI, on the same database.
    env = {"BASTION_PATHS__VAR_DIR": str(core.settings.var_dir),
           "BASTION_DATABASE__URL": core.settings.database_url}
    with core.db.session() as s:
        recording = s.scalar(select(RecordedCommand.recording_id)
                             .where(RecordedCommand.kind == "exec"))
    listed = CliRunner().invoke(main_group, ["recordings", "commands", str(recording)], env=env)
    assert listed.exit_code == 0 and f"{PATIENT}.pdf" in listed.output, listed.output


def test_init_seals_an_older_command_index_and_rotation_keeps_it(
        scenario: Scenario, tmp_path: Path) -> None:
    core = scenario.core
    scenario.grant()
    assert scenario.ssh("true").returncode == 0
    _indexed_exec(core)
    with core.db.session() as s:  # as a release before this one wrote it
        s.execute(text("UPDATE recorded_commands SET text = :t, search_terms = NULL")
                  .bindparams(t=f"cat /data/{PATIENT}.pdf"))
    env = {"BASTION_PATHS__VAR_DIR": str(core.settings.var_dir),
           "BASTION_DATABASE__URL": core.settings.database_url}
    password = tmp_path / "password"
    password.write_text("correct horse battery staple 42\n")
    done = CliRunner().invoke(main_group, ["init", "--password-file", str(password)], env=env)
    assert done.exit_code == 0, done.output
    assert "command index: 1 command(s) from before this release sealed" in done.output
    assert not [r for r in _every_row(core) if PATIENT in r]
    rotated = CliRunner().invoke(main_group, ["keys", "rotate-master", "--yes"], env=env)
    assert rotated.exit_code == 0, rotated.output
    after = Bastion.from_settings(core.settings)  # a node started with the new master key
    try:
        with after.db.session() as s:
            row = s.scalar(select(RecordedCommand))
            assert after.traces.command_text(s, row) == f"cat /data/{PATIENT}.pdf"
            terms = after.traces.query_terms(s, "dupont")
            assert terms and all(f" {t} " in (row.search_terms or "") for t in terms)
    finally:
        after.close()


def _indexed_exec(core: Bastion) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with core.db.session() as s:
            if s.scalar(select(RecordedCommand.id).where(RecordedCommand.kind == "exec")):
                return
        time.sleep(0.1)
    raise AssertionError("the exec command was not indexed")
