"""``bastion recordings``: verify, export, purge, hold, as an operator runs them."""

from __future__ import annotations

import asyncio
import json

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from bastion.cli import main_group
from bastion.models import AuditEvent, Recording
from bastion.recording import RecordingService

from .conftest import add_session, build_core
from .test_catalog import age, play_shell
from .test_integrity import chunk_spans, flip


@pytest.fixture
def cli(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    var_dir = tmp_path / "var"
    core = build_core(var_dir)
    service = RecordingService(core)
    recordings = [asyncio.run(play_shell(service, add_session(core)))[0].recording_id
                  for _ in range(2)]
    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(main_group, ["recordings", *args],
                             env={"BASTION_PATHS__VAR_DIR": str(var_dir)})

    yield run, core, service, recordings
    core.close()


def storage_path(core, service, recording_id):
    with core.db.session() as session:
        return service.storage.path(session.get(Recording, recording_id).storage_key)


def test_verify_passes_then_names_the_first_bad_chunk(cli):
    run, core, service, (first, second) = cli
    result = run("verify", str(first))
    assert result.exit_code == 0, result.output
    assert f"recording {first}: ok:" in result.output and "sealed" in result.output
    path = storage_path(core, service, second)
    flip(path, chunk_spans(path)[4][1] - 2)
    result = run("verify", "--all")
    assert result.exit_code == 1
    assert f"recording {first}: ok" in result.output
    assert f"recording {second}: FAILED: first bad chunk: 4; chunk 4 fails authentication" in result.output
    assert "1 of 2 recordings failed verification" in result.output
    assert run("verify").exit_code != 0  # neither IDs nor --all


def test_export_writes_a_cast_file_and_is_audited(cli, tmp_path):
    run, core, service, (first, second) = cli
    refused = run("export", str(first), "-o", "session.cast")
    assert refused.exit_code == 2 and "--purpose" in refused.output  # why, before anything
    assert run("export", str(first), "--purpose", "x").exit_code == 1
    result = run("export", str(first), "-o", "session.cast", "--purpose", "complaint 17 (CNIL)")
    assert result.exit_code == 0, result.output
    lines = (tmp_path / "session.cast").read_text().splitlines()
    assert json.loads(lines[0])["version"] == 2
    assert "up 3 days" in "".join(json.loads(line)[2] for line in lines[1:])
    assert (tmp_path / "session.cast").stat().st_mode & 0o777 == 0o600
    with core.db.session() as session:
        event = session.scalars(select(AuditEvent).where(AuditEvent.action == "recording.exported")).one()
        assert event.actor.startswith("cli:") and event.details["destination"].endswith("session.cast")
        assert event.details["purpose"] == "complaint 17 (CNIL)"

    path = storage_path(core, service, second)
    flip(path, chunk_spans(path)[2][1] - 2)
    result = run("export", str(second), "--purpose", "complaint 17 (CNIL)")
    assert result.exit_code == 1 and "nothing written" in result.output and "chunk 2" in result.output
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".cast") == ["session.cast"]


def test_hold_and_purge(cli):
    run, core, service, (first, second) = cli
    age(core, first, 800)
    age(core, second, 800)
    result = run("hold", str(first), "--reason", "complaint 17")
    assert result.exit_code == 0 and f"recording {first}: hold placed" in result.output
    result = run("purge", "--dry-run")
    assert result.exit_code == 0
    assert f"would purge recording {second}" in result.output and f"recording {first} " not in result.output
    result = run("purge")
    assert f"purged recording {second}" in result.output and "1 recordings purged" in result.output
    with core.db.session() as session:
        assert session.get(Recording, first).status == "sealed"
        assert session.get(Recording, second).status == "purged"
        session_id = session.get(Recording, first).session_id
    result = run("hold", str(session_id), "--session", "--release")
    assert result.exit_code == 0 and f"recording {first}: hold released" in result.output
    assert f"purged recording {first}" in run("purge").output
    result = run("hold", str(second))
    assert result.exit_code == 1 and "already purged" in result.output


def test_list_and_commands(cli):
    run, core, service, (first, _) = cli
    listed = run("list").output
    assert "sealed" in listed and f"{first:>6} session" in listed
    result = run("commands", str(first))
    assert result.exit_code == 0 and "shell uptime" in result.output
