"""The recording write threads: outcomes come back on the event loop's thread, in batches,
a write stuck on slow storage holds up no other recording, and a recording's file is kept
open only while it is being written."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from bastion.recording import LocalFolderStorage, RecordingFailed, RecordingWriter, SessionRecorder
from bastion.recording.write_queue import WriteQueue
from tests.harness.processes import open_files


def _open_descriptors_of(path: Path) -> int:
    return open_files().count(str(path))


def test_outcomes_reach_the_loop_thread_and_errors_are_handed_over() -> None:
    queue = WriteQueue(threads=2)

    async def scenario() -> list[tuple[int, str | None]]:
        loop = asyncio.get_running_loop()
        seen: list[tuple[int, str | None]] = []
        finished = loop.create_future()

        def failing() -> None:
            raise OSError("disk gone")

        def done(error: BaseException | None) -> None:
            seen.append((threading.get_ident(), str(error) if error else None))
            if len(seen) == 2:
                finished.set_result(None)

        queue.submit(lambda: None, done)
        queue.submit(failing, done)
        await asyncio.wait_for(finished, 5)
        return seen

    try:
        seen = asyncio.run(scenario())
    finally:
        queue.stop()
    assert {thread for thread, _ in seen} == {threading.get_ident()}
    assert sorted(error or "" for _, error in seen) == ["", "disk gone"]


def test_many_finished_writes_share_a_wake_up_of_the_loop() -> None:
    queue = WriteQueue(threads=4)
    writes = 400

    async def scenario() -> int:
        loop = asyncio.get_running_loop()
        wake_ups = 0
        original = loop.call_soon_threadsafe

        def counting(*args, **kwargs):  # type: ignore[no-untyped-def]
            nonlocal wake_ups
            wake_ups += 1
            return original(*args, **kwargs)

        loop.call_soon_threadsafe = counting  # type: ignore[method-assign]
        gate = threading.Event()
        remaining = writes
        finished = loop.create_future()

        def done(error: BaseException | None) -> None:
            nonlocal remaining
            remaining -= 1
            if remaining == 0:
                finished.set_result(None)

        # Every write waits at the gate, so they all finish while the loop is busy here.
        for _ in range(writes):
            queue.submit(lambda: gate.wait(5), done)
        gate.set()
        await asyncio.wait_for(finished, 10)
        return wake_ups

    try:
        wake_ups = asyncio.run(scenario())
    finally:
        queue.stop()
    assert 1 <= wake_ups < writes // 4, wake_ups


def test_a_write_stuck_on_storage_holds_up_no_other_recording() -> None:
    queue = WriteQueue(threads=2)
    stuck = threading.Event()

    async def scenario() -> str:
        loop = asyncio.get_running_loop()
        other = loop.create_future()
        queue.submit(lambda: stuck.wait(10), lambda error: None)
        queue.submit(lambda: None, lambda error: other.set_result("written"))
        return await asyncio.wait_for(other, 5)

    try:
        assert asyncio.run(scenario()) == "written"
    finally:
        stuck.set()
        queue.stop()


def test_the_file_is_open_while_written_and_closed_once_sealed(tmp_path: Path, data_key: bytes) -> None:
    storage = LocalFolderStorage(tmp_path)
    key = "2026/11/24/session-1-shell-x.rec"

    async def scenario() -> tuple[int, int]:
        recorder = SessionRecorder(RecordingWriter.create(storage, key, data_key))
        await recorder.output(b"login: ")
        while_writing = _open_descriptors_of(storage.path(key))
        await recorder.close("client closed")
        return while_writing, _open_descriptors_of(storage.path(key))

    while_writing, after = asyncio.run(scenario())
    assert (while_writing, after) == (1, 0)


def test_a_failed_recording_lets_go_of_its_file(tmp_path: Path, data_key: bytes) -> None:
    class FailingSecondAppend(LocalFolderStorage):
        appends = 0

        def append(self, key: str, data: bytes) -> None:
            self.appends += 1
            super().append(key, data if self.appends == 1 else data[: len(data) // 2])
            if self.appends > 1:
                raise OSError(5, "I/O error")

    storage = FailingSecondAppend(tmp_path)
    key = "2026/11/24/session-2-shell-x.rec"

    async def scenario() -> str:
        recorder = SessionRecorder(RecordingWriter.create(storage, key, data_key))
        await recorder.output(b"first")
        try:
            await recorder.output(b"second")
        except RecordingFailed as exc:
            return str(exc)
        return "not failed"

    assert "I/O error" in asyncio.run(scenario())
    assert _open_descriptors_of(storage.path(key)) == 0
