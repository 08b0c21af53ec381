"""Giving memory the node has freed back to the system.

Measured: a 150 MB ``cat`` through the proxy left the process's RSS about 170 MB higher for
good (289 MB after, 117 MB before). glibc keeps freed buffers of 32 to 128 KiB (SSH
packets, recording chunks, made by the event loop and the recording threads) in its
per-thread arenas, and its mmap threshold rises after the first large free, so later
buffers are never returned either. ``malloc_trim(0)`` hands the free pages back: RSS 289
-> 124 MB in the same test. The housekeeping calls it every round (a few milliseconds, in
a worker thread). On a C library without it (musl), nothing is done.

Between two rounds, floods still piled up: three concurrent 300 MB outputs took a node
from 140 MB to 1 GB (``python -m bench --only floods``). So ``bastion serve`` also fixes
glibc's thresholds at start (:func:`bound_retained_memory`): buffers of 128 KiB and more
(recording writes, their compressed and encrypted copies) are mapped on their own and
unmapped when freed, whatever size was freed before; the heap's free top goes back above
1 MiB; and four arenas at most, not eight per core, keep freed pieces where the next
thread reuses them. (Most of that gigabyte was live, though: packets asyncssh kept
buffering past the channel window, see bastion/proxy/flow_control.py.)
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
from collections.abc import Callable

log = logging.getLogger("bastion.memory")


def _libc_function(name: str, *argtypes: type) -> Callable[..., int] | None:
    library = ctypes.util.find_library("c")
    if library is None:
        return None
    try:
        function = getattr(ctypes.CDLL(library), name)
    except (OSError, AttributeError):
        return None
    function.argtypes = list(argtypes)
    function.restype = ctypes.c_int
    return function  # type: ignore[no-any-return]


_malloc_trim = _libc_function("malloc_trim", ctypes.c_size_t)
_mallopt = _libc_function("mallopt", ctypes.c_int, ctypes.c_int)

# mallopt parameters (malloc.h) and the values bound_retained_memory sets.
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_ARENA_MAX = -1, -3, -8
THRESHOLDS = {M_MMAP_THRESHOLD: 128 * 1024, M_TRIM_THRESHOLD: 1024 * 1024, M_ARENA_MAX: 4}
# The recorder process's (keep_freed_memory_for_reuse).
RECORDER_THRESHOLDS = {M_MMAP_THRESHOLD: 4 * 1024 * 1024, M_TRIM_THRESHOLD: 8 * 1024 * 1024,
                       M_ARENA_MAX: 4}


def bound_retained_memory() -> bool:
    """Fix glibc's allocation thresholds (see above). Setting them turns off glibc's
    dynamic threshold, which otherwise rises to the largest buffer freed so far and
    keeps every later one. False where the C library has no mallopt."""
    return _set_thresholds(THRESHOLDS)


def keep_freed_memory_for_reuse() -> bool:
    """For the recorder process: keep freed buffers for the next ones rather than giving
    them back. Its working set is bounded (the events of the requests in hand: at most the
    shared ring's 2 MiB, their chunks and copies) but churned at the speed of a transfer,
    and what glibc gives back it must fault in again page by page: mapped on their own
    (128 KiB and more) or trimmed off its threads' arenas, a 300 MB exec cat cost the
    recorder 22,000 to 66,000 page faults, about 1,450 with this (docs/benchmarks.md).
    Buffers below 4 MiB (the shared ring's 2 MiB bodies and their chunks included) come
    from the arenas, which keep up to 8 MiB of free top each; the recorders grew no more
    under floods than without it. A lower mmap threshold is a trap: at 1 MiB, every
    larger buffer is mapped and faulted in afresh (130 times the faults of glibc's own
    thresholds for 2.6 MiB buffers). False where the C library has no mallopt."""
    return _set_thresholds(RECORDER_THRESHOLDS)


def _set_thresholds(thresholds: dict[int, int]) -> bool:
    if _mallopt is None:
        return False
    return all(_mallopt(param, value) == 1 for param, value in thresholds.items())


def release_free_memory() -> bool:
    """Return freed heap pages to the system; False where the C library cannot."""
    if _malloc_trim is None:
        return False
    _malloc_trim(0)
    return True

