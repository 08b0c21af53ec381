"""The asyncio face of a recording: what the SSH proxy awaits for every byte.

``await recorder.output(data)`` returns only once ``data`` is in storage; the proxy then
forwards it. Storage work never runs on the event loop thread: encoding, compression,
encryption and the file append run in a worker thread, so a slow disk delays only the
session whose output waits for it, never the keystrokes of the others.

Group commit: while one chunk is being written, events from the session accumulate; when
that write ends, everything accumulated goes out as the next write. Interactive use thus
gets one small chunk per burst with no timer adding latency, and bulk output gets large
chunks (as many bytes per write as arrived during the previous one).

Size budget (budget.py, shared by every recording of a session): past its soft limit,
output is throttled (a call returns only when the rate allows its bytes, after recording
them), so an output flood slows down; a call that would pass the budget is refused with
:class:`BudgetExceeded`, after a ``budget`` marker recording why the session ends.

Input typed at a password prompt is masked (see masking.py).

The writer is a :class:`RecordingWriter` in this process (appended from the write queue's
threads) or a :class:`RemoteWriter` whose recorder process does the writing
(recorder_link.py); the guarantee is the same: a write's waiters are released only once
storage holds its bytes.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from functools import partial
from typing import Any

from .budget import Limits, OutputBudget
from .errors import BudgetExceeded, RecordingClosed, RecordingFailed
from .events import INPUT, MARKER, OUTPUT, RESIZE, STDERR, Event, marker
from .masking import TAIL_BYTES, at_secret_prompt, mask_until_enter
from .recorder_link import RemoteWriter
from .write_queue import WriteQueue, shared_write_queue
from .writer import RecordingWriter, SealResult

log = logging.getLogger("bastion.recording")


_shared_executor: ThreadPoolExecutor | None = None
_shared_lock = threading.Lock()


def shared_executor() -> ThreadPoolExecutor:
    """The worker threads every recording of this process writes from."""
    global _shared_executor
    with _shared_lock:
        if _shared_executor is None:
            _shared_executor = ThreadPoolExecutor(max_workers=8, thread_name_prefix="recording")
        return _shared_executor


class SessionRecorder:
    def __init__(
        self,
        writer: RecordingWriter | RemoteWriter,
        *,
        limits: Limits | None = None,
        budget: OutputBudget | None = None,
        executor: Executor | None = None,
        write_queue: WriteQueue | None = None,
        on_close: Callable[[SealResult], Any] | None = None,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        mask_secrets: bool = True,
    ) -> None:
        self.writer = writer
        # Alone (tests, tools) a recorder has a budget of its own; the proxy passes the one
        # all the channels of a session share.
        self.budget = budget or OutputBudget(limits or Limits(), clock=clock)
        self.limits = self.budget.limits
        self._executor = executor or shared_executor()  # opening and sealing
        self._write_queue = write_queue or shared_write_queue()  # every append
        self._on_close = on_close
        self._sleep = sleep
        self._clock = clock
        self._pending: list[Event] = []
        self._waiters: list[asyncio.Future[None]] = []
        self._flushing = False
        self._idle: asyncio.Event | None = None
        self._failure: str | None = None
        self._closing = False
        self._result: SealResult | None = None
        self._budget_spent = False
        self.output_bytes = 0  # accepted output, recorded or being recorded
        self.throttled_seconds = 0.0
        self.mask_secrets = mask_secrets
        self._output_tail = b""  # the end of the output: is it a password prompt?
        self.recording_id: int | None = None  # set by the catalog
        self._failure_listeners: list[Callable[[RecordingFailed], Any]] = []
        if isinstance(writer, RemoteWriter):
            writer.on_failure(self._writer_gone)

    @property
    def storage_key(self) -> str:
        return self.writer.storage_key

    @property
    def failed(self) -> bool:
        return self._failure is not None

    def on_failure(self, listener: Callable[[RecordingFailed], Any]) -> None:
        """``listener(error)`` on the event loop once, when the recording's recorder
        process dies, even with nothing being written at that moment: the session must
        end now, not at its next byte. (A failed write raises in its caller instead.)"""
        self._failure_listeners.append(listener)

    # --- what the proxy calls ---------------------------------------------------------

    async def output(self, data: bytes, *, stderr: bool = False) -> None:
        """Record output (``stderr``: the target's stderr stream); return once it is
        stored. Only then may it be forwarded."""
        await self.output_stored(data, stderr=stderr)

    def output_stored(self, data: bytes, *, stderr: bool = False) -> asyncio.Future[None]:
        """:meth:`output` for a relay that reads on while earlier output is being stored:
        ``data`` is queued now, in call order, and what comes back completes once it is
        stored (or fails with the reason it is not). Usually the group commit's own future:
        no coroutine or task for each piece of a bulk transfer."""
        if self._budget_spent:
            return _failed(self.budget.exceeded())
        try:
            delay = self.budget.draw(len(data))
        except BudgetExceeded as exceeded:
            self._budget_spent = True
            return asyncio.ensure_future(self._refuse(exceeded, len(data)))
        self.output_bytes += len(data)
        if delay:  # this call's own share of the throttle (the delay also queues others')
            self.throttled_seconds += len(data) / self.limits.throttle_bytes_per_second
        self._output_tail = (self._output_tail + data[-TAIL_BYTES:])[-TAIL_BYTES:]
        try:
            stored = self._queue(STDERR if stderr else OUTPUT, bytes(data))
        except (RecordingFailed, RecordingClosed) as exc:
            return _failed(exc)
        if delay:
            return asyncio.ensure_future(self._throttled(stored, delay))
        return stored

    async def _refuse(self, exceeded: BudgetExceeded, refused: int) -> None:
        await self._record(
            MARKER,
            marker(
                "budget",
                budget_bytes=self.limits.budget_bytes,
                scope=self.budget.scope,
                recorded_bytes=self.output_bytes,
                spent_bytes=self.budget.spent_bytes,
                refused_bytes=refused,
            ),
        )
        raise exceeded

    async def _throttled(self, stored: asyncio.Future[None], delay: float) -> None:
        await stored
        await self._sleep(delay)

    async def input(self, data: bytes, *, masked: bool | None = None) -> None:
        """Record what the technician typed. Masked (``masked=True``, or by default when
        the output ends with a password prompt): the keys up to Enter are recorded as
        ``*``, keeping only their count, never the characters."""
        if masked is None:
            masked = self.mask_secrets and at_secret_prompt(self._output_tail)
        if masked:
            data = mask_until_enter(data)
            if b"\r" in data or b"\n" in data:
                self._output_tail = b""  # the secret ends at Enter; later keys are not it
        await self._record(INPUT, bytes(data))

    async def resize(self, width: int, height: int) -> None:
        await self._record(RESIZE, f"{int(width)}x{int(height)}")

    async def marker(self, marker_type: str, **fields: Any) -> None:
        """A timed fact that is not terminal output (see events.MARKER_TYPES)."""
        await self._record(MARKER, marker(marker_type, **fields))

    async def close(self, end_reason: str) -> SealResult:
        """Seal the recording with its end reason and hand the result to the catalog.

        Never raises for a storage failure: a recording that could not be sealed comes
        back with ``sealed=False`` and the error, and the catalog marks it interrupted.
        """
        if self._result is not None:
            return self._result
        self._closing = True
        await self._wait_idle()
        loop = asyncio.get_running_loop()
        if self._failure is None:
            try:
                result = await loop.run_in_executor(self._executor, self.writer.close, end_reason)
            except RecordingFailed as exc:
                self._failure = str(exc)
                result = self.writer.result()
        else:
            result = self.writer.result()
        self._result = result
        if self._on_close is not None:
            try:
                await loop.run_in_executor(self._executor, self._on_close, result)
            except Exception:  # noqa: BLE001 - the file is sealed; the catalog catches up
                # at the next start (mark_interrupted finds the row still open and the
                # file sealed). The session is ending either way.
                log.exception("recording %s: the catalog update after closing failed",
                              self.writer.storage_key)
        return result

    # --- group commit -----------------------------------------------------------------

    async def _record(self, code: str, data: Any) -> None:
        await self._queue(code, data)

    def _queue(self, code: str, data: Any) -> asyncio.Future[None]:
        if self._failure is not None:
            raise RecordingFailed(f"the recording failed: {self._failure}")
        if self._closing:
            raise RecordingClosed("the recording is closed")
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append(Event(self.writer.now(), code, data))
        self._waiters.append(waiter)
        if not self._flushing:
            self._start_flush()
        return waiter

    def _start_flush(self) -> None:
        events, waiters = self._pending, self._waiters
        self._pending, self._waiters = [], []
        self._flushing = True
        if self._idle is not None:
            self._idle.clear()
        if isinstance(self.writer, RemoteWriter):
            self.writer.submit(events, partial(self._flush_done, waiters))
        else:
            self._write_queue.submit(partial(self.writer.append, events),
                                     partial(self._flush_done, waiters))

    def _flush_done(self, waiters: list[asyncio.Future[None]], error: BaseException | None) -> None:
        self._flushing = False
        if error is not None:
            self._failure = self._failure or str(error)
            # Everything waiting, in this write or queued behind it, is unrecorded.
            for waiter in waiters + self._waiters:
                if not waiter.done():
                    waiter.set_exception(RecordingFailed(f"the recording failed: {error}"))
            self._pending, self._waiters = [], []
        else:
            for waiter in waiters:
                if not waiter.done():  # a cancelled caller: its event is recorded anyway
                    waiter.set_result(None)
            if self._pending:
                self._start_flush()
                return
        if self._idle is not None:
            self._idle.set()

    def _writer_gone(self, why: str) -> None:
        # The write in flight, if any, fails by itself (its caller sees the error); the
        # listeners are for the session that is not writing.
        if self._failure is not None:
            return
        self._failure = why
        for listener in self._failure_listeners:
            try:
                listener(RecordingFailed(f"the recording failed: {why}"))
            except Exception:  # noqa: BLE001 - the failure itself is what matters
                log.exception("recording %s: a failure listener failed", self.writer.storage_key)

    async def _wait_idle(self) -> None:
        if not self._flushing and not self._pending:
            return
        if self._idle is None:
            self._idle = asyncio.Event()
        self._idle.clear()
        await self._idle.wait()


def _failed(error: BaseException) -> asyncio.Future[None]:
    failed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    failed.set_exception(error)
    return failed
