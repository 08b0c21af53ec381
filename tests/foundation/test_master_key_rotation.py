"""Master-key rotation: everything sealed is re-sealed in one transaction, the old key is
retired, a crash at any step is finished or undone at the next start, and a value no key
opens stops everything (fail closed)."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pyotp
import pytest
from click.testing import CliRunner
from sqlalchemy import select

from bastion import master_key_files as files
from bastion import master_key_rotation as rotation
from bastion.audit import Actor
from bastion.cli import main_group
from bastion.context import Bastion
from bastion.crypto import DecryptionError
from bastion.keys import key_id
from bastion.models import AuditEvent, Recording, Target, TargetAccount, Technician
from bastion.recording import RecordingError, RecordingService, TerminalInfo
from bastion.recording.encryption import unwrap_data_key
from bastion.totp import enrol, matching_step, secret_of
from bastion.vault import open_secret, set_secret
from tests.conftest import SECOND_FACTOR_OFF, make_settings
from tests.recording.conftest import add_session

ACTOR = Actor("cli:admin", "admin")
PASSWORD = b"mot de passe du compte maint"


@dataclass
class World:
    service: RecordingService
    recording_id: int
    totp_secret: str


async def _record(service: RecordingService, session_id: int) -> int:
    recorder = await service.start(session_id, "shell", TerminalInfo(80, 24, "xterm"))
    await recorder.output(b"maint@dpi-app-01:~$ uptime\r\n 10:00:00 up 3 days\r\n")
    await recorder.close("client closed")
    return recorder.recording_id


def record(core: Bastion) -> int:
    return asyncio.run(_record(RecordingService(core), add_session(core)))


def seed(core: Bastion) -> World:
    """A sealed recording, a vaulted password and a technician's TOTP secret, all sealed
    with the current master key the way the product seals them."""
    service = RecordingService(core)
    recording_id = asyncio.run(_record(service, add_session(core)))
    with core.db.session() as session:
        target = session.scalar(select(Target).where(Target.name == "dpi-app-01"))
        target.accounts.append(TargetAccount(name="maint"))
    with core.db.session() as session:
        set_secret(session, core.audit, core.keys.master_key, target="dpi-app-01", account="maint",
                   method="vault_password", secret=PASSWORD, actor=ACTOR)
        uri = enrol(session, core.audit, core.keys.master_key, "jdupont", ACTOR)
    return World(service, recording_id, parse_qs(urlparse(uri).query)["secret"][0])


def sealed_rows(core: Bastion) -> tuple[Recording, bytes, bytes]:
    with core.db.session() as session:
        recording = session.scalars(select(Recording).order_by(Recording.id)).first()
        vault = session.scalar(select(TargetAccount.vault_secret))
        totp = session.scalar(select(Technician.totp_secret_encrypted))
        return recording, vault, totp


def assert_everything_opens(core: Bastion, world: World) -> None:
    key = core.keys.master_key
    assert world.service.verify(world.recording_id).ok
    out = io.StringIO()
    assert world.service.export(world.recording_id, out, ACTOR) > 0
    assert "up 3 days" in out.getvalue()
    _, vault, totp = sealed_rows(core)
    assert open_secret(key, "dpi-app-01", "maint", vault) == PASSWORD
    secret = secret_of(key, "jdupont", totp)
    assert secret == world.totp_secret
    assert matching_step(secret, pyotp.TOTP(secret).now()) is not None


def master_file(core: Bastion) -> bytes:
    return (core.keys.directory / "master.key").read_bytes()


def key_files(core: Bastion) -> dict[str, bytes]:
    """The master key's files (the empty lock file aside)."""
    return {p.name: p.read_bytes() for p in core.keys.directory.glob("master.key*")
            if p.name != "master.key.lock"}


def rotation_events(core: Bastion) -> list[AuditEvent]:
    with core.db.session() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == rotation.ROTATED)))


def leave_crash_after_commit(core: Bastion) -> None:
    """The process dies after the commit, before the key files are swapped."""
    def die(*_args: object) -> None:
        raise SystemExit("killed")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(files, "promote", die)
        with pytest.raises(SystemExit):
            rotation.rotate(core, ACTOR)


