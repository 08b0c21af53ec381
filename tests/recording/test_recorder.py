"""The asyncio recorder: stored before it returns, off the event loop, group commit, the
size budget, and storage failures that end the session with nothing unrecorded shown."""

from __future__ import annotations

import asyncio
import errno
import os
import subprocess
import threading
from pathlib import Path

import pytest

from bastion.recording import (
    BudgetExceeded,
    Limits,
    LocalFolderStorage,
    OutputBudget,
    RecordingFailed,
    RecordingReader,
    RecordingWriter,
    SessionRecorder,
    verify_file,
)
from bastion.recording.events import INPUT, MARKER

KEY = "2025/03/14/session-9-shell-rec.rec"


def stored_output(storage, data_key) -> bytes:
    return RecordingReader(storage, KEY, data_key).output_bytes()


def new_recorder(storage, data_key, **kwargs) -> SessionRecorder:
    return SessionRecorder(RecordingWriter.create(storage, KEY, data_key), **kwargs)


class GatedStorage(LocalFolderStorage):
    """A real folder whose appends wait for the test to open a gate: lets the test see
    what happens while a write is in progress."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.gate = threading.Event()
        self.gate.set()
        self.appending = threading.Event()
        self.append_threads: list[int] = []
        self.appends = 0

    def append(self, key: str, data: bytes) -> None:
        self.append_threads.append(threading.get_ident())
        self.appending.set()
        if not self.gate.wait(10):
            raise AssertionError("the gate was never opened: the event loop was blocked")
        super().append(key, data)
        self.appends += 1


class FailingStorage(LocalFolderStorage):
    """Test double for the one thing no real part here produces on demand: a storage
    backend that starts failing (I/O error) after some successful appends."""

    def __init__(self, root: Path, fail_after: int) -> None:
        super().__init__(root)
        self.remaining = fail_after

    def append(self, key: str, data: bytes) -> None:
        if self.remaining <= 0:
            raise OSError(errno.EIO, "simulated I/O error")
        self.remaining -= 1
        super().append(key, data)


def test_output_is_stored_before_output_returns(storage, data_key):
    async def scenario():
        recorder = new_recorder(storage, data_key)
        sent = b""
        for n in range(20):
            data = f"output {n} é\r\n".encode()
            await recorder.output(data)
            sent += data
            # A fresh reader, from the file alone: the bytes are there, verified.
            assert stored_output(storage, data_key) == sent
        result = await recorder.close("client closed")
        assert result.sealed and result.output_bytes == len(sent)

    asyncio.run(scenario())


def test_storage_io_never_runs_on_the_event_loop(tmp_path, data_key):
    storage = GatedStorage(tmp_path)

    async def scenario():
        recorder = new_recorder(storage, data_key)
        storage.gate.clear()
        write = asyncio.create_task(recorder.output(b"slow disk"))
        # The append is blocked in storage; the loop must still run other coroutines.
        while not storage.appending.is_set():
            await asyncio.sleep(0.001)
        assert not write.done()
        storage.gate.set()
        await write
        assert threading.get_ident() not in storage.append_threads
        await recorder.close("done")

    asyncio.run(scenario())


def test_group_commit_batches_what_arrives_during_a_write(tmp_path, data_key):
    storage = GatedStorage(tmp_path)

    async def scenario():
        recorder = new_recorder(storage, data_key)
        storage.gate.clear()
        first = asyncio.create_task(recorder.output(b"first"))
        while not storage.appending.is_set():
            await asyncio.sleep(0.001)
        rest = [asyncio.create_task(recorder.output(f"<{n}>".encode())) for n in range(50)]
        await asyncio.sleep(0.01)
        assert not any(task.done() for task in rest)  # none returns before it is stored
        storage.gate.set()
        await asyncio.gather(first, *rest)
        # One write for "first", one for the 50 that queued behind it.
        assert storage.appends == 2
        assert recorder.writer.chunk_count == 3  # header chunk + 2
        # Interactive use: one awaited keystroke echo at a time, one chunk each.
        for char in b"ls -l":
            await recorder.output(bytes([char]))
        assert storage.appends == 7
        await recorder.close("done")
        expected = b"first" + b"".join(f"<{n}>".encode() for n in range(50)) + b"ls -l"
        assert stored_output(storage, data_key) == expected

    asyncio.run(scenario())


def test_output_stored_queues_at_once_in_call_order(tmp_path, data_key):
    """The relay's bulk path: each piece is queued when read, with no task of its own, and
    each future completes only once its piece is stored."""
    storage = GatedStorage(tmp_path)

    async def scenario():
        recorder = new_recorder(storage, data_key)
        storage.gate.clear()
        first = recorder.output_stored(b"first ")
        while not storage.appending.is_set():
            await asyncio.sleep(0.001)
        rest = [recorder.output_stored(f"<{n}>".encode()) for n in range(20)]
        stderr = recorder.output_stored(b"oops", stderr=True)
        await asyncio.sleep(0.01)
        assert not first.done() and not any(stored.done() for stored in rest)
        storage.gate.set()
        await asyncio.gather(first, *rest, stderr)
        assert storage.appends == 2  # "first", then everything queued behind it
        await recorder.close("done")

    asyncio.run(scenario())
    expected = b"first " + b"".join(f"<{n}>".encode() for n in range(20)) + b"oops"
    assert stored_output(storage, data_key) == expected
    events = list(RecordingReader(storage, KEY, data_key).events())
    assert [e.data for e in events if e.code == "e"] == [b"oops"]


def test_output_stored_after_a_storage_failure_fails_as_a_future(tmp_path, data_key):
    storage = FailingStorage(tmp_path, fail_after=1)

    async def scenario():
        recorder = new_recorder(storage, data_key)
        stored = recorder.output_stored(b"kept")
        lost = recorder.output_stored(b"lost")  # queued behind the failing write
        await stored
        with pytest.raises(RecordingFailed, match="simulated I/O error"):
            await lost
        after = recorder.output_stored(b"after")  # no exception here: the relay reads on
        with pytest.raises(RecordingFailed):
            await after
        await recorder.close("recording failed")

    asyncio.run(scenario())
    assert stored_output(storage, data_key) == b"kept"


def test_input_at_a_password_prompt_is_masked(storage, data_key):
    async def scenario():
        recorder = new_recorder(storage, data_key)
        await recorder.output(b"maint@dpi-app-01:~$ ")
        await recorder.input(b"sudo -i\r")
        await recorder.output(b"sudo -i\r\n\x1b[1m[sudo] password for maint: \x1b[0m")
        for key in (b"h", b"un", b"ter2", b"\r"):
            await recorder.input(key)  # no echo: the prompt stays the end of the output
        await recorder.output(b"\r\nroot@dpi-app-01:~# ")
        await recorder.input(b"ls\r")
        await recorder.output(b"ls\r\nEnter PIN: ")
        await recorder.input(b"1234\rdate\r")  # pasted: only the PIN is masked
        await recorder.input(b"visible", masked=False)
        await recorder.input(b"s3cret\r", masked=True)
        await recorder.close("done")

    asyncio.run(scenario())
    inputs = [e.data for e in RecordingReader(storage, KEY, data_key).events() if e.code == INPUT]
    assert inputs == [b"sudo -i\r", b"*", b"**", b"****", b"\r", b"ls\r", b"****\rdate\r",
                      b"visible", b"******\r"]
    assert b"hunter2" not in b"".join(inputs)


def test_budget_throttles_past_the_soft_limit_then_ends_the_session(storage, data_key):
    delays: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        delays.append(seconds)

    limits = Limits(budget_bytes=10_000, soft_fraction=0.5, throttle_bytes_per_second=100_000)

    async def scenario():
        recorder = new_recorder(storage, data_key, limits=limits, sleep=fake_sleep,
                                clock=lambda: 100.0)
        forwarded = 0
        with pytest.raises(BudgetExceeded):
            while True:
                await recorder.output(b"y\n" * 500)
                forwarded += 1000
        # Throttled from the 6th write on, 1000 bytes at 100 kB/s each; no time passes
        # in this fake sleep, so each call waits for the ones before it too.
        assert delays == pytest.approx([0.01, 0.02, 0.03, 0.04, 0.05])
        assert recorder.throttled_seconds == pytest.approx(0.05)
        assert forwarded == 10_000
        with pytest.raises(BudgetExceeded):
            await recorder.output(b"more")
        return await recorder.close("output budget exceeded")

    result = asyncio.run(scenario())
    assert result.sealed and result.output_bytes == 10_000
    events = list(RecordingReader(storage, KEY, data_key).events())
    markers = [e.data for e in events if e.code == MARKER]
    assert markers[0] == {"type": "budget", "budget_bytes": 10_000, "scope": "connection",
                          "recorded_bytes": 10_000, "spent_bytes": 10_000,
                          "refused_bytes": 1000}
    assert markers[-1] == {"type": "end", "reason": "output budget exceeded"}


def test_recordings_that_share_a_budget_share_its_bytes_and_its_throttle(tmp_path, data_key):
    """The channels of one connection: each has its recording, all draw on one budget."""
    delays: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        delays.append(seconds)

    budget = OutputBudget(Limits(budget_bytes=3000, soft_fraction=0.5,
                                 throttle_bytes_per_second=100_000), clock=lambda: 100.0)
    storage = LocalFolderStorage(tmp_path)

    async def scenario():
        first, second = (SessionRecorder(RecordingWriter.create(storage, key, data_key, None),
                                         budget=budget, sleep=fake_sleep)
                         for key in ("s/first.rec", "s/second.rec"))
        await first.output(b"a" * 1000)
        await second.output(b"b" * 1000)  # past the shared soft limit: throttled
        with pytest.raises(BudgetExceeded, match="connection's output budget"):
            await first.output(b"c" * 1001)
        with pytest.raises(BudgetExceeded):  # spent for every channel, even for one byte
            await second.output(b"d")
        return await first.close("budget"), await second.close("budget")

    results = asyncio.run(scenario())
    assert [r.output_bytes for r in results] == [1000, 1000]
    assert budget.spent_bytes == 2000 and budget.exhausted
    assert delays == pytest.approx([0.01])
    refused = [next(e.data for e in RecordingReader(storage, key, data_key).events()
                    if e.code == MARKER and e.data["type"] == "budget")
               for key in ("s/first.rec", "s/second.rec")]
    assert [m["refused_bytes"] for m in refused] == [1001, 1]
    assert [m["spent_bytes"] for m in refused] == [2000, 2000]


def test_throttle_holds_when_calls_are_pipelined(storage, data_key):
    """A relay that keeps several outputs in flight must not multiply the allowed rate."""
    delays: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        delays.append(seconds)

    limits = Limits(budget_bytes=1 << 20, soft_fraction=0.001, throttle_bytes_per_second=100_000)

    async def scenario():
        recorder = new_recorder(storage, data_key, limits=limits, sleep=fake_sleep,
                                clock=lambda: 100.0)
        await recorder.output(b"x" * 2000)  # past the soft limit already
        delays.clear()
        await asyncio.gather(*(recorder.output(b"y" * 1000) for _ in range(10)))
        await recorder.close("done")

    asyncio.run(scenario())
    # Ten concurrent 1000-byte calls: released one every 10 ms, not all after 10 ms.
    assert delays == pytest.approx([0.02 + 0.01 * n for n in range(1, 11)])


def run_until_storage_fails(storage, data_key, pieces):
    """A proxy's relay loop: forward each piece only once ``output`` returned."""
    forwarded: list[bytes] = []

    async def scenario():
        recorder = new_recorder(storage, data_key)
        failure = None
        for piece in pieces:
            try:
                await recorder.output(piece)
            except RecordingFailed as exc:
                failure = exc
                break
            forwarded.append(piece)
        assert failure is not None, "storage never failed"
        with pytest.raises(RecordingFailed):
            await recorder.output(b"after the failure")
        result = await recorder.close("recording failed")
        return failure, result

    failure, result = asyncio.run(scenario())
    return forwarded, failure, result


