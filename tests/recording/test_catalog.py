"""The catalog: rows, seals in the audit log, indexed commands, audited reads and exports,
retention with legal holds, master-key rotation."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import secrets
import tracemalloc
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from bastion.audit import Actor
from bastion.models import AuditEvent, RecordedCommand, Recording, utcnow
from bastion.recording import (
    BudgetExceeded,
    Limits,
    RecordingCorrupted,
    RecordingError,
    RecordingNotFound,
    RecordingService,
    TerminalInfo,
    purge_daily,
    purge_expired,
    rewrap_data_keys,
    set_legal_hold,
    verify_file,
)

from .conftest import add_session
from .test_integrity import chunk_spans, flip
from .test_recorder import FailingStorage

DPO = Actor("staff:dpo", "dpo")


async def play_shell(service: RecordingService, session_id: int, end_reason="client closed"):
    recorder = await service.start(session_id, "shell", TerminalInfo(80, 24, "xterm"))
    await recorder.marker("session", technician="jdupont", target="dpi-app-01")
    await recorder.output(b"maint@dpi-app-01:~$ ")
    for key in b"uptime":
        await recorder.input(bytes([key]))
        await recorder.output(bytes([key]))
    await recorder.input(b"\r")
    await recorder.output(b"\r\n 10:00:00 up 3 days\r\nmaint@dpi-app-01:~$ ")
    return recorder, await recorder.close(end_reason)


def audit_events(core, action):
    with core.db.session() as session:
        return session.scalars(
            select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        ).all()


def test_a_session_is_catalogued_sealed_audited_and_indexed(rec_core, service, new_session):
    session_id = new_session()
    recorder, result = asyncio.run(play_shell(service, session_id))
    with rec_core.db.session() as session:
        row = session.get(Recording, recorder.recording_id)
        assert row.status == "sealed" and row.sealed_at is not None
        assert (row.chunk_count, row.size_bytes, row.final_hash, row.output_bytes) == (
            result.chunk_count, result.size_bytes, result.final_hash, result.output_bytes)
        assert row.master_key_id == rec_core.keys.master_key_id
        assert b"uptime" not in row.wrapped_key
        commands = session.scalars(select(RecordedCommand)).all()
        # Sealed at rest (issue 18), opened on read.
        assert all(c.text.startswith("sealed:v1:") and "uptime" not in c.text for c in commands)
        assert [(rec_core.traces.command_text(session, c), c.kind, c.session_id)
                for c in commands] == [("uptime", "shell", session_id)]
        assert commands[0].at == row.started_at + timedelta(seconds=commands[0].offset_seconds)
    [started] = audit_events(rec_core, "recording.started")
    [sealed] = audit_events(rec_core, "recording.sealed")
    assert sealed.details["final_hash"] == result.final_hash
    assert sealed.details["end_reason"] == "client closed"
    assert (sealed.technician, sealed.target, sealed.account, sealed.session_id) == (
        "jdupont", "dpi-app-01", "maint", session_id)
    assert service.storage.path(result.storage_key).stat().st_mode & 0o777 == 0o600


def test_verification_is_audited_and_names_the_first_bad_chunk(rec_core, service, new_session):
    recorder, result = asyncio.run(play_shell(service, new_session()))
    report = service.verify(recorder.recording_id, DPO)
    assert report.ok and report.sealed
    path = service.storage.path(result.storage_key)
    spans = chunk_spans(path)
    flip(path, spans[5][1] - 1)
    report = service.verify(recorder.recording_id, DPO)
    assert not report.ok and report.bad_chunk == 5
    outcomes = [(e.outcome, e.actor, e.details["bad_chunk"])
                for e in audit_events(rec_core, "recording.verified")]
    assert outcomes == [("ok", "staff:dpo", None), ("failed", "staff:dpo", 5)]


def test_a_catalog_entry_edited_to_match_a_cut_file_is_caught_by_the_audit_log(
    rec_core, service, new_session
):
    recorder, result = asyncio.run(play_shell(service, new_session()))
    path = service.storage.path(result.storage_key)
    import os

    os.truncate(path, chunk_spans(path)[6][0])  # keep chunks 0..5
    with rec_core.db.session() as session:
        row = session.get(Recording, recorder.recording_id)
        cut = verify_file(service.storage, row.storage_key, service.data_key(row))
        row.status, row.chunk_count, row.final_hash = "interrupted", cut.chunks, cut.final_hash
    report = service.verify(recorder.recording_id, DPO)
    assert not report.ok and "audit log" in report.problem


def test_export_and_replay_are_audited(rec_core, service, new_session):
    recorder, result = asyncio.run(play_shell(service, new_session()))
    out = io.StringIO()
    service.export(recorder.recording_id, out, DPO, destination="/tmp/r.cast")
    assert "up 3 days" in out.getvalue()
    [exported] = audit_events(rec_core, "recording.exported")
    assert (exported.outcome, exported.actor) == ("ok", "staff:dpo")
    assert exported.details["destination"] == "/tmp/r.cast"
    assert exported.details["final_hash"] == result.final_hash

    reader = service.open_reader(recorder.recording_id, DPO)
    [viewed] = audit_events(rec_core, "recording.viewed")
    assert viewed.actor == "staff:dpo" and viewed.details["recording_id"] == recorder.recording_id
    assert b"up 3 days" in reader.output_bytes()

    path = service.storage.path(result.storage_key)
    flip(path, chunk_spans(path)[3][1] - 1)
    with pytest.raises(RecordingCorrupted, match="chunk 3"):
        service.export(recorder.recording_id, io.StringIO(), DPO)
    assert [e.outcome for e in audit_events(rec_core, "recording.exported")] == ["ok", "failed"]


def test_storage_failure_marks_the_recording_interrupted(rec_core, new_session, tmp_path):
    storage = FailingStorage(tmp_path / "failing", fail_after=3)
    service = RecordingService(rec_core, storage)

    async def scenario():
        recorder = await service.start(new_session(), "shell")
        with pytest.raises(RecordingError):
            for _ in range(10):
                await recorder.output(b"data\r\n")
        return recorder, await recorder.close("recording failed")

    recorder, result = asyncio.run(scenario())
    assert not result.sealed
    with rec_core.db.session() as session:
        row = session.get(Recording, recorder.recording_id)
        assert row.status == "interrupted" and row.chunk_count == 4
        assert row.output_bytes == 3 * len(b"data\r\n")
    [event] = audit_events(rec_core, "recording.interrupted")
    assert event.outcome == "failed" and "simulated I/O error" in event.details["error"]
    assert service.verify(recorder.recording_id).ok


def test_budget_end_reason_is_in_the_recording_and_the_audit_log(rec_core, new_session):
    service = RecordingService(rec_core, limits=Limits(budget_bytes=4096, soft_fraction=1.0))

    async def scenario():
        recorder = await service.start(new_session(), "shell")
        with pytest.raises(BudgetExceeded):
            while True:
                await recorder.output(b"\x00\xff" * 512)
        return recorder, await recorder.close("output budget exceeded")

    recorder, result = asyncio.run(scenario())
    assert result.sealed and result.output_bytes == 4096
    [sealed] = audit_events(rec_core, "recording.sealed")
    assert sealed.details["end_reason"] == "output budget exceeded"
    markers = [e.data["type"] for e in service.open_reader(recorder.recording_id, DPO).events()
               if e.code == "m"]
    assert markers == ["budget", "end"]


def age(core, recording_id, days):
    with core.db.session() as session:
        session.execute(update(Recording).where(Recording.id == recording_id)
                        .values(sealed_at=utcnow() - timedelta(days=days)))


def test_purge_respects_legal_hold_and_is_audited(rec_core, service, new_session):
    old, held, recent = (asyncio.run(play_shell(service, new_session()))[0].recording_id
                         for _ in range(3))
    age(rec_core, old, 400)
    age(rec_core, held, 400)
    age(rec_core, recent, 10)
    assert set_legal_hold(service, [held], hold=True, actor=DPO, reason="CNIL case 2025-17") == [held]

    planned = purge_expired(service, actor=DPO, dry_run=True)
    assert [item.recording_id for item in planned] == [old]
    assert not audit_events(rec_core, "recording.purged")

    [purged] = purge_expired(service, actor=DPO)
    assert purged.recording_id == old and purged.file_deleted
    with rec_core.db.session() as session:
        row = session.get(Recording, old)
        assert row.status == "purged" and row.purged_at and row.wrapped_key == b""
        assert not service.storage.exists(row.storage_key)
        assert not session.scalars(select(RecordedCommand).where(RecordedCommand.recording_id == old)).all()
        assert session.get(Recording, held).status == "sealed"
    [event] = audit_events(rec_core, "recording.purged")
    assert event.actor == "staff:dpo" and event.details["recording_id"] == old
    with pytest.raises(RecordingNotFound, match="purged"):
        service.verify(old)

    set_legal_hold(service, [held], hold=False, actor=DPO)
    assert [item.recording_id for item in purge_expired(service)] == [held]
    assert [e.action for e in audit_events(rec_core, "recording.hold")] == ["recording.hold"]
    assert len(audit_events(rec_core, "recording.hold_released")) == 1


def test_master_key_rotation_rewraps_keys_without_touching_files(rec_core, service, new_session):
    recorder, result = asyncio.run(play_shell(service, new_session()))
    path = service.storage.path(result.storage_key)
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    old_key, old_id = rec_core.keys.master_key, rec_core.keys.master_key_id
    new_key = secrets.token_bytes(32)
    new_id = hashlib.sha256(new_key).hexdigest()[:16]
    assert rewrap_data_keys(service, old_key, new_key, new_id, old_master_id=old_id, actor=DPO) == 1
    with pytest.raises(RecordingError, match="master key"):
        service.verify(recorder.recording_id)  # the key store still has the old key
    (rec_core.keys.directory / "master.key").write_bytes(base64.b64encode(new_key) + b"\n")
    assert service.verify(recorder.recording_id).ok
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    [event] = audit_events(rec_core, "recording.keys_rewrapped")
    assert event.details["count"] == 1


def test_daily_purge_runs_at_start_and_stops_on_request(rec_core, service, new_session):
    recording_id = asyncio.run(play_shell(service, new_session()))[0].recording_id
    age(rec_core, recording_id, 400)

    async def scenario():
        stop = asyncio.Event()
        task = asyncio.create_task(purge_daily(service, stop, interval_seconds=3600))
        while not audit_events(rec_core, "recording.purged"):
            await asyncio.sleep(0.01)
        stop.set()
        await asyncio.wait_for(task, 5)

    asyncio.run(scenario())
    [event] = audit_events(rec_core, "recording.purged")
    assert event.actor == "system" and event.details["recording_id"] == recording_id


def test_catalog_on_sqlite_and_postgresql(any_core):
    """The catalog's queries (interrupted sessions, retention, audit look-ups) on both
    databases the bastion supports."""
    service = RecordingService(any_core)
    kept = asyncio.run(play_shell(service, add_session(any_core)))[0].recording_id
    old = asyncio.run(play_shell(service, add_session(any_core)))[0].recording_id
    left_open = service.start_blocking(add_session(any_core), "exec")
    age(any_core, old, 500)
    age(any_core, kept, 500)
    set_legal_hold(service, [kept], hold=True, actor=DPO)
    assert [item.recording_id for item in purge_expired(service, actor=DPO)] == [old]
    assert service.verify(kept, DPO).ok
    assert [m.recording_id for m in service.mark_interrupted()] == [left_open.recording_id]
    assert service.verify(left_open.recording_id).ok
    out = io.StringIO()
    service.export(kept, out, DPO)
    assert "up 3 days" in out.getvalue()


def test_indexing_a_large_recording_streams_its_events(service: RecordingService, new_session) -> None:
    # 24 MiB of binary output (a transfer through `cat`): indexing reads it back chunk by
    # chunk and never holds it whole (it once kept a node 700 MB high after a 300 MB cat).
    service.index_on_close = False
    piece = secrets.token_bytes(64 * 1024)

    async def transfer() -> int:
        recorder = await service.start(new_session(), "exec")
        for _ in range(384):
            await recorder.output(piece)
        await recorder.output(b"\r\n$ ls\r\n")
        await recorder.close("client closed")
        return recorder.recording_id

    recording_id = asyncio.run(transfer())
    tracemalloc.start()
    try:
        service.index_commands(recording_id)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024 * 1024, f"indexing held {peak / 2**20:.1f} MiB"
