"""The shared memory a worker hands bulk output to its recorder process through
(recorder_ring.py): allocations never overlap a live one, space comes back in any order of
answers, a full ring says so (the caller falls back to the socket), and the recorder side
reads back exactly what was put."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bastion.recording.recorder_ring import RingReader, RingSlice, SharedRing


@pytest.fixture
def ring() -> SharedRing:
    made = SharedRing(64 * 1024)
    yield made
    made.close()


def _reader(ring: SharedRing) -> RingReader:
    return RingReader(os.dup(ring.fd), ring.size)


def test_bodies_read_back_from_the_recorder_side(ring: SharedRing) -> None:
    bodies = [b"a" * 3000, os.urandom(5000), b""]
    placed = ring.put(bodies)
    assert placed is not None
    _, slices = placed
    reader = _reader(ring)
    assert [reader.body(where) for where in slices] == bodies
    assert ring.bytes_placed == 8000


def test_space_comes_back_only_once_the_oldest_is_freed(ring: SharedRing) -> None:
    first, _ = ring.put([b"1" * 20000])  # type: ignore[misc]
    second, _ = ring.put([b"2" * 20000])  # type: ignore[misc]
    assert ring.put([b"3" * 30000]) is None  # 24 KiB left at the end, 0 before the oldest
    ring.free(second)  # answered first: the oldest still holds the start of the ring
    assert ring.put([b"3" * 30000]) is None
    ring.free(first)
    assert ring.used == 0
    third, slices = ring.put([b"3" * 30000])  # type: ignore[misc]
    assert slices[0].offset == 0


def test_an_allocation_wraps_to_the_start_when_the_end_is_too_short(ring: SharedRing) -> None:
    first, _ = ring.put([b"1" * 30000])  # type: ignore[misc]
    second, _ = ring.put([b"2" * 30000])  # type: ignore[misc]
    ring.free(first)
    third, slices = ring.put([b"3" * 20000])  # type: ignore[misc]
    assert slices[0].offset == 0  # 4 KiB left at the end: wrapped
    assert _reader(ring).body(slices[0]) == b"3" * 20000
    assert ring.put([b"4" * 20000]) is None  # would reach the live second allocation


def test_more_than_half_the_ring_at_once_goes_through_the_socket(ring: SharedRing) -> None:
    assert ring.put([b"x" * (32 * 1024 + 1)]) is None
    assert ring.put([b""]) is None  # nothing to place


def test_a_slice_outside_the_ring_is_refused(ring: SharedRing) -> None:
    with pytest.raises(ValueError, match="outside the ring"):
        _reader(ring).body(RingSlice(60 * 1024, 8 * 1024))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(1, 20000), st.integers(0, 7)),
                min_size=1, max_size=80))
def test_live_allocations_never_overlap_and_keep_their_bytes(
        steps: list[tuple[bool, int, int]]) -> None:
    ring = SharedRing(64 * 1024)
    reader = _reader(ring)
    live: list[tuple[object, RingSlice, bytes]] = []
    try:
        for number, (put, size, pick) in enumerate(steps):
            if put or not live:
                body = bytes([number % 256]) * size
                placed = ring.put([body])
                if placed is None:
                    assert live, "an empty ring refused a fitting body"
                    continue
                allocation, (where,) = placed
                for _, other, _ in live:
                    assert (where.offset + where.length <= other.offset
                            or other.offset + other.length <= where.offset)
                live.append((allocation, where, body))
            else:
                allocation, _, _ = live.pop(pick % len(live))  # answered in any order
                ring.free(allocation)  # type: ignore[arg-type]
            for _, where, body in live:
                assert reader.body(where) == body
    finally:
        ring.close()
