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