def test_rotation_reseals_everything_and_keeps_the_old_key_apart(any_core: Bastion) -> None:
    world = seed(any_core)
    old_key, old_id = any_core.keys.master_key, any_core.keys.master_key_id
    old_file = master_file(any_core)

    result = rotation.rotate(any_core, ACTOR)

    new_key = any_core.keys.master_key
    assert new_key != old_key and result.new_key_id == key_id(new_key) == any_core.keys.master_key_id
    assert (result.old_key_id, result.counts) == (old_id, rotation.SealedCounts(1, 1, 1))
    assert_everything_opens(any_core, world)
    # The old key opens none of the re-sealed values.
    recording, vault, totp = sealed_rows(any_core)
    assert recording.master_key_id == result.new_key_id
    with pytest.raises(RecordingError):
        unwrap_data_key(old_key, recording.wrapped_key, recording.storage_key)
    with pytest.raises(DecryptionError):
        open_secret(old_key, "dpi-app-01", "maint", vault)
    with pytest.raises(DecryptionError):
        secret_of(old_key, "jdupont", totp)
    # Files: the old key retired (same bytes, 0600), no .next left, master.key 0600.
    keys_dir = any_core.keys.directory
    retired = keys_dir / f"master.key.retired-{old_id}"
    assert result.retired_file == retired and retired.read_bytes() == old_file
    assert retired.stat().st_mode & 0o777 == 0o600
    assert (keys_dir / "master.key").stat().st_mode & 0o777 == 0o600
    assert not (keys_dir / "master.key.next").exists()
    # Audited with counts and ids, never key material.
    [event] = rotation_events(any_core)
    assert event.actor == "cli:admin" and event.outcome == "ok"
    assert event.details["old_master_key_id"] == old_id
    assert event.details["new_master_key_id"] == result.new_key_id
    assert (event.details["recordings"], event.details["vault_secrets"],
            event.details["totp_secrets"]) == (1, 1, 1)
    text = json.dumps(event.details)
    for key in (old_key, new_key):
        assert base64.b64encode(key).decode() not in text and key.hex() not in text


def test_a_value_no_key_opens_stops_the_rotation_and_changes_nothing(core: Bastion) -> None:
    seed(core)
    with core.db.session() as session:
        technician = session.scalar(select(Technician))
        technician.totp_secret_encrypted = secrets.token_bytes(60)
    before_file, before_rows = master_file(core), sealed_rows(core)

    with pytest.raises(rotation.RotationError, match="TOTP secret of jdupont opens with no master key"):
        rotation.rotate(core, ACTOR)

    assert master_file(core) == before_file
    after = sealed_rows(core)
    assert (after[0].wrapped_key, after[0].master_key_id, after[1]) == (
        before_rows[0].wrapped_key, before_rows[0].master_key_id, before_rows[1])
    assert key_files(core) == {"master.key": before_file}
    assert rotation_events(core) == []


@pytest.mark.parametrize("retired_written", [False, True], ids=["before-promote", "mid-promote"])
def test_a_crash_after_the_commit_is_finished_at_the_next_start(
    any_core: Bastion, retired_written: bool
) -> None:
    world = seed(any_core)
    old_file, old_id = master_file(any_core), any_core.keys.master_key_id
    leave_crash_after_commit(any_core)
    keys_dir = any_core.keys.directory
    next_id = key_id(any_core.keys.master_key_file("master.key.next"))
    assert master_file(any_core) == old_file  # the swap never happened...
    with pytest.raises(RecordingError):
        world.service.verify(world.recording_id)  # ...so the data does not open with master.key
    if retired_written:
        (keys_dir / f"master.key.retired-{old_id}").write_bytes(old_file)

    outcome = rotation.recover(any_core)

    assert outcome is not None and outcome.completed
    assert f"now key {next_id}" in outcome.message and f"master.key.retired-{old_id}" in outcome.message
    assert any_core.keys.master_key_id == next_id
    assert (keys_dir / f"master.key.retired-{old_id}").read_bytes() == old_file
    assert not (keys_dir / "master.key.next").exists()
    assert_everything_opens(any_core, world)
    assert rotation.recover(any_core) is None  # nothing left to do


def test_a_crash_before_the_commit_is_undone_at_the_next_start(any_core: Bastion) -> None:
    world = seed(any_core)
    old_file = master_file(any_core)
    # The process died after writing master.key.next, before its transaction committed.
    files.write_next(any_core.keys.directory, secrets.token_bytes(32))
    with pytest.raises(rotation.RotationError, match="pending"):
        rotation.rotate(any_core, ACTOR)

    outcome = rotation.recover(any_core)

    assert outcome is not None and not outcome.completed and "discarded master.key.next" in outcome.message
    assert master_file(any_core) == old_file
    assert not (any_core.keys.directory / "master.key.next").exists()
    assert_everything_opens(any_core, world)
    assert rotation.rotate(any_core, ACTOR).counts.total == 3  # and a rotation works again


def test_a_crash_with_nothing_sealed_is_decided_by_the_audit_event(core: Bastion) -> None:
    leave_crash_after_commit(core)
    next_id = key_id(core.keys.master_key_file("master.key.next"))
    outcome = rotation.recover(core)
    assert outcome is not None and outcome.completed and core.keys.master_key_id == next_id


def test_neither_key_opening_the_data_fails_closed(core: Bastion) -> None:
    seed(core)
    keys_dir = core.keys.directory
    (keys_dir / "master.key").write_bytes(base64.b64encode(secrets.token_bytes(32)) + b"\n")
    files.write_next(keys_dir, secrets.token_bytes(32))
    before = key_files(core)
    assert set(before) == {"master.key", "master.key.next"}

    with pytest.raises(rotation.RotationError, match="neither master.key .* nor master.key.next"):
        rotation.recover(core)

    assert key_files(core) == before


