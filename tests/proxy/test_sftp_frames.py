"""The SFTP relay's framing, as properties: packets cut anywhere across reads come back
whole and in order; a length out of bounds is refused; a packet rebuilt with another
request id keeps its type and body."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bastion.proxy.sftp import packets as p


@given(st.lists(st.binary(min_size=1, max_size=3000), max_size=20), st.data())
def test_packets_cut_anywhere_come_back_whole_and_in_order(bodies: list[bytes], data) -> None:  # type: ignore[no-untyped-def]
    stream = b"".join(p.frame(body) for body in bodies)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    buffer, received, start = p.FrameBuffer(), [], 0
    for cut in [*cuts, len(stream)]:
        received += buffer.feed(stream[start:cut])
        start = cut
    assert received == bodies


@pytest.mark.parametrize("length", [0, p.MAX_PACKET + 1])
def test_a_length_out_of_bounds_is_refused(length: int) -> None:
    with pytest.raises(p.MalformedPacket, match="out of bounds"):
        p.FrameBuffer().feed(p.pack_uint32(length) + b"x" * 8)


@given(st.integers(0, 255), st.integers(0, 2**32 - 1), st.binary(max_size=100))
def test_a_packet_built_reads_back(kind: int, request_id: int, body: bytes) -> None:
    (packet,) = p.FrameBuffer().feed(p.build_packet(kind, request_id, body))
    assert packet == bytes([kind]) + p.pack_uint32(request_id) + body


def test_a_write_crosses_the_framing_and_the_parser_without_a_copy() -> None:
    """A 32 KiB WRITE read whole is a view into the read that carried it, and so is its
    payload once parsed: the relay copies it once, into the packet it forwards."""
    payload = bytes(range(256)) * 128
    body = (p.pack_string(b"handle-1") + (4096).to_bytes(8, "big")
            + p.pack_string(payload))
    read = p.build_packet(p.WRITE, 42, body) + p.build_packet(p.CLOSE, 43, p.pack_string(b"h"))
    write, close = p.FrameBuffer().feed(read)
    assert isinstance(write, memoryview) and write.obj is read
    request = p.parse_request(write)
    assert (request.kind, request.request_id, request.handle, request.offset) == (p.WRITE, 42, b"handle-1", 4096)
    assert isinstance(request.data, memoryview) and request.data.obj is read
    assert request.data == payload and isinstance(request.handle, bytes)
    forwarded = p.build_packet(request.kind, 99, request.body)
    assert forwarded == p.build_packet(p.WRITE, 99, body) and isinstance(forwarded, bytes)
    assert p.parse_request(close).handle == b"h"