def test_storage_error_ends_recording_and_nothing_unrecorded_is_forwarded(tmp_path, data_key):
    storage = FailingStorage(tmp_path, fail_after=5)
    pieces = [f"piece {n}\r\n".encode() for n in range(20)]
    forwarded, failure, result = run_until_storage_fails(storage, data_key, pieces)
    assert "simulated I/O error" in str(failure)
    assert len(forwarded) == 5
    assert not result.sealed and result.error
    # What the technician saw is exactly what the recording holds, verified.
    assert stored_output(storage, data_key) == b"".join(forwarded)
    report = verify_file(storage, KEY, data_key)
    assert report.ok and not report.sealed and report.chunks == result.chunk_count == 6


@pytest.fixture
def tiny_filesystem(tmp_path):
    """A real 64 KiB tmpfs: the disk-full case with a real file system."""
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs",
                           str(mount_point)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=True)


def test_full_file_system_ends_recording_and_nothing_unrecorded_is_forwarded(
    tiny_filesystem, data_key
):
    storage = LocalFolderStorage(tiny_filesystem)
    pieces = [os.urandom(4096) for _ in range(40)]  # incompressible: fills 64 KiB fast
    forwarded, failure, result = run_until_storage_fails(storage, data_key, pieces)
    assert "storage is full" in str(failure)
    assert 3 <= len(forwarded) < 16
    assert stored_output(storage, data_key) == b"".join(forwarded)
    report = verify_file(storage, KEY, data_key)
    # The cut-short append was undone: the file ends on its last whole chunk.
    assert report.ok and report.chunks == result.chunk_count
    assert report.size_bytes == storage.size(KEY) == result.size_bytes


