"""Writing a recording: events in, sealed chunks out, synchronously.

:class:`RecordingWriter` is single-threaded and blocking: the asyncio side
(:mod:`bastion.recording.recorder`) runs it in a worker thread, tests and tools may call
it directly.

Each :meth:`RecordingWriter.append` call turns its events into stored records (see
events.py), packs them into one chunk or a few (at most ``chunk_bytes`` of plaintext
each, split only between records), and appends them to storage in a single write.

Compression is one deflate stream per recording, flushed (Z_SYNC_FLUSH) at every chunk
end: every chunk decodes completely given the chunks before it, and small interactive
chunks share the stream's dictionary, so a 3-byte echo costs a few bytes of deflate output
instead of a fresh stream's header and tables. The price: a chunk can only be read after
the chunks before it, which is how recordings are read anyway (replay, export,
verification). A chunk that is mostly incompressible binary output is stored as is,
outside the deflate stream (flag STORED), at memory speed.
"""

from __future__ import annotations

import re
import time
import uuid
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .container import FLAG_FINAL, FLAG_STORED, FileHeader, chain_hash, encode_chunk, encode_file_header
from .encryption import encrypt_chunk
from .errors import RecordingClosed, RecordingFailed, StorageError
from .events import (
    INPUT,
    MARKER,
    OUTPUT,
    RESIZE,
    SHOWN,
    STDERR,
    Event,
    TerminalInfo,
    encode_event_parts,
    header_line,
    marker,
)
from .storage import Storage

DEFAULT_CHUNK_BYTES = 64 * 1024
# A run of incompressible chunks is tried again every this many chunks (2 MiB at 64 KiB).
TRIAL_EVERY = 32
# deflate level 1: ~120-180 MB/s per core on terminal text, against ~20-80 MB/s at the
# default level 6, for output 1.1-1.6 times larger; a bulk transfer through the bastion must
# not be slowed down to the speed of its compression.
COMPRESSION_LEVEL = 1


@dataclass(frozen=True)
class SealResult:
    """What the catalog and the audit log keep about a written recording."""

    storage_key: str
    chunk_count: int
    size_bytes: int
    final_hash: str  # hex; for an unsealed (failed) recording, the hash after its last chunk
    output_bytes: int
    sealed: bool
    end_reason: str | None = None
    error: str | None = None


def new_storage_key(session_id: int | None, channel: str, now: datetime | None = None) -> str:
    """``YYYY/MM/DD/session-<id>-<channel>-<random>.rec``: dated folders keep directories
    small and let an operator find a day's recordings; the random part makes keys unique."""
    now = now or datetime.now(UTC)
    owner = f"session-{session_id}" if session_id is not None else "session"
    channel = re.sub(r"[^a-z0-9_-]+", "-", channel.lower()).strip("-")[:16] or "channel"
    return f"{now:%Y/%m/%d}/{owner}-{channel}-{uuid.uuid4().hex}.rec"