def test_values_sealed_by_a_node_that_kept_the_old_key_are_swept_by_the_next_rotation(
    any_core: Bastion, tmp_path: Path
) -> None:
    """Node B shares the database but still has the old master.key: what it seals after
    the rotation shows in the status, and the next rotation re-seals it with the retired key."""
    seed(any_core)
    node_b_keys = tmp_path / "node-b-keys"
    shutil.copytree(any_core.keys.directory, node_b_keys)  # every node has the same keys
    node_b = Bastion.from_settings(make_settings(
        tmp_path, BASTION_DATABASE__URL=any_core.settings.database_url,
        BASTION_PATHS__KEYS_DIR=str(node_b_keys)), node="node-b")
    try:
        first = rotation.rotate(any_core, ACTOR)
        straggler = record(node_b)  # sealed with the old key after the rotation
    finally:
        node_b.close()

    status = rotation.status(any_core)
    usage = {u.key_id: (u.role, u.counts) for u in status.usage}
    assert usage[first.new_key_id] == ("current", rotation.SealedCounts(1, 1, 1))
    assert usage[first.old_key_id] == ("retired", rotation.SealedCounts(1, 0, 0))
    assert status.stale.total == 1 and not status.pending

    second = rotation.rotate(any_core, ACTOR)
    assert (second.counts.recordings, second.from_retired_keys) == (2, 1)
    assert RecordingService(any_core).verify(straggler).ok
    assert rotation.status(any_core).stale.total == 0


# --- the command line -------------------------------------------------------------------


@pytest.fixture
def cli(core: Bastion, tmp_path: Path):
    runner = CliRunner()
    env = {"BASTION_PATHS__VAR_DIR": str(tmp_path / "var"), **SECOND_FACTOR_OFF}
    return lambda *args: runner.invoke(main_group, list(args), env=env)


def test_keys_status_and_rotate_master_from_the_command_line(core: Bastion, cli) -> None:
    world = seed(core)
    old_id = core.keys.master_key_id
    status = cli("keys", "status")
    assert status.exit_code == 0, status.output
    assert f"master key: {old_id}" in status.stdout
    assert (f"sealed by {old_id} (current): 1 recording key(s), 1 vaulted secret(s), "
            "1 TOTP secret(s)") in status.stdout

    refused = cli("keys", "rotate-master")  # no terminal to confirm on
    assert refused.exit_code == 1 and "give --yes" in refused.stderr
    assert core.keys.master_key_id == old_id

    result = cli("keys", "rotate-master", "--yes")
    assert result.exit_code == 0, result.output
    new_id = core.keys.master_key_id
    assert new_id != old_id
    assert f"master key rotated: {old_id} -> {new_id}" in result.stdout
    assert "re-sealed: 1 recording key(s), 1 vaulted secret(s), 1 TOTP secret(s)" in result.stdout
    assert "copy the new master.key to every node" in result.stdout
    assert_everything_opens(core, world)

    status = cli("keys", "status")
    assert f"master key: {new_id}" in status.stdout and f"retired keys kept: {old_id}" in status.stdout
    assert "warning" not in status.stdout


def test_init_finishes_an_interrupted_rotation(core: Bastion, cli, tmp_path: Path) -> None:
    world = seed(core)
    leave_crash_after_commit(core)
    next_id = key_id(core.keys.master_key_file("master.key.next"))
    assert "warning: master.key.next is pending" in cli("keys", "status").stdout
    password = tmp_path / "pw"
    password.write_text("correct horse battery staple\n")

    result = cli("init", "--password-file", str(password))

    assert result.exit_code == 0, result.output
    assert [line for line in result.stderr.splitlines() if "master key" in line] == [
        f"master key: finished the interrupted rotation: master.key is now key {next_id}, "
        f"old key {world_old_id(core, next_id)} kept as master.key.retired-{world_old_id(core, next_id)}"]
    assert core.keys.master_key_id == next_id
    assert_everything_opens(core, world)


def world_old_id(core: Bastion, new_id: str) -> str:
    [event] = [e for e in rotation_events(core) if e.details["new_master_key_id"] == new_id]
    return event.details["old_master_key_id"]


def test_serve_refuses_to_start_when_neither_key_opens_the_data(core: Bastion, cli) -> None:
    seed(core)
    keys_dir = core.keys.directory
    (keys_dir / "master.key").write_bytes(base64.b64encode(secrets.token_bytes(32)) + b"\n")
    files.write_next(keys_dir, secrets.token_bytes(32))

    result = cli("serve")

    assert result.exit_code == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("bastion: master key: neither master.key (") and "restore the right key" in line
