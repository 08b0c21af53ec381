"""The sealed recording file: a small header, then chunks, each chained to the previous.

Layout (all integers big-endian)::

    file   = "BASTREC1" u16:header_length header_json chunk*
    chunk  = "CHNK" u32:index u8:flags u32:length ciphertext[length]

``ciphertext`` is AES-256-GCM (12-byte nonce first) of the chunk's deflate output, or of
its plaintext as is when bit 1 of ``flags`` is set (incompressible binary output: deflate
would only cost time). Bit 0 of ``flags`` marks the final chunk written when the recording
is sealed, so a file cut after its last chunk is told apart from a sealed one even without
the catalog. The associated data of chunk i is the chain hash before it, i and flags.

The chain: ``h[-1] = sha256("bastion recording chain v1\\0" || file header)``,
``h[i] = sha256(h[i-1] || u32:i || u8:flags || ciphertext)``. The last ``h`` is the
recording's final hash, stored in the catalog and in the audit log, so a recording can be
checked against it by anyone with the file, even without the keys.
"""

from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import dataclass
from typing import Any, BinaryIO

from .errors import RecordingCorrupted, RecordingTruncated

FILE_MAGIC = b"BASTREC1"
CHUNK_MAGIC = b"CHNK"
FLAG_FINAL = 0x01
FLAG_STORED = 0x02  # plaintext stored as is, outside the deflate stream (binary data)
FORMAT_VERSION = 1
_HEADER_LENGTH = struct.Struct(">H")
CHUNK_HEAD = struct.Struct(">4sIBI")
# A chunk is at most a few MiB; a larger length field means the field itself is damaged.
MAX_CHUNK_BYTES = 64 * 1024 * 1024
_CHAIN_CONTEXT = b"bastion recording chain v1\x00"


@dataclass(frozen=True)
class FileHeader:
    uid: str
    fields: dict[str, Any]
    raw: bytes  # exactly as stored: the chain starts from these bytes

    @property
    def genesis(self) -> bytes:
        return hashlib.sha256(_CHAIN_CONTEXT + self.raw).digest()


def encode_file_header(uid: str, created: str) -> bytes:
    body = json.dumps(
        {
            "format": FORMAT_VERSION,
            "uid": uid,
            "created": created,
            "cipher": "AES-256-GCM",
            "compression": "deflate, sync flush per chunk",
            "chain": "sha256",
        },
        sort_keys=True,
        separators=(",", ":"),
    ).encode()
    return FILE_MAGIC + _HEADER_LENGTH.pack(len(body)) + body


def read_file_header(stream: BinaryIO) -> FileHeader:
    start = stream.read(len(FILE_MAGIC) + _HEADER_LENGTH.size)
    if len(start) < len(FILE_MAGIC) + _HEADER_LENGTH.size or not start.startswith(FILE_MAGIC):
        raise RecordingCorrupted("the file header is damaged or this is not a recording file")
    (length,) = _HEADER_LENGTH.unpack(start[len(FILE_MAGIC):])
    body = stream.read(length)
    try:
        fields = json.loads(body)
        uid = fields["uid"]
        version = fields["format"]
    except (ValueError, KeyError, TypeError):
        raise RecordingCorrupted("the file header is damaged (not readable)") from None
    if version != FORMAT_VERSION or not isinstance(uid, str):
        raise RecordingCorrupted(f"unsupported recording format {version!r}")
    return FileHeader(uid=uid, fields=fields, raw=start + body)


def encode_chunk(index: int, flags: int, ciphertext: bytes) -> bytes:
    return CHUNK_HEAD.pack(CHUNK_MAGIC, index, flags, len(ciphertext)) + ciphertext


def chain_hash(previous: bytes, index: int, flags: int, ciphertext: bytes) -> bytes:
    digest = hashlib.sha256(previous)
    digest.update(struct.pack(">IB", index, flags))
    digest.update(ciphertext)
    return digest.digest()


@dataclass(frozen=True)
class RawChunk:
    index: int
    flags: int
    ciphertext: bytes
    end_offset: int  # file offset just after this chunk

    @property
    def final(self) -> bool:
        return bool(self.flags & FLAG_FINAL)


def read_chunk(stream: BinaryIO, position: int, offset: int) -> RawChunk | None:
    """The chunk at ``offset``, which should be the ``position``-th; None at a clean end
    of file. Framing damage raises, naming the position."""
    head = stream.read(CHUNK_HEAD.size)
    if not head:
        return None
    if len(head) < CHUNK_HEAD.size:
        raise RecordingTruncated(
            f"chunk {position} is incomplete: the file ends inside it (truncated)", position
        )
    magic, index, flags, length = CHUNK_HEAD.unpack(head)
    if magic != CHUNK_MAGIC:
        raise RecordingCorrupted(
            f"chunk {position} is damaged: no chunk marker at byte {offset}", position
        )
    if length > MAX_CHUNK_BYTES:
        raise RecordingCorrupted(f"chunk {position} is damaged: impossible length {length}", position)
    ciphertext = stream.read(length)
    if len(ciphertext) < length:
        raise RecordingTruncated(
            f"chunk {position} is incomplete: the file ends inside it (truncated)", position
        )
    if index != position:
        raise RecordingCorrupted(
            f"chunk {position} is out of place: chunk {index} was found there "
            "(chunks reordered, removed or altered)",
            position,
        )
    return RawChunk(index, flags, ciphertext, offset + CHUNK_HEAD.size + length)
