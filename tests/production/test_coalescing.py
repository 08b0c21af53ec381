"""CoalescingTransport over a real socket pair: the writes of one loop turn leave in one
write of the real transport, in order; close sends what is pending, abort drops it."""

from __future__ import annotations

import asyncio
import socket

from bastion.coalescing import CoalescingTransport


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


def test_writes_of_one_turn_leave_in_one_write_in_order() -> None:
    async def scenario() -> None:
        coalescing, written, theirs = await _pair()
        coalescing.write(b"one ")
        coalescing.write(bytearray(b"two "))
        coalescing.write(memoryview(b"three"))
        assert written == [] and coalescing.get_write_buffer_size() == 13
        await asyncio.sleep(0)  # the end of this turn
        assert written == [b"one two three"]
        coalescing.write(b"!")
        await asyncio.sleep(0)
        assert written == [b"one two three", b"!"]
        assert await _received(theirs, 14) == b"one two three!"
        coalescing.close()
        theirs.close()
    asyncio.run(scenario())


def test_close_sends_what_is_pending_and_abort_drops_it() -> None:
    async def scenario() -> None:
        coalescing, written, theirs = await _pair()
        coalescing.write(b"last words")
        coalescing.close()
        assert written == [b"last words"]
        assert await _received(theirs, 100) == b"last words"  # then the end of the stream
        theirs.close()
        coalescing, written, theirs = await _pair()
        coalescing.write(b"never sent")
        coalescing.abort()
        await asyncio.sleep(0)
        assert written == [] and await _received(theirs, 100) == b""
        theirs.close()
    asyncio.run(scenario())