class RecordingWriter:
    def __init__(
        self,
        storage: Storage,
        storage_key: str,
        data_key: bytes,
        *,
        chunk_bytes: int = DEFAULT_CHUNK_BYTES,
        clock: Callable[[], float] = time.monotonic,
        started: float | None = None,
    ) -> None:
        self.storage = storage
        self.storage_key = storage_key
        self._cipher = AESGCM(data_key)  # built once: a keystroke's chunk is a small seal
        self.chunk_bytes = chunk_bytes
        self._clock = clock
        # ``started``: the clock reading event times count from, when the events are
        # timed in another process (recorder_process.py; CLOCK_MONOTONIC is system-wide).
        self._started = clock() if started is None else started
        self._uid = uuid.uuid4().hex
        self._compressor = zlib.compressobj(COMPRESSION_LEVEL, zlib.DEFLATED, -15)
        # Binary output comes in runs (an archive, a dump): once a trial found a chunk
        # incompressible, the next ones are stored as is without a trial, until a recheck.
        self._stored_without_trial = 0
        self._hash = b""
        self._index = 0
        self._size = 0
        self._output_bytes = 0
        self._error: str | None = None
        self._closed = False
        self._end_reason: str | None = None

    # --- creation ---------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        storage: Storage,
        storage_key: str,
        data_key: bytes,
        terminal: TerminalInfo | None = None,
        *,
        chunk_bytes: int = DEFAULT_CHUNK_BYTES,
        clock: Callable[[], float] = time.monotonic,
        metadata: dict[str, Any] | None = None,
        started: float | None = None,
    ) -> RecordingWriter:
        """Create the file: its header, then chunk 0 holding the asciicast header line, so
        even a recording killed at once is a readable, verifiable (empty) recording."""
        writer = cls(storage, storage_key, data_key, chunk_bytes=chunk_bytes, clock=clock,
                     started=started)
        now = datetime.now(UTC)
        file_header = encode_file_header(writer._uid, now.isoformat(timespec="seconds"))
        writer._hash = FileHeader(writer._uid, {}, file_header).genesis
        extra = {"x_bastion": {"format": 1, **(metadata or {})}}
        first = header_line(terminal or TerminalInfo(), int(now.timestamp()), extra)
        chunk, writer._hash = writer._seal_chunk(first, 0, writer._hash, final=False)
        try:
            storage.create(storage_key, file_header + chunk)
        except StorageError as exc:
            raise RecordingFailed(f"the recording cannot be created: {exc}") from exc
        writer._index = 1
        writer._size = len(file_header) + len(chunk)
        return writer

    # --- state ------------------------------------------------------------------------

    @property
    def chunk_count(self) -> int:
        return self._index

    @property
    def final_hash(self) -> str:
        return self._hash.hex()

    @property
    def size_bytes(self) -> int:
        return self._size

    @property
    def output_bytes(self) -> int:
        return self._output_bytes

    @property
    def failed(self) -> bool:
        return self._error is not None

    @property
    def closed(self) -> bool:
        return self._closed

    def now(self) -> float:
        """Seconds since the recording started: the time of an event recorded now."""
        return self._clock() - self._started

    def result(self) -> SealResult:
        return SealResult(
            storage_key=self.storage_key,
            chunk_count=self._index,
            size_bytes=self._size,
            final_hash=self.final_hash,
            output_bytes=self._output_bytes,
            sealed=self._closed and self._error is None,
            end_reason=self._end_reason,
            error=self._error,
        )

    # --- writing ----------------------------------------------------------------------

    def append(self, events: Sequence[Event]) -> None:
        """Record ``events``; on return they are in storage (one append for all chunks).
        Raises :class:`RecordingFailed` on a storage error, and forever after it."""
        self._write(events, final=False)

    def close(self, end_reason: str | None = None, events: Iterable[Event] = ()) -> SealResult:
        """Seal: write ``events`` and an ``end`` marker in the final chunk, sync storage."""
        if self._closed:
            return self.result()
        tail = list(events)
        if end_reason is not None:
            tail.append(Event(self.now(), MARKER, marker("end", reason=end_reason)))
        self._end_reason = end_reason
        try:
            self._write(tail, final=True)
            self.storage.sync(self.storage_key)
        except StorageError as exc:
            self._error = str(exc)
            raise RecordingFailed(f"the recording could not be sealed: {exc}") from exc
        finally:
            self.storage.release(self.storage_key)
        self._closed = True
        return self.result()

    def _write(self, events: Sequence[Event], *, final: bool) -> None:
        if self._error is not None:
            raise RecordingFailed(f"the recording failed earlier: {self._error}")
        if self._closed:
            raise RecordingClosed(f"recording {self.storage_key} is sealed")
        # Index and hash advance only once storage holds the chunks: after a failure,
        # result() describes exactly what is stored (the catalog keeps that).
        index, digest = self._index, self._hash
        chunks = []
        for plaintext, raw in self._pack(events):
            chunk, digest = self._seal_chunk(plaintext, index, digest, final=False, raw=raw)
            chunks.append(chunk)
            index += 1
        if final:
            # The final flag goes on a chunk of its own: it ends the deflate stream and
            # proves the recording was sealed, not cut after its last chunk.
            chunk, digest = self._seal_chunk(b"", index, digest, final=True)
            chunks.append(chunk)
            index += 1
        if not chunks:
            return
        blob = b"".join(chunks)
        try:
            self.storage.append(self.storage_key, blob)
        except Exception as exc:  # noqa: BLE001 - any backend failure fails the recording
            # The deflate stream moved past what storage holds: this writer is done.
            self._error = str(exc) if isinstance(exc, StorageError) else f"{type(exc).__name__}: {exc}"
            self.storage.release(self.storage_key)
            raise RecordingFailed(f"the recording cannot be written: {self._error}") from exc
        self._index, self._hash = index, digest
        self._size += len(blob)
        for event in events:
            if event.code in SHOWN:
                self._output_bytes += len(event.data)

    def _pack(self, events: Sequence[Event]) -> list[tuple[bytes, int]]:
        """Encode events, group them into chunk plaintexts of at most chunk_bytes (a single
        longer event makes a chunk of its own); with each, how many bytes are raw runs.
        A chunk's records are kept as pieces (a raw run: the event's own buffer) and joined
        once, into the chunk's plaintext."""
        chunks: list[tuple[bytes, int]] = []
        current: list[bytes | memoryview] = []
        size = raw = 0
        for event in events:
            for piece in _split_large(event, self.chunk_bytes // 2):
                parts, length, record_raw = encode_event_parts(piece)
                if current and size + length > self.chunk_bytes:
                    chunks.append((b"".join(current), raw))
                    current, size, raw = [], 0, 0
                current += parts
                size += length
                raw += record_raw
        if current:
            chunks.append((b"".join(current), raw))
        return chunks

    def _seal_chunk(
        self, plaintext: bytes, index: int, previous: bytes, *, final: bool, raw: int = 0
    ) -> tuple[bytes, bytes]:
        if final:
            flags = FLAG_FINAL
            body = self._compressor.compress(plaintext) + self._compressor.flush(zlib.Z_FINISH)
        elif self._stored_run(plaintext, raw):
            flags = FLAG_STORED
            body = plaintext
        else:
            flags = 0
            body = self._compressor.compress(plaintext) + self._compressor.flush(zlib.Z_SYNC_FLUSH)
        ciphertext = encrypt_chunk(self._cipher, previous, index, flags, body)
        return encode_chunk(index, flags, ciphertext), chain_hash(previous, index, flags, ciphertext)

    def _stored_run(self, plaintext: bytes, raw: int) -> bool:
        if not _mostly_raw(plaintext, raw):
            self._stored_without_trial = 0
            return False
        if 0 < self._stored_without_trial < TRIAL_EVERY:
            self._stored_without_trial += 1
            return True
        stored = _incompressible(plaintext)
        self._stored_without_trial = 1 if stored else 0
        return stored

    # --- conveniences for synchronous callers -----------------------------------------

    def output(self, data: bytes) -> None:
        self.append([Event(self.now(), OUTPUT, bytes(data))])

    def input(self, data: bytes) -> None:
        self.append([Event(self.now(), INPUT, bytes(data))])

    def resize(self, width: int, height: int) -> None:
        self.append([Event(self.now(), RESIZE, f"{width}x{height}")])

    def marker(self, marker_type: str, **fields: Any) -> None:
        self.append([Event(self.now(), MARKER, marker(marker_type, **fields))])


def _mostly_raw(plaintext: bytes, raw: int) -> bool:
    return raw >= 4096 and raw * 2 >= len(plaintext)


def _incompressible(plaintext: bytes) -> bool:
    """A chunk mostly made of binary output that deflate would not shrink (a quick trial
    on 1 KiB of it says so) is stored as is: deflating random bytes runs at a tenth of
    the speed of everything else and saves nothing. The trial itself (a deflate stream
    set up and torn down) cost as much as the chunk's SHA-256 in the bulk profile."""
    sample = plaintext[len(plaintext) // 2 - 512:len(plaintext) // 2 + 512]
    return len(zlib.compress(sample, 1)) > 0.9 * len(sample)


def _split_large(event: Event, limit: int) -> Iterable[Event]:
    """Cut a big output/input event into pieces of at most ``limit`` bytes, at UTF-8
    character starts when possible, so one huge read still makes bounded chunks."""
    if event.code not in (OUTPUT, STDERR, INPUT) or len(event.data) <= limit:
        yield event
        return
    data = memoryview(event.data)  # pieces are views, not copies (see _pack)
    start = 0
    while start < len(data):
        end = min(start + limit, len(data))
        if end < len(data):
            back = end
            # Step back over at most 3 continuation bytes (10xxxxxx) to a character start.
            while back > end - 3 and back > start + 1 and data[back] & 0xC0 == 0x80:
                back -= 1
            end = back if data[back] & 0xC0 != 0x80 else end
        yield Event(event.time, event.code, data[start:end])
        start = end
