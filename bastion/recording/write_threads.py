"""The threads recordings are written from: each job wakes exactly one thread, the one that
went idle last.

``concurrent.futures.ThreadPoolExecutor`` and a ``queue.SimpleQueue`` shared by idle threads
wake two threads per job: the one that takes it releases the queue's lock on its way out,
which wakes the next waiter only for it to find the queue empty, take the GIL, and sleep
again. On a keystroke, whose recording waits for one small write, that was a second thread
wake-up and two more GIL hand-overs per write (strace of a proxy worker, one key: the
loop, the thread that wrote, and a thread that did nothing, passing the GIL around). Here
an idle thread sleeps on a lock of its own and a job releases only the last idle one, so
a run of small writes stays on one thread whose stack and data are still in the cache.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable

log = logging.getLogger("bastion.recording")

Job = Callable[[], None]


class _Idle:
    """A thread waiting for a job: ``wake`` is held until a job (or the stop) is handed over."""

    def __init__(self) -> None:
        self.wake = threading.Lock()
        self.wake.acquire()
        self.job: Job | None = None


class WriteThreads:
    """Up to ``size`` daemon threads, started as jobs need them. A job runs at once on an
    idle thread, else waits for the first thread to finish; jobs never run on the caller."""

    def __init__(self, size: int, name: str) -> None:
        self._size = size
        self._name = name
        self._lock = threading.Lock()
        self._idle: list[_Idle] = []  # last in, first woken: the warmest thread
        self._backlog: deque[Job] = deque()
        self._threads: list[threading.Thread] = []
        self._stopping = False

    def submit(self, job: Job) -> None:
        with self._lock:
            if self._idle:
                idle = self._idle.pop()
                idle.job = job
                idle.wake.release()
                return
            self._backlog.append(job)
            if len(self._threads) >= self._size:
                return  # the first thread to finish takes it
            thread = threading.Thread(target=self._work, daemon=True,
                                      name=f"{self._name}_{len(self._threads)}")
            self._threads.append(thread)
        thread.start()

    def stop(self, timeout: float | None = 10.0) -> None:
        """Let the jobs already submitted finish, then end the threads (waiting at most
        ``timeout`` seconds for each; None: for as long as they take)."""
        with self._lock:
            self._stopping = True
            threads, self._threads = self._threads, []
            idle, self._idle = self._idle, []
        for waiting in idle:
            waiting.wake.release()  # with no job: the thread ends
        for thread in threads:
            thread.join(timeout)

    def _work(self) -> None:
        me = _Idle()
        while True:
            with self._lock:
                if self._backlog:
                    job: Job | None = self._backlog.popleft()
                elif self._stopping:
                    return
                else:
                    job = None
                    self._idle.append(me)
            if job is None:
                me.wake.acquire()
                job, me.job = me.job, None
                if job is None:
                    return
            try:
                job()
            except Exception:  # noqa: BLE001 - a job hands its own errors over; this thread goes on
                log.exception("a recording write thread's job failed")
