"""A process's link to its recorder process, and the writers that record through it.

:class:`RecorderLink` starts ``python -m bastion.recording.recorder_process`` on one end
of a socket pair and talks to it from this process's event loop. :class:`RemoteWriter`
stands where a :class:`RecordingWriter` would: :class:`SessionRecorder` submits its group
commits to it, and they are written by the recorder process while this process's GIL
stays free for its own work (SSH crypto, in a proxy worker).

"Recorded before forwarded" is kept as it was: an append's ``done`` is called only when
the recorder process answers that storage holds its bytes (a file append returned; see
storage.py for what that survives), and the relay forwards only after ``done``.

The recorder process dying fails closed: every request waiting for it fails, every writer
open in it fails (its listeners are told at once, so an idle session ends too instead of
only at its next byte), and a new recorder process is started for the recordings that
start from then on. What the dead process wrote stays on disk and verifies up to its last
whole chunk; the catalog records that (RecordingService._finish).

A recorder process that is alive but no longer answers (stuck storage, a stopped process)
would hold its sessions' output forever: past ``[recording] recorder_hung_seconds`` without
an answer to its oldest request it is killed, and the above follows.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any

from bastion.coalescing import CoalescingTransport

from .errors import RecordingClosed, RecordingFailed
from .events import Event, TerminalInfo
from .recorder_ring import RING_BYTES, RING_MIN_BYTES, RingAllocation, SharedRing
from .recorder_wire import CreateRequest, FrameBuffer, encode
from .storage import Storage
from .writer import DEFAULT_CHUNK_BYTES, SealResult

log = logging.getLogger("bastion.recording.recorder_link")

Done = Callable[[BaseException | None], None]
START_TIMEOUT_SECONDS = 60
RESTART_PAUSE_SECONDS = 1.0  # a crash loop must not spin the CPU


class RecorderGone(RecordingFailed):
    """The recorder process stopped: what it was writing is no longer recorded."""


class _Protocol(asyncio.Protocol):
    def __init__(self, link: RecorderLink, process: subprocess.Popen[bytes],
                 ring: SharedRing | None) -> None:
        self.link = link
        self.process = process
        self.ring = ring  # this process's own (recorder_ring.py); None: all through the socket
        self.frames = FrameBuffer()
        self.transport: asyncio.Transport | None = None
        self.ready: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.pending: dict[int, Callable[[str | None, SealResult | None], None]] = {}
        self.writers: set[RemoteWriter] = set()
        self.lost = False
        self.sent_at: dict[int, float] = {}  # request id -> when it was sent (monotonic)
        self.hung_for: float | None = None  # set when the watchdog kills it

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Frames queued during one turn of the loop go out in one write (one system call
        # for every session that submitted meanwhile), at the end of that turn.
        self.transport = CoalescingTransport(transport,  # type: ignore[arg-type]
                                             asyncio.get_running_loop())

    def data_received(self, data: bytes) -> None:
        try:
            frames = self.frames.feed(data)
        except ValueError:
            log.exception("the recorder process sent a broken frame")
            assert self.transport is not None
            self.transport.abort()
            return
        for frame in frames:
            if frame[0] == "ready":
                if not self.ready.done():
                    self.ready.set_result(frame[1])
                continue
            request_id, error, result = frame
            self.sent_at.pop(request_id, None)
            answer = self.pending.pop(request_id, None)
            if answer is not None:
                answer(error, result)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.link._lost(self)

    def send(self, frame: bytes) -> None:
        if self.lost or self.transport is None:
            raise RecorderGone("the recorder process stopped")
        self.transport.write(frame)


class RecorderLink:
    """One recorder process at a time for this process; replaced when it dies."""

    def __init__(self, settings: Any, *, ring_bytes: int = RING_BYTES,
                 started: Callable[[int], None] | None = None) -> None:
        self._settings = settings  # bastion.config.Settings: the storage to write to
        self._ring_bytes = ring_bytes  # 0: everything through the socket (recorder_ring.py)
        # Called with each recorder process's pid once it runs (a pinned worker gives it
        # back every core: bastion/runtime/cpu_affinity.py).
        self._started = started
        self._ids = itertools.count(1)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._current: _Protocol | None = None
        self._starting: asyncio.Task[_Protocol] | None = None
        self._stopping = False
        self._replacing: asyncio.Task[None] | None = None  # held: the loop keeps weak refs
        self._watchdog: asyncio.Task[None] | None = None
        self.hung_seconds = float(settings.recording.recorder_hung_seconds)
        self.restarts = 0

    @property
    def pid(self) -> int | None:
        return self._current.process.pid if self._current is not None else None

    @property
    def ring(self) -> SharedRing | None:
        """The current recorder process's shared memory (None: none, or no process)."""
        return self._current.ring if self._current is not None else None

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        await self._ensure()
        self._watchdog = self._loop.create_task(self._watch_for_a_hang())

    async def stop(self) -> None:
        """Close this end; the recorder finishes what it received, then exits."""
        self._stopping = True
        for task in (self._replacing, self._watchdog):
            if task is not None:
                task.cancel()
        current, self._current = self._current, None
        if current is None:
            return
        if current.transport is not None:
            current.transport.close()
        await asyncio.to_thread(_reap, current.process)

    async def _ensure(self) -> _Protocol:
        if self._current is not None and not self._current.lost:
            return self._current
        if self._starting is None or self._starting.done():
            self._starting = asyncio.ensure_future(self._spawn())
        return await asyncio.shield(self._starting)

    async def _spawn(self) -> _Protocol:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        ring = _new_ring(self._ring_bytes)
        argv = [sys.executable, "-m", "bastion.recording.recorder_process",
                "--fd", str(theirs.fileno())]
        passed = [theirs.fileno()]
        if ring is not None:
            argv += ["--ring-fd", str(ring.fd), "--ring-bytes", str(ring.size)]
            passed.append(ring.fd)
        try:
            process = subprocess.Popen(argv, pass_fds=passed, stdin=subprocess.DEVNULL)
        except BaseException:
            if ring is not None:
                ring.close()
            raise
        finally:
            theirs.close()
        if self._started is not None:
            self._started(process.pid)
        loop = asyncio.get_running_loop()
        protocol = _Protocol(self, process, ring)
        await loop.create_unix_connection(lambda: protocol, sock=ours)
        protocol.send(encode(("hello", self._settings)))
        try:
            pid = await asyncio.wait_for(asyncio.shield(protocol.ready), START_TIMEOUT_SECONDS)
        except (TimeoutError, asyncio.CancelledError):
            process.kill()
            raise
        log.info("recorder process %d started", pid)
        self._current = protocol
        return protocol

    def _lost(self, protocol: _Protocol) -> None:
        """On the loop: the recorder's end closed. Fail everything it held."""
        if not protocol.ready.done():
            protocol.ready.set_exception(RecorderGone("the recorder process did not start"))
        if self._current is protocol:
            self._current = None
        code = protocol.process.poll()
        why = (f"the recorder process (pid {protocol.process.pid}) stopped"
               + (f" with code {code}" if code is not None else ""))
        if protocol.hung_for is not None:
            why = (f"the recorder process (pid {protocol.process.pid}) did not answer for "
                   f"{protocol.hung_for:.0f} s and was stopped")
        pending, protocol.pending = protocol.pending, {}
        protocol.sent_at.clear()
        for answer in pending.values():
            answer(why, None)
        for writer in list(protocol.writers):
            writer._gone(why)
        if protocol.ring is not None:
            protocol.ring.close()  # nothing reads it any more: every request it held failed
        if self._stopping:
            return
        log.error("%s: its recordings fail (their sessions end); starting another", why)
        self.restarts += 1
        self._replacing = asyncio.get_running_loop().create_task(self._replace(protocol.process))

    async def _replace(self, dead: subprocess.Popen[bytes]) -> None:
        await asyncio.to_thread(_reap, dead)
        await asyncio.sleep(RESTART_PAUSE_SECONDS)
        if self._stopping:
            return
        try:
            await self._ensure()
        except Exception:  # noqa: BLE001 - the next recording to start tries again
            log.exception("the replacement recorder process did not start")

    async def _watch_for_a_hang(self) -> None:
        while True:
            await asyncio.sleep(max(0.05, self.hung_seconds / 4))
            protocol = self._current
            if protocol is None or protocol.lost or not protocol.sent_at:
                continue
            waited = time.monotonic() - min(protocol.sent_at.values())
            if waited < self.hung_seconds:
                continue
            log.error("the recorder process %d has not answered for %.0f s: stopping it",
                      protocol.process.pid, waited)
            protocol.hung_for = waited
            protocol.process.kill()  # its socket closes: connection_lost fails what it held

    # --- requests -----------------------------------------------------------------------

    def _request(self, protocol: _Protocol, op: str, handle: int, payload: Any,
                 answer: Callable[[str | None, SealResult | None], None]) -> None:
        request_id = next(self._ids)
        protocol.pending[request_id] = answer
        protocol.sent_at[request_id] = time.monotonic()
        try:
            protocol.send(encode((request_id, op, handle, payload)))
        except RecorderGone as exc:
            protocol.pending.pop(request_id, None)
            protocol.sent_at.pop(request_id, None)
            answer(str(exc), None)

    def _call_blocking(self, op: str, handle: int, payload: Any,
                       protocol: _Protocol | None = None) -> tuple[_Protocol, SealResult]:
        """From a worker thread (never the loop's): send a request, wait for its answer."""
        assert self._loop is not None, "RecorderLink.start() first"
        answered: Future[tuple[_Protocol, SealResult]] = Future()

        async def ask() -> None:
            target = protocol or await self._ensure()

            def answer(error: str | None, result: SealResult | None) -> None:
                if error is not None:
                    answered.set_exception(RecordingFailed(error))
                else:
                    answered.set_result((target, result))  # type: ignore[arg-type]

            self._request(target, op, handle, payload, answer)

        asyncio.run_coroutine_threadsafe(ask(), self._loop).result()
        return answered.result()

    def create_writer(self, storage: Storage, storage_key: str, data_key: bytes,
                      terminal: TerminalInfo | None = None, *,
                      chunk_bytes: int = DEFAULT_CHUNK_BYTES,
                      metadata: dict[str, Any] | None = None) -> RemoteWriter:
        """``RecordingWriter.create``'s twin, called from a worker thread: the file exists
        (header and first chunk) when this returns. ``storage`` is not used here: the
        recorder process writes to the storage the settings name, the same one."""
        handle = next(self._ids)
        started = time.monotonic()
        request = CreateRequest(storage_key, data_key, terminal, chunk_bytes, metadata or {},
                                started)
        try:
            protocol, result = self._call_blocking("create", handle, request)
        except RecordingFailed as exc:
            raise RecordingFailed(f"the recording cannot be created: {exc}") from None
        writer = RemoteWriter(self, protocol, handle, storage_key, started, result)
        protocol.writers.add(writer)
        return writer


