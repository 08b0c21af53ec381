"""The recording write threads (write_threads.py): a run of writes stays on the thread that
went idle last, a job that raises does not take its thread down, and a stop lets every job
already submitted finish."""

from __future__ import annotations

import threading
import time

import pytest

from bastion.recording.write_threads import WriteThreads


def _run_and_wait(threads: WriteThreads, job) -> None:  # type: ignore[no-untyped-def]
    finished = threading.Event()

    def wrapped() -> None:
        try:
            job()
        finally:
            finished.set()

    threads.submit(wrapped)
    assert finished.wait(5), "the job never ran"


def test_writes_one_after_another_stay_on_one_thread() -> None:
    # A keystroke's write, then its echo's: each on the thread just used (warm in the
    # cache), none waking a thread of its own. A shared queue spread them over the pool.
    threads = WriteThreads(4, "test")
    ran_on: list[int] = []
    try:
        for _ in range(20):
            _run_and_wait(threads, lambda: ran_on.append(threading.get_ident()))
    finally:
        threads.stop()
    assert len(ran_on) == 20
    assert len(set(ran_on)) == 1


def test_the_thread_idle_last_takes_the_next_job() -> None:
    threads = WriteThreads(3, "test")
    gates = [threading.Event() for _ in range(3)]
    started = threading.Barrier(4)
    finished: list[int] = []
    lock = threading.Lock()

    def blocked(gate: threading.Event) -> None:
        started.wait(5)
        gate.wait(5)
        with lock:
            finished.append(threading.get_ident())

    try:
        for gate in gates:  # three writes at once: three threads
            threads.submit(lambda gate=gate: blocked(gate))
        started.wait(5)
        for count, gate in enumerate(gates, 1):  # they go idle in this order
            gate.set()
            while len(finished) < count:
                threading.Event().wait(0.001)
            threading.Event().wait(0.05)  # back on the idle list before the next one
        ran_on: list[int] = []
        _run_and_wait(threads, lambda: ran_on.append(threading.get_ident()))
    finally:
        threads.stop()
    assert ran_on == [finished[-1]]


def test_more_writes_than_threads_wait_for_the_first_thread_free() -> None:
    threads = WriteThreads(2, "test")
    gate = threading.Event()
    done: list[int] = []
    all_done = threading.Event()

    def job(n: int) -> None:
        gate.wait(5)
        done.append(n)
        if len(done) == 10:
            all_done.set()

    try:
        for n in range(10):
            threads.submit(lambda n=n: job(n))
        gate.set()
        assert all_done.wait(5)
    finally:
        threads.stop()
    assert sorted(done) == list(range(10))


def test_a_job_that_raises_leaves_its_thread_working() -> None:
    threads = WriteThreads(1, "test")

    def failing() -> None:
        raise OSError("disk gone")

    ran: list[str] = []
    try:
        threads.submit(failing)
        _run_and_wait(threads, lambda: ran.append("after"))
    finally:
        threads.stop()
    assert ran == ["after"]


def test_a_stop_lets_every_submitted_job_finish() -> None:
    # At exit, writes already queued must still reach storage: a clean stop loses no
    # recorded byte.
    threads = WriteThreads(1, "test")
    gate = threading.Event()
    ran: list[int] = []
    threads.submit(lambda: (gate.wait(5), ran.append(0)))
    for n in range(1, 4):
        threads.submit(lambda n=n: ran.append(n))
    stopping = threading.Thread(target=threads.stop)
    stopping.start()
    gate.set()
    stopping.join(10)
    assert not stopping.is_alive()
    assert ran == [0, 1, 2, 3]
    assert not [t for t in threading.enumerate() if t.name.startswith("test_")]


class _ListingHook(list):  # type: ignore[type-arg]
    """The idle list, with a job submitted at the racy moment: just before (``before``) or
    just after a thread lists itself idle, as a caller on another thread could."""

    def __init__(self, threads: WriteThreads, job, *, before: bool) -> None:  # type: ignore[no-untyped-def]
        super().__init__()
        self.threads, self.job, self.before, self.fired = threads, job, before, False

    def append(self, item) -> None:  # type: ignore[no-untyped-def]
        if self.before and not self.fired:
            self.fired = True
            self.threads.submit(self.job)  # finds no idle thread: into the backlog
        super().append(item)
        if not self.before and not self.fired:
            self.fired = True
            self.threads.submit(self.job)  # takes this thread and wakes it


@pytest.mark.parametrize("before", [True, False], ids=["just-before", "just-after"])
def test_a_job_racing_a_thread_going_idle_still_runs(before: bool) -> None:
    # No lock between a caller and the threads (see WriteThreads): a job that arrives
    # while the only thread is going idle must not stay in the backlog, nor a thread sleep
    # on a wake-up already spent.
    threads = WriteThreads(1, "test")
    raced = threading.Event()
    threads._idle = _ListingHook(threads, raced.set, before=before)  # type: ignore[assignment]
    try:
        _run_and_wait(threads, lambda: None)  # the thread then goes idle: the race
        assert raced.wait(2), "the job submitted as the thread went idle never ran"
        _run_and_wait(threads, lambda: None)  # and the thread still takes jobs after it
    finally:
        stopped_at = time.monotonic()
        threads.stop()
    assert time.monotonic() - stopped_at < 5  # the idle thread was woken to end


def test_a_burst_of_jobs_costs_the_caller_one_wake_up() -> None:
    # The event loop hands out a burst of writes (many sessions typed in the same turn):
    # one wake-up system call from it, the threads wake each other for the rest. Waking a
    # thread per job from the loop made 1,000 typing sessions' p99 go from 19 to 122 ms.
    threads = WriteThreads(4, "test")
    gate = threading.Event()
    started = threading.Barrier(5)
    try:
        for _ in range(4):  # four threads, then all idle
            threads.submit(lambda: (started.wait(5), gate.wait(5)))
        started.wait(5)
        gate.set()
        while len(threads._idle) < 4:
            time.sleep(0.001)
        caller = threading.get_ident()
        wakers: list[int] = []
        wake_one = threads._wake_one

        def counted() -> bool:
            wakers.append(threading.get_ident())
            return wake_one()

        threads._wake_one = counted  # type: ignore[method-assign]
        burst = threading.Barrier(5)
        for _ in range(4):
            threads.submit(lambda: burst.wait(5))  # each holds its thread: four needed
        burst.wait(5)
    finally:
        gate.set()
        threads.stop()
    assert wakers.count(caller) == 1
    assert len(wakers) >= 4


def test_a_write_stuck_on_storage_holds_up_no_job_of_its_burst() -> None:
    # One idle thread takes the first job of a burst, which hangs (an object store's round
    # trip); the job that came behind it in the same burst must get a thread of its own.
    threads = WriteThreads(4, "test")
    stuck = threading.Event()
    try:
        _run_and_wait(threads, lambda: None)  # one thread, idle
        quick = threading.Event()
        threads.submit(lambda: stuck.wait(10))
        threads.submit(quick.set)  # while the woken thread has not taken its job yet
        assert quick.wait(2), "the second write waited for the stuck one"
    finally:
        stuck.set()
        threads.stop()
