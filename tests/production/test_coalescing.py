"""CoalescingTransport over a real socket pair: a bulk write and those after it in the same
loop turn leave in one write of the real transport, in order; a lone small write leaves at
once; close sends what is pending, abort drops it."""

from __future__ import annotations

import asyncio
import socket

from bastion.coalescing import JOIN_BYTES, SMALL_WRITE_BYTES, CoalescingTransport


async def _pair() -> tuple[CoalescingTransport, list[bytes], socket.socket]:
    ours, theirs = socket.socketpair()
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_connection(asyncio.Protocol, sock=ours)
    written: list[bytes] = []
    real_write = transport.write

    def spy(data: bytes) -> None:  # the real transport still sends it
        written.append(bytes(data))
        real_write(data)

    transport.write = spy  # type: ignore[method-assign]
    theirs.setblocking(False)
    return CoalescingTransport(transport, loop), written, theirs  # type: ignore[arg-type]


async def _received(sock: socket.socket, size: int) -> bytes:
    loop = asyncio.get_running_loop()
    data = b""
    while len(data) < size:
        chunk = await loop.sock_recv(sock, 65536)
        if not chunk:
            break
        data += chunk
    return data


BIG = b"x" * SMALL_WRITE_BYTES  # a bulk packet's size


def test_writes_of_one_turn_after_a_big_one_leave_in_one_write_in_order() -> None:
    async def scenario() -> None:
        coalescing, written, theirs = await _pair()
        coalescing.write(BIG)
        coalescing.write(bytearray(b"two "))  # small, but after a pending one: in order
        coalescing.write(memoryview(b"three"))
        assert written == [] and coalescing.get_write_buffer_size() == len(BIG) + 9
        await asyncio.sleep(0)  # the end of this turn
        assert written == [BIG + b"two three"]
        assert await _received(theirs, len(BIG) + 9) == BIG + b"two three"
        coalescing.close()
        theirs.close()
    asyncio.run(scenario())


def test_a_lone_small_write_goes_at_once() -> None:
    async def scenario() -> None:
        coalescing, written, theirs = await _pair()
        coalescing.write(b"a key")
        assert written == [b"a key"]  # not held to the end of the turn
        coalescing.write(BIG)
        coalescing.write(b"its echo")
        assert written == [b"a key"]
        await asyncio.sleep(0)
        assert written == [b"a key", BIG + b"its echo"]
        coalescing.close()
        theirs.close()
    asyncio.run(scenario())


def test_close_sends_what_is_pending_and_abort_drops_it() -> None:
    async def scenario() -> None:
        coalescing, written, theirs = await _pair()
        coalescing.write(BIG)
        coalescing.write(b"last words")
        coalescing.close()
        assert written == [BIG + b"last words"]
        assert await _received(theirs, 2 * len(BIG)) == BIG + b"last words"  # then its end
        theirs.close()
        coalescing, written, theirs = await _pair()
        coalescing.write(BIG)
        coalescing.abort()
        await asyncio.sleep(0)
        assert written == [] and await _received(theirs, 100) == b""
        theirs.close()
    asyncio.run(scenario())


def test_a_bulk_turn_leaves_in_pieces_the_heap_can_reuse_in_order() -> None:
    # Joins larger than JOIN_BYTES were mapped fresh by the C library for each turn.
    async def scenario() -> None:
        coalescing, written, theirs = await _pair()
        packets = [bytes([n]) * (32 * 1024) + b"tail" for n in range(7)] + [b"x" * (200 * 1024)]
        for packet in packets:
            coalescing.write(packet)
        assert written == []
        await asyncio.sleep(0)
        assert b"".join(written) == b"".join(packets)
        assert len(written) > 1 and written[-1] == packets[-1]  # a larger write goes alone
        assert all(len(piece) <= JOIN_BYTES for piece in written[:-1])
        received = await _received(theirs, sum(map(len, packets)))
        assert received == b"".join(packets)
        coalescing.close()
        theirs.close()
    asyncio.run(scenario())
