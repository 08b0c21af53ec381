"""The frames a process and its recorder process exchange over their socket pair.

A frame is a 4-byte big-endian length, then a pickle of a tuple. Pickle is safe here: the
two ends are the same program, parent and child, on a socket pair no one else holds.

Requests (parent -> recorder): ``(request_id, op, handle, payload)``

- ``("hello", settings)``: the first frame, the storage to write to (``Settings``);
- ``"create"``: payload a :class:`CreateRequest`; the recording file is created;
- ``"append"``: payload a list of ``(time, code, data)`` events, ``data`` a
  :class:`~.recorder_ring.RingSlice` when the parent put it in shared memory; answered
  once stored;
- ``"close"``: payload the end reason; the recording is sealed and synced.

Replies (recorder -> parent): ``(request_id, error or None, SealResult)``: the writer's
state after the request, so the parent always knows what storage holds.
"""

from __future__ import annotations

import pickle
import struct
from dataclasses import dataclass
from typing import Any

from .events import TerminalInfo

LENGTH = struct.Struct(">I")
# A frame is at most a group commit of a recording's pending events: bounded by the relay
# (512 KiB held per stream) far below this; a larger length means a broken peer.
MAX_FRAME_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True)
class CreateRequest:
    storage_key: str
    data_key: bytes
    terminal: TerminalInfo | None
    chunk_bytes: int
    metadata: dict[str, Any]
    started: float  # the parent's time.monotonic() origin of the recording's event times


def encode(message: tuple[Any, ...]) -> bytes:
    body = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return LENGTH.pack(len(body)) + body


def decode(body: bytes) -> tuple[Any, ...]:
    return pickle.loads(body)  # noqa: S301 - our own child process, see the module docstring


class FrameBuffer:
    """Cuts a byte stream into frames (the asyncio side reads whatever arrived)."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[tuple[Any, ...]]:
        self._buffer += data
        frames = []
        while len(self._buffer) >= LENGTH.size:
            (length,) = LENGTH.unpack_from(self._buffer)
            if length > MAX_FRAME_BYTES:
                raise ValueError(f"recorder frame of {length} bytes: the stream is broken")
            end = LENGTH.size + length
            if len(self._buffer) < end:
                break
            frames.append(decode(bytes(self._buffer[LENGTH.size:end])))
            del self._buffer[:end]
        return frames
