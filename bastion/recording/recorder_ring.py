"""Shared memory between a process and its recorder process, for the bytes of bulk output.

Sent through the socket pair, every byte of a bulk transfer was pickled, copied into the
socket by the parent, copied out by the recorder and unpickled: on a 300 MB ``exec cat``
the parent's sends to its recorder cost about as much as its sends to the technician.
Instead the parent copies an append's large event bodies once into a ring of shared
memory (a memfd both processes map), and the request on the socket carries only where
they are (:class:`RingSlice`). The recorder copies them out before it answers; the parent
frees the space when the answer comes. Small events (keys, echoes) still travel in the
request: for them the socket is cheaper than the bookkeeping.

The ring is an optimisation only: an append that does not fit (a full ring: many bulk
streams at once) goes through the socket as before. Nothing about "recorded before
forwarded" changes: the answer still comes only once storage holds the bytes.

A ring belongs to one recorder process. When that process dies, the requests it held
fail (their sessions end, recorder_link.py) and the next process gets a new ring, so no
space is ever freed twice or read by a process that did not get the request.
"""

from __future__ import annotations

import mmap
import os
from collections import deque
from typing import NamedTuple

# 2 MiB: four bulk streams at the relay's full depth (512 KiB held each); more at
# once overflow to the socket, which only costs CPU. Both processes map it, so a node's RSS
# counts it twice per worker: 8 MiB rings added 28 MiB to the ten-floods benchmark's peak.
RING_BYTES = 2 * 1024 * 1024
# Below this, an event body goes in the request itself.
RING_MIN_BYTES = 2048


class RingSlice(NamedTuple):
    """Stands for an event's body in an append request: ``length`` bytes at ``offset``."""

    offset: int
    length: int


class RingAllocation:
    __slots__ = ("offset", "end", "freed")

    def __init__(self, offset: int, end: int) -> None:
        self.offset = offset
        self.end = end
        self.freed = False


class SharedRing:
    """The parent's side: allocates space in FIFO order, frees it in any order (a
    recorder's threads answer requests of different recordings out of order)."""

    def __init__(self, size: int = RING_BYTES) -> None:
        self.size = size
        self.fd = os.memfd_create("bastion-recorder-ring", 0)  # not inherited (CLOEXEC)
        try:
            os.ftruncate(self.fd, size)
            self._map = mmap.mmap(self.fd, size)
        except OSError:
            os.close(self.fd)
            raise
        self._view = memoryview(self._map)
        self._live: deque[RingAllocation] = deque()
        self._head = 0  # where the next allocation starts, unless it wraps
        self.bytes_placed = 0  # what went through the ring instead of the socket

    def put(self, bodies: list[bytes]) -> tuple[RingAllocation, list[RingSlice]] | None:
        """Copy ``bodies`` into one contiguous allocation; None if the ring has no room."""
        total = sum(len(body) for body in bodies)
        offset = self._reserve(total)
        if offset is None:
            return None
        slices = []
        position = offset
        for body in bodies:
            end = position + len(body)
            self._view[position:end] = body
            slices.append(RingSlice(position, len(body)))
            position = end
        allocation = RingAllocation(offset, offset + total)
        self._live.append(allocation)
        self._head = allocation.end
        self.bytes_placed += total
        return allocation, slices

    def free(self, allocation: RingAllocation) -> None:
        allocation.freed = True
        while self._live and self._live[0].freed:
            self._live.popleft()
        if not self._live:
            self._head = 0  # empty: start again at the beginning, the largest room

    @property
    def used(self) -> int:
        """Bytes between the oldest live allocation and the head (wasted tail included)."""
        if not self._live:
            return 0
        tail = self._live[0].offset
        return self._head - tail if self._head >= tail else self.size - tail + self._head

    def _reserve(self, total: int) -> int | None:
        if total == 0 or total > self.size // 2:
            return None
        if not self._live:
            return 0
        tail = self._live[0].offset
        if self._head >= tail:  # live space is [tail, head): room after head, or before tail
            if self._head + total <= self.size:
                return self._head
            # Strictly below the tail: head == tail means an empty ring, never a full one.
            return 0 if total < tail else None
        return self._head if self._head + total < tail else None

    def close(self) -> None:
        self._view.release()
        self._map.close()
        os.close(self.fd)


class RingReader:
    """The recorder's side: the same memory, read only."""

    def __init__(self, fd: int, size: int) -> None:
        self._map = mmap.mmap(fd, size, prot=mmap.PROT_READ)
        os.close(fd)
        self._view = memoryview(self._map)

    def body(self, where: RingSlice) -> bytes:
        if where.offset < 0 or where.offset + where.length > len(self._view):
            raise ValueError(f"a ring slice outside the ring: {where}")
        return bytes(self._view[where.offset:where.offset + where.length])
