"""The threads recordings are written from: a job wakes one thread, the one that went idle
last, and a burst of jobs costs its caller one wake-up.

``concurrent.futures.ThreadPoolExecutor`` and a ``queue.SimpleQueue`` shared by idle threads
wake two threads per job: the one that takes it releases the queue's lock on its way out,
which wakes the next waiter only for it to find the queue empty, take the GIL, and sleep
again. On a keystroke, whose recording waits for one small write, that was a second thread
wake-up and two more GIL hand-overs per write (strace of a proxy worker, one key: the
loop, the thread that wrote, and a thread that did nothing, passing the GIL around). Here
an idle thread sleeps on a lock of its own and a job releases only the last idle one, so
a run of small writes stays on one thread whose stack and data are still in the cache.

Waking a thread per job from the caller was worse under load: 1,000 sessions typing (the
loop hands out bursts of writes) went from p99 18.9 to 122 ms, the loop paying one
wake-up system call per write and every woken thread fighting it for the GIL at once. So
while a woken thread has not yet taken its job, the caller only queues; that thread, once
it has its job, wakes the next one if more are waiting (1,000 sessions: p99 17.8 ms).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable

log = logging.getLogger("bastion.recording")

Job = Callable[[], None]


class _Idle:
    """A thread with nothing to do, asleep on ``wake`` until a job may be in the backlog."""

    def __init__(self) -> None:
        self.wake = threading.Lock()
        self.wake.acquire()


class WriteThreads:
    """Up to ``size`` daemon threads, started as jobs need them. A job runs at once on an
    idle thread, else on the first thread to finish; jobs never run on the caller.

    The caller (an event loop) never waits for a lock a writing thread may hold: were a
    thread to lose the GIL inside such a lock, the loop would stop on it and then wait its
    turn for the GIL (up to 5 ms). The idle list and the backlog are a list and a deque,
    whose ``append`` and ``pop`` the GIL makes atomic; a thread going idle lists itself,
    then looks at the backlog once more, so a job added meanwhile is never left behind."""

    def __init__(self, size: int, name: str) -> None:
        self._size = size
        self._name = name
        self._idle: list[_Idle] = []  # last in, first woken: the warmest thread
        self._backlog: deque[Job] = deque()
        self._threads: list[threading.Thread] = []
        self._starting = threading.Lock()  # taken only to start a thread (rare)
        self._stopping = False
        self._waking = False  # a woken thread has not yet taken its job

    def submit(self, job: Job) -> None:
        self._backlog.append(job)
        if self._waking:
            return  # the thread being woken takes it, or wakes the next one for it
        if not self._wake_one() and len(self._threads) < self._size:
            self._start_thread()

    def _wake_one(self) -> bool:
        try:
            idle = self._idle.pop()
        except IndexError:
            return False
        self._waking = True
        idle.wake.release()
        return True

    def stop(self, timeout: float | None = 10.0) -> None:
        """Let the jobs already submitted finish, then end the threads (waiting at most
        ``timeout`` seconds for each; None: for as long as they take)."""
        self._stopping = True
        with self._starting:
            threads, self._threads = self._threads, []
        while True:
            try:
                idle = self._idle.pop()
            except IndexError:
                break
            idle.wake.release()
        for thread in threads:
            thread.join(timeout)

    def _start_thread(self) -> None:
        with self._starting:
            if len(self._threads) >= self._size:
                return
            thread = threading.Thread(target=self._work, daemon=True,
                                      name=f"{self._name}_{len(self._threads)}")
            self._threads.append(thread)
        thread.start()

    def _work(self) -> None:
        me = _Idle()
        while True:
            try:
                job = self._backlog.popleft()
            except IndexError:
                if self._stopping:
                    return
                self._wait_for_work(me)
                continue
            if self._backlog and not self._waking and not self._wake_one():
                # More jobs and no idle thread: one more thread, if allowed, for this job
                # may hang on slow storage (the caller queued them without starting any).
                if len(self._threads) < self._size and not self._stopping:
                    self._start_thread()
            try:
                job()
            except Exception:  # noqa: BLE001 - a job hands its own errors over; this thread goes on
                log.exception("a recording write thread's job failed")

    def _wait_for_work(self, me: _Idle) -> None:
        self._idle.append(me)
        if self._backlog or self._stopping:
            # A job (or the stop) came between the look and the listing: unlist and go
            # back to it, unless a caller already took this thread: its wake-up is due.
            try:
                self._idle.remove(me)
                return
            except ValueError:
                pass
        me.wake.acquire()
        self._waking = False
