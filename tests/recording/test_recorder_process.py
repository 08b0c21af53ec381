"""Recordings written by a recorder process (recorder_link.py, recorder_process.py): the
same file, byte for byte readable and verifiable; stored before the recorder returns; and
a recorder process that dies fails its recordings closed and is replaced."""

from __future__ import annotations

import asyncio
import io
import os
import signal

import pytest
from sqlalchemy import select

from bastion.audit import Actor
from bastion.context import Bastion
from bastion.models import AuditEvent, Recording
from bastion.recording import RecordingFailed, RecordingReader, RecordingService
from bastion.recording.recorder_link import RecorderLink
from bastion.recording.recorder_ring import RING_BYTES

from .conftest import add_session


async def _flood(service: RecordingService, session_id: int, payload: bytes) -> int:
    recorder = await service.start(session_id, "exec")
    assert recorder.writer.__class__.__name__ == "RemoteWriter"
    # The relay's way: several 64 KiB pieces in flight at once, each awaited before it
    # would be forwarded (group commit in the recorder, one write per batch).
    pieces = [payload[i:i + 65536] for i in range(0, len(payload), 65536)]
    for start in range(0, len(pieces), 8):
        await asyncio.gather(*(recorder.output(piece) for piece in pieces[start:start + 8]))
    # Once output() returned, the bytes are in the file: readable from this process now.
    stored = RecordingReader(service.storage, recorder.storage_key,
                             recorder_key(service, recorder.recording_id)).output_bytes()
    assert stored == payload[:len(stored)] and len(stored) == len(payload)
    await recorder.input(b"exit\r")
    result = await recorder.close("exec ended with status 0")
    assert result.sealed and result.output_bytes == len(payload)
    return recorder.recording_id


def recorder_key(service: RecordingService, recording_id: int) -> bytes:
    with service.core.db.session() as session:
        return service.data_key(session.get(Recording, recording_id))


@pytest.mark.parametrize("ring_bytes, through", [
    (RING_BYTES, "shared memory"),
    (64 * 1024, "the socket: no room in a ring this small"),
    (0, "the socket: no ring"),
])
def test_a_flood_through_the_recorder_process_exports_byte_exact(
        rec_core: Bastion, ring_bytes: int, through: str) -> None:
    session_id = add_session(rec_core)
    payload = os.urandom(3 * 1024 * 1024) + "journal: démarrage terminé\n".encode() * 20000
    placed: list[int] = []

    async def run() -> int:
        link = RecorderLink(rec_core.settings, ring_bytes=ring_bytes)
        await link.start()
        try:
            service = RecordingService(rec_core, recorder_link=link, index_on_close=False)
            recording_id = await _flood(service, session_id, payload)
            placed.append(link.ring.bytes_placed if link.ring is not None else 0)
            return recording_id
        finally:
            await link.stop()

    recording_id = asyncio.run(run())
    if through == "shared memory":
        assert placed[0] >= len(payload) * 0.9, placed  # the small tail pieces: the socket
    else:
        assert placed == [0]
    # Read back in this process: the recorder process wrote the usual format and seals.
    service = RecordingService(rec_core)
    report = service.verify(recording_id)
    assert report.ok and report.sealed, report.describe()
    with rec_core.db.session() as session:
        row = session.get(Recording, recording_id)
        assert row.status == "sealed" and row.output_bytes == len(payload)
    out, err = io.BytesIO(), io.BytesIO()
    sizes = service.export_raw(recording_id, out, err, Actor("test", "dpo"), purpose="test")
    assert out.getvalue() == payload and sizes == (len(payload), 0)


def test_a_dead_recorder_fails_its_recordings_closed_and_is_replaced(rec_core: Bastion) -> None:
    session_id = add_session(rec_core)

    async def run() -> None:
        link = RecorderLink(rec_core.settings)
        await link.start()
        try:
            service = RecordingService(rec_core, recorder_link=link, index_on_close=False)
            recorder = await service.start(session_id, "shell")
            told: asyncio.Future[RecordingFailed] = asyncio.get_running_loop().create_future()
            recorder.on_failure(told.set_result)
            await recorder.output(b"$ ls\r\nfile\r\n")
            first = link.pid
            assert first is not None
            os.kill(first, signal.SIGKILL)
            # Told without writing anything: an idle session ends too.
            failure = await asyncio.wait_for(told, 10)
            assert "recorder process" in str(failure)
            try:
                await recorder.output(b"never shown")
            except RecordingFailed:
                pass
            else:
                raise AssertionError("output was accepted after its recorder died")
            result = await recorder.close("recording failed")
            assert not result.sealed and "recorder process" in (result.error or "")
            # A new recorder process takes the next recordings.
            for _ in range(100):
                if link.pid not in (None, first):
                    break
                await asyncio.sleep(0.1)
            assert link.pid not in (None, first) and link.restarts == 1
            again = await service.start(session_id, "shell")
            await again.output(b"after the restart\r\n")
            assert (await again.close("shell ended")).sealed
        finally:
            await link.stop()

    asyncio.run(run())
    with rec_core.db.session() as session:
        rows = session.scalars(select(Recording).order_by(Recording.id)).all()
        assert [r.status for r in rows] == ["interrupted", "sealed"]
        # What the dead process stored verifies: the catalog holds what the file holds.
        events = session.scalars(select(AuditEvent).where(
            AuditEvent.action == "recording.interrupted")).all()
        assert len(events) == 1 and "recorder process" in events[0].details["error"]
    report = RecordingService(rec_core).verify(rows[0].id)
    assert report.ok and not report.sealed and report.output_bytes == len(b"$ ls\r\nfile\r\n")


def test_a_recorder_that_stops_answering_is_killed_and_its_recordings_fail_closed(
        rec_core: Bastion) -> None:
    """Alive but stuck (here: stopped by SIGSTOP): the held output must not wait forever."""
    session_id = add_session(rec_core)

    async def run() -> None:
        link = RecorderLink(rec_core.settings)
        link.hung_seconds = 1.0
        await link.start()
        try:
            service = RecordingService(rec_core, recorder_link=link, index_on_close=False)
            recorder = await service.start(session_id, "shell")
            await recorder.output(b"$ ls\r\n")
            stuck = link.pid
            assert stuck is not None
            os.kill(stuck, signal.SIGSTOP)
            try:
                await asyncio.wait_for(recorder.output(b"held, never forwarded"), 30)
            except RecordingFailed as exc:  # the write in flight fails in its caller
                assert "did not answer for" in str(exc)
            else:
                raise AssertionError("a stuck recorder's write was reported stored")
            for _ in range(100):
                if link.pid not in (None, stuck):
                    break
                await asyncio.sleep(0.1)
            assert link.pid not in (None, stuck) and link.restarts == 1
            again = await service.start(session_id, "shell")
            await again.output(b"after the restart\r\n")
            assert (await again.close("shell ended")).sealed
            await recorder.close("recording failed")
        finally:
            await link.stop()

    asyncio.run(run())
    with rec_core.db.session() as session:
        statuses = [r.status for r in session.scalars(select(Recording).order_by(Recording.id))]
    assert statuses == ["interrupted", "sealed"]
