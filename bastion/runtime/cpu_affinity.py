"""A supervised node's proxy worker keeps to one core: slot N on the N-th core it may use.

A keystroke crosses its worker's event loop and one of its recording threads twice (the
key, then its echo: recorded before forwarded). Left to the scheduler, the thread that
writes is woken on whichever core it last ran on, usually the other, idle one: on a
virtual machine that is waking a halted virtual CPU, tens of microseconds each way, and
every hop runs on cold caches. The worker's threads gain little from two cores (they
take turns on one interpreter lock), so one core for all of them keeps each hand-off a
local wake-up. Measured on the 2-core benchmark machine (docs/benchmarks.md, alternated
runs): the key echo's added latency fell from +1.13 to +0.89-0.94 ms at p50 and from
+2.07-2.43 to +1.70-1.76 ms at p99.

The recorder process a worker starts does its own work in parallel with the worker's
(bulk output's compression, encryption and file writes): it is given back every core the
worker was allowed (:func:`release`). The console process is not pinned. Workers beyond
the number of cores share them in turn; a node allowed one core pins nothing.
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger("bastion.runtime.cpu_affinity")


def keep_to_one_core(slot: int) -> frozenset[int] | None:
    """Pin this process to its slot's core, before it starts any thread (threads and child
    processes inherit it). Returns the cores it was allowed before, for :func:`release`;
    None when nothing was pinned."""
    try:
        allowed = sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux, or a seccomp profile that forbids it
        return None
    if len(allowed) < 2 or slot < 1:
        return None
    core = allowed[(slot - 1) % len(allowed)]
    try:
        os.sched_setaffinity(0, {core})
    except OSError as exc:
        log.warning("proxy worker slot %d stays on every core: %s", slot, exc)
        return None
    log.info("proxy worker slot %d keeps to core %d", slot, core)
    return frozenset(allowed)


def release(pid: int, cores: frozenset[int] | None) -> None:
    """Give a child of a pinned worker (its recorder process) the worker's former cores."""
    if not cores:
        return
    try:
        os.sched_setaffinity(pid, cores)
    except OSError as exc:  # it already ended: its link reports that on its own
        log.warning("process %d keeps its parent's core: %s", pid, exc)