class RemoteWriter:
    """A recording written by the recorder process; what this side knows of its state is
    the recorder's answer to the last request."""

    def __init__(self, link: RecorderLink, protocol: _Protocol, handle: int, storage_key: str,
                 started: float, result: SealResult) -> None:
        self._link = link
        self._protocol = protocol
        self._handle = handle
        self.storage_key = storage_key
        self._started = started
        self._result = result
        self._error: str | None = None
        self._closed = False
        self._listeners: list[Callable[[str], None]] = []

    def now(self) -> float:
        return time.monotonic() - self._started

    def result(self) -> SealResult:
        if self._error is not None and self._result.error is None:
            return SealResult(**{**self._result.__dict__, "sealed": False, "error": self._error})
        return self._result

    @property
    def failed(self) -> bool:
        return self._error is not None

    def on_failure(self, listener: Callable[[str], None]) -> None:
        """``listener(why)`` on the loop when the recorder process dies under this writer."""
        self._listeners.append(listener)

    def submit(self, events: Sequence[Event], done: Done) -> None:
        """On the loop: append ``events``; ``done(error or None)`` once they are stored."""
        if self._error is not None:
            done(RecordingFailed(f"the recording failed earlier: {self._error}"))
            return
        if self._closed:
            done(RecordingClosed(f"recording {self.storage_key} is sealed"))
            return

        payload: list[tuple[float, str, Any]] = [(event.time, event.code, event.data)
                                                 for event in events]
        protocol = self._protocol
        held = None if protocol.lost else _into_ring(protocol.ring, payload)

        def answer(error: str | None, result: SealResult | None) -> None:
            if held is not None and not protocol.lost:
                protocol.ring.free(held)  # type: ignore[union-attr]
            if result is not None:
                self._result = result
            if error is not None:
                self._error = self._error or error
                done(RecordingFailed(f"the recording cannot be written: {error}"))
            else:
                done(None)

        self._link._request(protocol, "append", self._handle, payload, answer)

    def close(self, end_reason: str | None = None) -> SealResult:
        """Seal (from a worker thread, like ``RecordingWriter.close``)."""
        if self._closed:
            return self.result()
        self._closed = True
        self._protocol.writers.discard(self)
        if self._error is not None:
            raise RecordingFailed(f"the recording could not be sealed: {self._error}")
        try:
            _, self._result = self._link._call_blocking("close", self._handle, end_reason,
                                                        self._protocol)
        except RecordingFailed as exc:
            self._error = str(exc)
            raise RecordingFailed(f"the recording could not be sealed: {exc}") from None
        return self._result

    def _gone(self, why: str) -> None:
        if self._error is None:
            self._error = why
        for listener in self._listeners:
            try:
                listener(why)
            except Exception:  # noqa: BLE001 - one session's handler must not stop the others
                log.exception("a recording's failure listener failed")


def _new_ring(size: int) -> SharedRing | None:
    if size <= 0:
        return None
    try:
        return SharedRing(size)
    except OSError as exc:  # no memfd (an old kernel, a seccomp profile): the socket only
        log.warning("no shared memory for the recorder process (%s): bulk output goes "
                    "through its socket", exc)
        return None


def _into_ring(ring: SharedRing | None,
               payload: list[tuple[float, str, Any]]) -> RingAllocation | None:
    """Move the large bodies of ``payload`` into the ring, in place; the allocation to free
    once answered, or None when nothing moved (no ring, small events, or no room)."""
    if ring is None:
        return None
    large = [i for i, (_, _, data) in enumerate(payload)
             if isinstance(data, bytes) and len(data) >= RING_MIN_BYTES]
    if not large:
        return None
    placed = ring.put([payload[i][2] for i in large])
    if placed is None:
        return None
    allocation, slices = placed
    for i, where in zip(large, slices, strict=True):
        payload[i] = (payload[i][0], payload[i][1], where)
    return allocation


def _reap(process: subprocess.Popen[bytes] | None) -> None:
    if process is None:
        return
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()

