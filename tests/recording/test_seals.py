"""Signed seals (issue 15): a recording kept past the audit retention still verifies once
the purge removed its seal event, and an insider with database and file access (but not
the audit signing key) cannot pass off a cut recording as merely interrupted."""

from __future__ import annotations

import asyncio
import os
from datetime import timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import select

import bastion.audit.log
from bastion.audit import Actor
from bastion.audit.signing import CheckpointSigner
from bastion.cli import main_group
from bastion.models import AuditEvent, Recording, utcnow
from bastion.recording import RecordingService, verify_file
from bastion.recording.seal import sign_seal

from .conftest import add_session, build_core
from .test_catalog import play_shell
from .test_integrity import chunk_spans

DPO = Actor("staff:dpo", "dpo")


@pytest.fixture
def old_recordings(tmp_path, monkeypatch):
    """Two recordings made 400 days ago (their audit events too), then the CLI."""
    monkeypatch.chdir(tmp_path)
    var_dir = tmp_path / "var"
    core = build_core(var_dir)
    service = RecordingService(core)
    monkeypatch.setattr(bastion.audit.log, "utcnow", lambda: utcnow() - timedelta(days=400))
    ids = [asyncio.run(play_shell(service, add_session(core)))[0].recording_id for _ in range(2)]
    monkeypatch.undo()
    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(main_group, list(args), env={"BASTION_PATHS__VAR_DIR": str(var_dir)})

    yield run, core, service, ids
    core.close()


def seal_events(core, recording_id):
    with core.db.session() as session:
        return [e for e in session.scalars(select(AuditEvent).where(
            AuditEvent.action.in_(("recording.sealed", "recording.interrupted"))))
            if e.details.get("recording_id") == recording_id]


def test_held_recordings_verify_after_the_audit_purge_removed_their_seal_events(old_recordings):
    run, core, _service, (held, kept) = old_recordings
    assert run("recordings", "hold", str(held), "--reason", "contentieux 2026-11").exit_code == 0
    purged = run("audit", "purge")
    assert purged.exit_code == 0, purged.output
    assert seal_events(core, held) == [] and seal_events(core, kept) == []
    result = run("recordings", "verify", "--all")
    assert result.exit_code == 0, result.output
    for recording_id in (held, kept):
        assert f"recording {recording_id}: ok:" in result.output
    assert "the signed seal vouches for it" in result.output
    assert run("audit", "verify").exit_code == 0


def cut_and_relabel(core, service, recording_id, *, keep_chunks=6):
    """The forgery: cut the last chunks, rewrite the catalog row as interrupted, and append
    one correctly chained ``recording.interrupted`` event agreeing with the rewritten row."""
    with core.db.session() as session:
        row = session.get(Recording, recording_id)
        path = service.storage.path(row.storage_key)
    os.truncate(path, chunk_spans(path)[keep_chunks][0])
    with core.db.session() as session:
        row = session.get(Recording, recording_id)
        cut = verify_file(service.storage, row.storage_key, service.data_key(row))
        row.status, row.chunk_count, row.final_hash = "interrupted", cut.chunks, cut.final_hash
        row.size_bytes, row.output_bytes = cut.size_bytes, cut.output_bytes
        core.audit.append(session, action="recording.interrupted", outcome="failed",
                          session_id=row.session_id,
                          details={"recording_id": recording_id, "final_hash": cut.final_hash,
                                   "chunk_count": cut.chunks, "size_bytes": cut.size_bytes,
                                   "output_bytes": cut.output_bytes})
    return cut


def test_a_truncated_recording_relabelled_interrupted_fails_verification(rec_core, service,
                                                                         new_session):
    recorder, _ = asyncio.run(play_shell(service, new_session()))
    assert service.verify(recorder.recording_id, DPO).ok
    cut_and_relabel(rec_core, service, recorder.recording_id)
    report = service.verify(recorder.recording_id, DPO)
    assert not report.ok
    assert report.problem.startswith("the catalog entry was altered: its signed seal does not hold")
    # Both seal events are weighed: the original seal contradicts the forged row.
    assert "(recording.sealed) says sealed, the catalog interrupted" in report.problem


def test_the_forgery_fails_even_without_the_original_seal_event_or_the_signature(
    rec_core, service, new_session
):
    """Dropping the signature (posing as a recording sealed before signed seals) leaves
    the original seal event to contradict; without the event, the signature catches it."""
    recorder, _ = asyncio.run(play_shell(service, new_session()))
    cut_and_relabel(rec_core, service, recorder.recording_id)
    with rec_core.db.session() as session:
        row = session.get(Recording, recorder.recording_id)
        row.seal_signature = row.seal_key_id = None
    report = service.verify(recorder.recording_id, DPO)
    assert not report.ok and "the audit log's event" in report.problem
    assert "says sealed, the catalog interrupted" in report.problem


def test_a_seal_re_signed_with_another_key_is_refused(rec_core, service, new_session):
    recorder, _ = asyncio.run(play_shell(service, new_session()))
    cut_and_relabel(rec_core, service, recorder.recording_id)
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    with rec_core.db.session() as session:
        sign_seal(session.get(Recording, recorder.recording_id),
                  CheckpointSigner(Ed25519PrivateKey.generate()))
    report = service.verify(recorder.recording_id, DPO)
    assert not report.ok and "that is not the bastion's" in report.problem


def test_the_seal_is_signed_for_sealed_and_interrupted_recordings(rec_core, service, new_session):
    recorder, result = asyncio.run(play_shell(service, new_session()))
    with rec_core.db.session() as session:
        row = session.get(Recording, recorder.recording_id)
        assert row.seal_signature and row.seal_signed_at is not None
        assert row.seal_key_id == CheckpointSigner.from_pem(
            rec_core.keys.audit_signing_key_pem()).key_id
    # A bastion restart marks a recording left open interrupted, with a signed seal too.
    open_one = asyncio.run(service.start(new_session(status="ended"), "shell"))
    asyncio.run(open_one.output(b"half a session"))
    [interrupted] = service.mark_interrupted()
    with rec_core.db.session() as session:
        row = session.get(Recording, interrupted.recording_id)
        assert row.status in ("interrupted", "sealed") and row.seal_signature
    report = service.verify(interrupted.recording_id, DPO)
    assert report.ok, report.describe()
