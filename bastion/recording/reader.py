"""Reading a recording back, verifying every chunk before any of its data is used.

Each chunk is checked in order: framing, its index, AES-GCM authentication (which binds
the recording, the index and the flags), then decompression; the hash chain is extended as
it goes. At the end the chain, the chunk count and the seal are compared with what the
catalog expects. The first failure raises :class:`RecordingCorrupted` naming the chunk:
data before it was verified; nothing from or after it is ever returned.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from .container import FLAG_STORED, FileHeader, chain_hash, read_chunk, read_file_header
from .encryption import decrypt_chunk
from .errors import RecordingCorrupted, RecordingTruncated
from .events import OUTPUT, SHOWN, STDERR, Event, EventParser
from .storage import Storage


@dataclass(frozen=True)
class Expected:
    """What the catalog says the file must hold. ``sealed``: the recording was closed
    normally, so it must end with its final chunk and nothing may follow. An interrupted
    recording may end with an incomplete chunk (the write the crash cut short)."""

    chunk_count: int | None = None
    final_hash: str | None = None
    sealed: bool = False


@dataclass
class Progress:
    """How far verification got: everything here is verified."""

    chunks: int = 0
    final_hash: str = ""
    size_bytes: int = 0
    output_bytes: int = 0
    sealed: bool = False
    notes: list[str] = field(default_factory=list)


class RecordingReader:
    def __init__(
        self, storage: Storage, storage_key: str, data_key: bytes, expected: Expected | None = None
    ) -> None:
        self.storage = storage
        self.storage_key = storage_key
        self._data_key = data_key
        self.expected = expected or Expected()
        self.header: dict[str, Any] | None = None
        self.progress = Progress()
        self._staged: tuple[int, str, int, bool] = (0, "", 0, False)

    def _chunks(self) -> Iterator[bytes]:
        """Verified plaintexts, in order; raises at the first bad chunk."""
        expected = self.expected
        with self.storage.open(self.storage_key) as stream:
            file_header: FileHeader = read_file_header(stream)
            digest = file_header.genesis
            offset = len(file_header.raw)
            self.progress = Progress(final_hash=digest.hex(), size_bytes=offset)
            decompressor = zlib.decompressobj(-15)
            position = 0
            while True:
                if expected.chunk_count is not None and position == expected.chunk_count:
                    self._check_after_last(stream, position, offset, digest)
                    return
                if self.progress.sealed:
                    _nothing_after_final(stream, position)
                    return
                raw = read_chunk(stream, position, offset)
                if raw is None:
                    self._check_end(position)
                    return
                compressed = decrypt_chunk(
                    self._data_key, digest, raw.index, raw.flags, raw.ciphertext
                )
                try:
                    if raw.flags & FLAG_STORED:
                        plaintext = compressed
                    else:
                        plaintext = decompressor.decompress(compressed)
                        if raw.final:
                            plaintext += decompressor.flush()
                except zlib.error:
                    raise RecordingCorrupted(f"chunk {position} does not decompress", position) from None
                if raw.final and not decompressor.eof:
                    raise RecordingCorrupted(f"chunk {position}: the final chunk is incomplete", position)
                digest = chain_hash(digest, raw.index, raw.flags, raw.ciphertext)
                offset = raw.end_offset
                position += 1
                # The consumer calls _commit() once it has also parsed the chunk's events,
                # so progress never counts a chunk that turned out bad.
                self._staged = (position, digest.hex(), offset, raw.final)
                yield plaintext

    def _check_after_last(self, stream: Any, position: int, offset: int, digest: bytes) -> None:
        """All the chunks the catalog knows were read: check the hash and what follows."""
        expected = self.expected
        if expected.final_hash is not None and digest.hex() != expected.final_hash:
            raise RecordingCorrupted(
                f"the hash chain ends at {digest.hex()[:16]}…, the catalog recorded "
                f"{expected.final_hash[:16]}…: the recording or its catalog entry was altered"
            )
        if expected.sealed and not self.progress.sealed:
            raise RecordingCorrupted(
                f"chunk {position - 1} should be the final chunk and is not", max(position - 1, 0)
            )
        if expected.sealed:
            _nothing_after_final(stream, position)
            return
        try:
            raw = read_chunk(stream, position, offset)
        except RecordingTruncated:
            size = self.storage.size(self.storage_key) - offset
            self.progress.notes.append(
                f"{size} bytes after chunk {position - 1} are an incomplete chunk: the write "
                "cut short when the recording was interrupted, not part of the recording"
            )
            return
        if raw is not None:
            raise RecordingCorrupted(
                f"chunk {position} is not in the catalog (added after the recording was closed)",
                position,
            )

    def _check_end(self, position: int) -> None:
        expected = self.expected
        if expected.chunk_count is not None and position < expected.chunk_count:
            raise RecordingCorrupted(
                f"the recording is truncated: it ends after chunk {position - 1}, the catalog "
                f"records {expected.chunk_count} chunks; chunk {position} is missing",
                position,
            )
        if expected.sealed and not self.progress.sealed:
            raise RecordingCorrupted(
                f"the recording is truncated: no final chunk after chunk {position - 1}; "
                f"chunk {position} is missing",
                position,
            )

    def _commit(self) -> None:
        self.progress.chunks, self.progress.final_hash, self.progress.size_bytes, sealed = (
            self._staged
        )
        self.progress.sealed = sealed

    def events(self) -> Iterator[Event]:
        """The recording's events, verified. ``self.header`` is set from the first line."""
        parser = EventParser()
        for plaintext in self._chunks():
            chunk = self._staged[0] - 1
            try:
                events = parser.feed(plaintext)
            except (ValueError, TypeError, KeyError):
                problem = "the asciicast header" if parser.header is None else "an event"
                raise RecordingCorrupted(f"chunk {chunk}: {problem} is not readable", chunk) from None
            self.header = parser.header
            self._commit()
            for event in events:
                if event.code in SHOWN:
                    self.progress.output_bytes += len(event.data)
                yield event
        if parser.pending:
            chunk = self.progress.chunks - 1
            raise RecordingCorrupted(f"chunk {chunk} ends inside an event", chunk)

    def output_bytes(self) -> bytes:
        """The exact output (what the technician's terminal received, stdout and stderr
        as they came)."""
        return b"".join(event.data for event in self.events() if event.code in SHOWN)

    def stream_bytes(self) -> tuple[bytes, bytes]:
        """The exact stdout and stderr bytes, apart."""
        streams: dict[str, bytearray] = {OUTPUT: bytearray(), STDERR: bytearray()}
        for event in self.events():
            if event.code in streams:
                streams[event.code] += event.data
        return bytes(streams[OUTPUT]), bytes(streams[STDERR])


def _nothing_after_final(stream: Any, position: int) -> None:
    if stream.read(1):
        raise RecordingCorrupted(
            f"chunk {position}: data follows the final chunk (appended after sealing)", position
        )
