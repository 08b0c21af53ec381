"""The threads recordings are written from, and how finished writes reach the event loop.

``loop.run_in_executor`` costs the event loop about 50 microseconds per call (a
``concurrent.futures.Future`` with its condition variable, a chained asyncio future, and
one self-pipe wake-up per finished write). A proxy with 1,000 interactive sessions makes
2,000 tiny writes a second, and that cost lands on the one thread every keystroke needs.

Here a write goes to the first idle thread (write_threads.py), which runs it and drops its
outcome in the loop's mailbox, waking the loop only when no wake-up is already pending, so
one wake-up delivers every write finished meanwhile. A write blocked on slow storage (an
object store's round trip) holds one thread; the others go on with other recordings.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import threading
import weakref
from collections import deque
from collections.abc import Callable
from functools import partial

from .write_threads import WriteThreads

log = logging.getLogger("bastion.recording")

Job = Callable[[], None]
Done = Callable[[BaseException | None], None]

WORKER_THREADS = 8


class _Mailbox:
    """Outcomes for one event loop, delivered in batches on that loop's thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        # Weak: the mailbox is the value of a weak-keyed map whose key is this loop.
        self._loop = weakref.ref(loop)
        self._outcomes: deque[tuple[Done, BaseException | None]] = deque()
        self._lock = threading.Lock()
        self._wake_pending = False

    def post(self, done: Done, error: BaseException | None) -> None:
        self._outcomes.append((done, error))
        with self._lock:
            if self._wake_pending:
                return  # the pending delivery has not started yet: it will see this one
            self._wake_pending = True
        loop = self._loop()
        if loop is None:
            return
        try:
            loop.call_soon_threadsafe(self._deliver)
        except RuntimeError:
            pass  # the loop is closed: nobody is waiting for these any more

    def _deliver(self) -> None:
        # Cleared before draining: an outcome posted from now on schedules a new delivery
        # (at worst an empty one), so none is ever stranded.
        with self._lock:
            self._wake_pending = False
        while self._outcomes:
            done, error = self._outcomes.popleft()
            try:
                done(error)
            except Exception:  # noqa: BLE001 - one recording's bug must not stop the others
                log.exception("recording write callback failed")


class WriteQueue:
    def __init__(self, threads: int = WORKER_THREADS) -> None:
        self._threads = WriteThreads(threads, "recording")
        self._mailboxes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Mailbox] = (
            weakref.WeakKeyDictionary())

    def submit(self, job: Job, done: Done) -> None:
        """Run ``job`` on a worker thread, then ``done(error or None)`` on the calling
        event loop's thread. Must be called from a running event loop."""
        loop = asyncio.get_running_loop()
        mailbox = self._mailboxes.get(loop)
        if mailbox is None:
            mailbox = self._mailboxes.setdefault(loop, _Mailbox(loop))
        self._threads.submit(partial(_run, job, mailbox, done))

    def stop(self, timeout: float = 10.0) -> None:
        """Let queued writes finish, then end the threads (at interpreter exit)."""
        self._threads.stop(timeout)


def _run(job: Job, mailbox: _Mailbox, done: Done) -> None:
    error: BaseException | None = None
    try:
        job()
    except BaseException as exc:  # noqa: BLE001 - handed to the waiting recording
        error = exc
    mailbox.post(done, error)


_shared: WriteQueue | None = None
_shared_lock = threading.Lock()


def shared_write_queue() -> WriteQueue:
    """The worker threads every recording of this process writes from."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = WriteQueue()
            # Daemon threads, so a stuck storage call cannot hang the exit; but writes
            # already queued are let finish first (a clean stop loses no recorded byte).
            atexit.register(_shared.stop)
        return _shared
