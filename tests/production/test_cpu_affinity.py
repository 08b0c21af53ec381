"""A proxy worker keeps to its slot's core; what it starts after (threads, its recorder
process) inherits that, and the recorder process is given every core back.

Pinning applies to the process that calls it, so each case runs in a child interpreter,
with the cores it may use set by the test (``taskset``'s system call, from Python)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

PROBE = """
import json, os, subprocess, sys, threading
from bastion.runtime.cpu_affinity import keep_to_one_core, release
slot = int(sys.argv[1])
before = sorted(os.sched_getaffinity(0))
cores = keep_to_one_core(slot)
seen = {}
thread = threading.Thread(target=lambda: seen.update(thread=sorted(os.sched_getaffinity(0))))
thread.start(); thread.join()
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(5)"])
inherited = sorted(os.sched_getaffinity(child.pid))
release(child.pid, cores)
print(json.dumps({"before": before, "returned": sorted(cores) if cores else None,
                  "process": sorted(os.sched_getaffinity(0)), "thread": seen["thread"],
                  "child_inherited": inherited, "child_released": sorted(os.sched_getaffinity(child.pid))}))
child.kill()
"""


def _run(slot: int, allowed: set[int]) -> dict[str, list[int] | None]:
    def restrict() -> None:
        os.sched_setaffinity(0, allowed)

    done = subprocess.run([sys.executable, "-c", PROBE, str(slot)], capture_output=True, text=True,
                          timeout=60, preexec_fn=restrict)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _cores() -> list[int]:
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        pytest.skip("pinning needs a machine with two cores or more")  # CI has two
    return cores


@pytest.mark.parametrize("slot", [1, 2, 3])
def test_a_worker_keeps_to_its_slots_core_and_its_child_gets_every_core_back(slot: int) -> None:
    cores = _cores()[:2]
    got = _run(slot, set(cores))
    mine = [cores[(slot - 1) % 2]]  # slot 3 on two cores shares the first one
    assert got["before"] == cores and got["returned"] == cores
    assert got["process"] == mine and got["thread"] == mine  # threads started after inherit it
    assert got["child_inherited"] == mine and got["child_released"] == cores


def test_a_worker_allowed_one_core_pins_nothing() -> None:
    core = max(os.sched_getaffinity(0))  # runs on any machine, one core or many
    got = _run(2, {core})
    assert got["returned"] is None
    assert got["process"] == got["thread"] == got["child_released"] == [core]
