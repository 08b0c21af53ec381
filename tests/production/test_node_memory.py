"""A node's memory: Python's collector tuned for many sessions, saying when a collection
still holds the node up (bastion.gc_tuning), and freed buffers handed back to the system
(bastion.free_memory). Each module gives its measurement."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest

from bastion import gc_tuning


def test_tuning_freezes_start_up_objects_and_spaces_out_full_collections() -> None:
    # In a child interpreter: the test process's own collector stays as it is.
    script = ("import gc; from bastion.gc_tuning import THRESHOLDS, tune_for_many_sessions; "
              "tune_for_many_sessions(); tune_for_many_sessions(); "
              "print(gc.get_threshold() == THRESHOLDS, gc.get_freeze_count() > 1000, "
              "sum(1 for c in gc.callbacks if type(c).__name__ == '_PauseWatch'))")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            check=True, timeout=60)
    assert result.stdout.split() == ["True", "True", "1"]


def test_a_slow_collection_is_logged(monkeypatch: pytest.MonkeyPatch,
                                     caplog: pytest.LogCaptureFixture) -> None:
    watch = gc_tuning._PauseWatch()
    clock = iter([10.0, 10.25, 20.0, 20.01])
    monkeypatch.setattr(gc_tuning.time, "perf_counter", lambda: next(clock))
    with caplog.at_level(logging.WARNING, logger="bastion.gc"):
        watch("start", {"generation": 2})
        watch("stop", {"generation": 2, "collected": 7})
        watch("start", {"generation": 0})
        watch("stop", {"generation": 0, "collected": 0})
    assert [record.getMessage() for record in caplog.records] == [
        "garbage collection (generation 2) held the node for 250 ms, freeing 7 objects"]


FREED_BUT_KEPT = """
import os, threading
from bastion.free_memory import release_free_memory
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS"): return int(line.split()[1]) // 1024
pinned = []
def work():
    big, small = [], []
    for _ in range(400):
        big.append(os.urandom(65536))
        small.append(bytearray(64))  # lives on after each buffer: the arena cannot shrink
    big.clear()
    pinned.append(small)
threads = [threading.Thread(target=work) for _ in range(4)]
for t in threads: t.start()
for t in threads: t.join()
before = rss()
print(release_free_memory(), before, rss())
"""


def test_buffers_freed_by_threads_go_back_to_the_system() -> None:
    # 100 MB of 64 KiB buffers made and freed by four threads, as relayed packets and
    # recording chunks are: glibc keeps them until malloc_trim hands them back.
    result = subprocess.run([sys.executable, "-c", FREED_BUT_KEPT], capture_output=True,
                            text=True, check=True, timeout=60)
    trimmed, before, after = result.stdout.split()
    assert trimmed == "True"
    assert int(before) - int(after) > 60, (before, after)


RECORDER_CHURN = """
import resource, sys, threading
from bastion.free_memory import keep_freed_memory_for_reuse
if sys.argv[1] == "keep":
    assert keep_freed_memory_for_reuse()
def work():
    # A recorder thread's buffers: bodies copied out of the 2 MiB ring, chunks, their join.
    for _ in range(200):
        held = [bytes(size) for size in (48 << 10, 200 << 10, 96 << 10, 700 << 10, 64 << 10, 1500 << 10)]
        held.append(b"".join(held))
        del held
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
threads = [threading.Thread(target=work) for _ in range(2)]
for t in threads: t.start()
for t in threads: t.join()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def test_the_recorders_thresholds_keep_its_largest_buffers_in_the_arenas() -> None:
    # Each buffer mapped afresh would be ~650 pages to fault in per join, 260,000 in all;
    # kept in the arenas, the churn faults a few thousand (glibc's own thresholds too).
    faults = {}
    for mode in ("default", "keep"):
        result = subprocess.run([sys.executable, "-c", RECORDER_CHURN, mode], capture_output=True,
                                text=True, check=True, timeout=120)
        faults[mode] = int(result.stdout)
    assert faults["keep"] < 20_000, faults
    assert faults["keep"] <= 2 * faults["default"], faults
