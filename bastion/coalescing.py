"""One system call for what a connection writes during one turn of the event loop.

asyncio's socket transport sends every ``write()`` at once. An SSH connection relaying bulk
data writes one packet at a time (a 32 KiB channel packet, then its small SFTP tail, then a
window adjustment...), so each packet became a ``send()`` and woke the reader on the other
side. OpenSSH writes what its loop produced in one go; so does this wrapper: the writes of
one turn are joined and handed to the real transport at the end of that turn (``call_soon``:
after the callbacks already queued, before the loop waits again). A small write with
nothing pending goes at once: holding every write to the end of the turn made a login's
round trips wait behind other work (``ssh host true`` +70 ms). Measured on the bulk
benchmarks (docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
from typing import Any

# Writes below this size go at once when nothing is pending: the bulk's 32 KiB packets are
# what the joining saves system calls on.
SMALL_WRITE_BYTES = 4096
# What one turn wrote is joined into pieces of at most this size (or one larger write
# alone). A bigger piece is one the C library maps fresh for each join (its mmap threshold
# is 128 KiB on a node, bastion/free_memory.py) and faults in page by page: a 300 MB exec
# cat joined 330-400 KiB turns, 40 mappings per 100 MB with their faults.
JOIN_BYTES = 96 * 1024


class CoalescingTransport(asyncio.Transport):
    """A transport whose writes leave together at the end of the loop's turn. Closing
    sends what is pending first; aborting drops it, as the real transport's abort does."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self._pending:
            if len(data) < SMALL_WRITE_BYTES:
                # A lone small write (a handshake message, a keystroke, its echo) goes at
                # once: held to the end of the turn, it would wait behind whatever else
                # that turn runs, on every round trip of a login.
                self._transport.write(data)
                return
            self._loop.call_soon(self.flush)
        self._pending.append(bytes(data))

    def writelines(self, list_of_data: Any) -> None:
        for data in list_of_data:
            self.write(data)

    def flush(self) -> None:
        pending, self._pending = self._pending, []
        piece: list[bytes] = []
        size = 0
        for data in pending:
            if piece and size + len(data) > JOIN_BYTES:
                self._write_joined(piece)
                piece, size = [], 0
            piece.append(data)
            size += len(data)
        if piece:
            self._write_joined(piece)

    def _write_joined(self, piece: list[bytes]) -> None:
        self._transport.write(piece[0] if len(piece) == 1 else b"".join(piece))

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._pending = []
        self._transport.abort()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def can_write_eof(self) -> bool:
        return self._transport.can_write_eof()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + sum(map(len, self._pending))

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._transport.set_write_buffer_limits(high, low)

    def pause_reading(self) -> None:
        self._transport.pause_reading()

    def resume_reading(self) -> None:
        self._transport.resume_reading()

    def is_reading(self) -> bool:
        return self._transport.is_reading()

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._transport.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._transport.get_protocol()