def _chunk_flags(storage, key: str) -> list[int]:
    from bastion.recording.container import read_chunk, read_file_header

    flags = []
    with storage.open(key) as stream:
        offset = len(read_file_header(stream).raw)
        while (chunk := read_chunk(stream, len(flags), offset)) is not None:
            flags.append(chunk.flags)
            offset = chunk.end_offset
    return flags


def test_runs_of_binary_output_are_stored_as_is_text_after_them_is_deflated_again(
        tmp_path, data_key):
    """One trial per run of incompressible chunks (then a recheck every TRIAL_EVERY): a
    run of random bytes is stored as is, the text after it is deflated, and binary that
    turns compressible is deflated from the next recheck on. Every byte reads back."""
    from bastion.recording.container import FLAG_FINAL, FLAG_STORED
    from bastion.recording.writer import TRIAL_EVERY

    storage = LocalFolderStorage(tmp_path)
    writer = RecordingWriter.create(storage, KEY, data_key)
    random_run = [os.urandom(16384) for _ in range(TRIAL_EVERY + 8)]  # one chunk each
    text = [b"systemctl status dpi-app\r\n" * 600]
    # Not UTF-8 (raw runs), yet deflate shrinks it to almost nothing.
    compressible_binary = [bytes(range(128, 256)) * 128 for _ in range(TRIAL_EVERY + 8)]
    pieces = random_run + text + random_run[:4] + compressible_binary
    for piece in pieces:
        writer.output(piece)
    writer.close("done")
    # The first chunk holds the asciicast header; after the pieces come the end marker
    # and the final flag.
    flags = _chunk_flags(storage, KEY)
    assert len(flags) == 1 + len(pieces) + 2 and flags[-1] & FLAG_FINAL
    stored = [bool(f & FLAG_STORED) for f in flags[1:1 + len(pieces)]]
    assert all(stored[:len(random_run)])
    assert not stored[len(random_run)]  # the text
    assert all(stored[len(random_run) + 1:len(random_run) + 5])
    tail = stored[len(random_run) + 5:]
    # Still inside the run that began with random bytes: stored until the recheck...
    assert all(tail[:TRIAL_EVERY - 4]) and not any(tail[TRIAL_EVERY:])
    assert stored_output(storage, data_key) == b"".join(pieces)
