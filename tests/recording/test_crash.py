"""A bastion process SIGKILLed mid-session: its recording verifies up to its last written
chunk, and the next start marks the recording and the session interrupted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

from sqlalchemy import select

from bastion.models import AuditEvent, Recording, SshSession
from bastion.recording import RecordingReader, RecordingService, verify_file
from bastion.recording.catalog import expected_for
from bastion.recording.container import CHUNK_HEAD

from .conftest import add_session, build_core

BASTION_PROCESS = textwrap.dedent("""
    import asyncio, sys
    from pathlib import Path
    from bastion.config import load_settings
    from bastion.context import Bastion
    from bastion.recording import RecordingService, TerminalInfo

    async def main():
        settings = load_settings(None, env={"BASTION_PATHS__VAR_DIR": sys.argv[1]})
        core = Bastion.from_settings(settings, node="node-a")
        service = RecordingService(core)
        recorder = await service.start(int(sys.argv[2]), "shell", TerminalInfo(80, 24, "xterm"))
        print("recording", recorder.recording_id, flush=True)
        for n in range(1_000_000):
            await recorder.output(f"line {n} of the session\\r\\n".encode())
            # Only now would the proxy forward it: tell the test what was forwarded.
            print("forwarded", n, recorder.writer.chunk_count, flush=True)
            await asyncio.sleep(0.001 if n < 20 else 3600)

    asyncio.run(main())
""")


def run_and_kill(var_dir, session_id, forwarded_lines: int) -> tuple[int, int]:
    process = subprocess.Popen(
        [sys.executable, "-c", BASTION_PROCESS, str(var_dir), str(session_id)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        recording_id = int(process.stdout.readline().split()[1])
        chunks = 0
        for _ in range(forwarded_lines):
            _, n, chunks = process.stdout.readline().split()
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.kill()
        process.wait(10)
    assert process.returncode == -signal.SIGKILL
    return recording_id, int(chunks)


def test_sigkill_leaves_a_verifiable_recording_marked_interrupted_at_restart(tmp_path):
    var_dir = tmp_path / "var"
    core = build_core(var_dir, node="node-a")
    session_id = add_session(core)
    recording_id, chunks = run_and_kill(var_dir, session_id, forwarded_lines=12)

    # Right after the kill: the file verifies on its own up to its last chunk.
    service = RecordingService(core)
    with core.db.session() as session:
        recording = session.get(Recording, recording_id)
        assert recording.status == "open"
        data_key = service.data_key(recording)
        key = recording.storage_key
    report = verify_file(service.storage, key, data_key)
    assert report.ok and not report.sealed
    assert report.chunks >= chunks  # at least all that was reported forwarded
    output = RecordingReader(service.storage, key, data_key).output_bytes()
    forwarded = b"".join(f"line {n} of the session\r\n".encode() for n in range(12))
    assert output.startswith(forwarded)

    # The next start of node-a.
    restarted = RecordingService(build_core(var_dir, node="node-a"))
    marked = restarted.mark_interrupted()
    assert [(m.recording_id, m.session_id) for m in marked] == [(recording_id, session_id)]
    with core.db.session() as session:
        recording = session.get(Recording, recording_id)
        assert recording.status == "interrupted"
        assert (recording.chunk_count, recording.final_hash) == (report.chunks, report.final_hash)
        assert recording.output_bytes == len(output)
        session_row = session.get(SshSession, session_id)
        assert session_row.status == "interrupted" and session_row.ended_at is not None
        event = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "recording.interrupted")
        ).one()
        assert event.details["final_hash"] == report.final_hash
        assert event.session_id == session_id and event.technician == "jdupont"
    # Later verifications check the file against what was stored at restart.
    later = restarted.verify(recording_id)
    assert later.ok and later.chunks == report.chunks
    # The commands of an interrupted recording are indexed too (none typed here).
    assert restarted.index_commands(recording_id) == []


def test_a_write_cut_short_by_the_kill_is_not_part_of_the_recording(tmp_path):
    var_dir = tmp_path / "var"
    core = build_core(var_dir, node="node-a")
    session_id = add_session(core)
    recording_id, _ = run_and_kill(var_dir, session_id, forwarded_lines=3)
    service = RecordingService(core)
    with core.db.session() as session:
        key = session.get(Recording, recording_id).storage_key
    with core.db.session() as session:
        data_key = service.data_key(session.get(Recording, recording_id))
    chunks = verify_file(service.storage, key, data_key).chunks
    # What a kill in the middle of a write leaves: the start of the next chunk.
    with service.storage.path(key).open("ab") as handle:
        handle.write(CHUNK_HEAD.pack(b"CHNK", chunks, 0, 500) + b"partial")
    [marked] = service.mark_interrupted()
    assert marked.report.truncated and marked.report.chunks == chunks >= 4
    report = service.verify(recording_id)
    assert report.ok, report.describe()
    assert any("incomplete chunk" in note for note in report.notes)


def test_restart_leaves_live_sessions_of_other_nodes_alone(tmp_path):
    core = build_core(tmp_path / "var", node="node-b")
    other_node_session = add_session(core, node="node-a")
    ended_session = add_session(core, node="node-a", status="ended")
    service = RecordingService(core)
    live = service.start_blocking(other_node_session, "shell")
    gone = service.start_blocking(ended_session, "shell")
    marked = service.mark_interrupted()
    assert [m.recording_id for m in marked] == [gone.recording_id]
    with core.db.session() as session:
        assert session.get(Recording, live.recording_id).status == "open"
        assert session.get(SshSession, other_node_session).status == "live"
        assert expected_for(session.get(Recording, gone.recording_id)).chunk_count == 1


def test_a_seal_whose_catalog_update_was_lost_is_recognised_at_restart(tmp_path):
    import asyncio

    core = build_core(tmp_path / "var")
    service = RecordingService(core)
    session_id = add_session(core)

    def database_down(result):
        raise ConnectionError("database unreachable")

    async def scenario():
        recorder = await service.start(session_id, "shell")
        recorder._on_close = database_down
        await recorder.output(b"done\r\n")
        return recorder, await recorder.close("client closed")  # does not raise

    recorder, result = asyncio.run(scenario())
    assert result.sealed
    [marked] = service.mark_interrupted()
    assert marked.report.sealed
    with core.db.session() as session:
        row = session.get(Recording, recorder.recording_id)
        assert row.status == "sealed" and row.final_hash == result.final_hash
    assert service.verify(recorder.recording_id).ok
