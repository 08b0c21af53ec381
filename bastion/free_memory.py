"""Giving memory the node has freed back to the system.

Measured: a 150 MB ``cat`` through the proxy left the process's RSS about 170 MB higher for
good (289 MB after, 117 MB before). glibc keeps freed buffers of 32 to 128 KiB (SSH
packets, recording chunks, made by the event loop and the recording threads) in its
per-thread arenas, and its mmap threshold rises after the first large free, so later
buffers are never returned either. ``malloc_trim(0)`` hands the free pages back: RSS 289
-> 124 MB in the same test. The housekeeping calls it every round (a few milliseconds, in
a worker thread). On a C library without it (musl), nothing is done.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
from collections.abc import Callable

log = logging.getLogger("bastion.memory")


def _find_malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        trim = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim  # type: ignore[no-any-return]


_malloc_trim = _find_malloc_trim()


def release_free_memory() -> bool:
    """Return freed heap pages to the system; False where the C library cannot."""
    if _malloc_trim is None:
        return False
    _malloc_trim(0)
    return True
