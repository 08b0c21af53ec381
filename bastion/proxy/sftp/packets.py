"""SFTP version 3 packets (draft-ietf-secsh-filexfer-02 plus OpenSSH's extensions):
just enough parsing to see each operation's paths, handles, offsets and sizes.

Pure functions over bytes (or views of them); malformed input raises :class:`MalformedPacket`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

INIT, VERSION = 1, 2
OPEN, CLOSE, READ, WRITE, LSTAT, FSTAT, SETSTAT, FSETSTAT = 3, 4, 5, 6, 7, 8, 9, 10
OPENDIR, READDIR, REMOVE, MKDIR, RMDIR, REALPATH, STAT, RENAME = 11, 12, 13, 14, 15, 16, 17, 18
READLINK, SYMLINK = 19, 20
STATUS, HANDLE, DATA, NAME, ATTRS = 101, 102, 103, 104, 105
EXTENDED, EXTENDED_REPLY = 200, 201

FX_OK, FX_EOF, FX_NO_SUCH_FILE, FX_PERMISSION_DENIED, FX_FAILURE = 0, 1, 2, 3, 4
FX_BAD_MESSAGE, FX_OP_UNSUPPORTED = 5, 8

FXF_READ, FXF_WRITE, FXF_APPEND, FXF_CREAT, FXF_TRUNC, FXF_EXCL = 1, 2, 4, 8, 16, 32

MAX_PACKET = 256 * 1024 + 1024  # OpenSSH's limit is 256 KiB of payload


class MalformedPacket(ValueError):
    pass


# A packet's bytes as read: a view into the read that carried it (relay.py passes 32 KiB
# WRITE and DATA bodies on without copying them), or bytes.
Buffer = bytes | memoryview


@dataclass
class Reader:
    data: Buffer
    pos: int = 0

    def _span(self, n: int) -> Buffer:
        if self.pos + n > len(self.data):
            raise MalformedPacket("packet ends too early")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def take(self, n: int) -> bytes:
        """A field of its own (a path, a handle): copied, small."""
        return bytes(self._span(n))

    def uint32(self) -> int:
        return LENGTH.unpack(self._span(4))[0]

    def uint64(self) -> int:
        return _UINT64.unpack(self._span(8))[0]

    def string(self) -> bytes:
        return self.take(self.uint32())

    def string_view(self) -> Buffer:
        """A string read in place (a WRITE's or a DATA's payload): not copied."""
        return self._span(self.uint32())

    def rest(self) -> Buffer:
        return self.data[self.pos:]


def pack_uint32(value: int) -> bytes:
    return struct.pack(">I", value)


def pack_string(value: bytes) -> bytes:
    return pack_uint32(len(value)) + value


# A packet's length, type and request id.
HEAD = struct.Struct(">IBI")
LENGTH = struct.Struct(">I")
_UINT64 = struct.Struct(">Q")


def frame(body: bytes) -> bytes:
    return pack_uint32(len(body)) + body


@dataclass
class Request:
    """A client request: type, id, the paths it names, and what reads/writes need."""

    kind: int
    request_id: int
    body: Buffer  # everything after the id, forwarded unchanged
    paths: list[bytes] = field(default_factory=list)
    handle: bytes | None = None
    offset: int = 0
    length: int = 0
    data: Buffer = b""
    pflags: int = 0
    extension: str | None = None


# Requests whose first field is a path, and those whose first two fields are paths.
ONE_PATH = {LSTAT, SETSTAT, OPENDIR, REMOVE, MKDIR, RMDIR, REALPATH, STAT, READLINK}
TWO_PATHS = {RENAME, SYMLINK}
HANDLE_FIRST = {CLOSE, READ, WRITE, FSTAT, FSETSTAT, READDIR}
# OpenSSH extensions we understand, and how many leading paths they carry.
EXTENSION_PATHS = {
    "posix-rename@openssh.com": 2,
    "hardlink@openssh.com": 2,
    "statvfs@openssh.com": 1,
    "lsetstat@openssh.com": 1,
    "expand-path@openssh.com": 1,
    "fstatvfs@openssh.com": 0,
    "fsync@openssh.com": 0,
    "limits@openssh.com": 0,
}
EXTENSION_HANDLE = {"fstatvfs@openssh.com", "fsync@openssh.com"}


def parse_request(body: Buffer) -> Request:
    reader = Reader(memoryview(body))
    kind = reader.take(1)[0]
    request_id = reader.uint32()
    request = Request(kind, request_id, reader.rest())
    if kind == OPEN:
        request.paths = [reader.string()]
        request.pflags = reader.uint32()
    elif kind in ONE_PATH:
        request.paths = [reader.string()]
    elif kind in TWO_PATHS:
        request.paths = [reader.string(), reader.string()]
    elif kind in HANDLE_FIRST:
        request.handle = reader.string()
        if kind == READ:
            request.offset, request.length = reader.uint64(), reader.uint32()
        elif kind == WRITE:
            request.offset = reader.uint64()
            request.data = reader.string_view()
            request.length = len(request.data)
    elif kind == EXTENDED:
        name = reader.string().decode("utf-8", "replace")
        request.extension = name
        if name in EXTENSION_HANDLE:
            request.handle = reader.string()
        else:
            request.paths = [reader.string() for _ in range(EXTENSION_PATHS.get(name, 0))]
    else:
        raise MalformedPacket(f"unknown request type {kind}")
    return request


def build_packet(kind: int, request_id: int, body: Buffer) -> bytes:
    """A request or a reply of ``kind`` with ``request_id``. The body is copied once: a
    WRITE's or a DATA's 32 KiB crosses the relay, so every copy counts per byte."""
    return b"".join((HEAD.pack(len(body) + 5, kind, request_id), body))


def build_status(request_id: int, code: int, message: str) -> bytes:
    return frame(bytes([STATUS]) + pack_uint32(request_id) + pack_uint32(code)
                 + pack_string(message.encode()) + pack_string(b""))


@dataclass
class Response:
    kind: int
    request_id: int
    body: Buffer
    status: int | None = None
    handle: bytes | None = None
    data: Buffer = b""
    names: list[bytes] = field(default_factory=list)


def parse_response(body: Buffer) -> Response:
    reader = Reader(memoryview(body))
    kind = reader.take(1)[0]
    if kind == VERSION:
        return Response(kind, 0, reader.rest())
    request_id = reader.uint32()
    response = Response(kind, request_id, reader.rest())
    if kind == STATUS:
        response.status = reader.uint32()
    elif kind == HANDLE:
        response.handle = reader.string()
    elif kind == DATA:
        response.data = reader.string_view()
    elif kind == NAME:
        count = reader.uint32()
        if count:
            response.names = [reader.string()]  # the first name is what REALPATH answers
    return response


ATTR_SIZE, ATTR_UIDGID, ATTR_PERMISSIONS, ATTR_ACMODTIME = 0x1, 0x2, 0x4, 0x8
ATTR_EXTENDED = 0x80000000


@dataclass(frozen=True)
class NameEntry:
    """One entry of a NAME reply: its file name, and its bytes to pass on unchanged."""

    filename: bytes
    raw: Buffer


def _skip_attrs(reader: Reader) -> None:
    flags = reader.uint32()
    if flags & ATTR_SIZE:
        reader.take(8)
    if flags & ATTR_UIDGID:
        reader.take(8)
    if flags & ATTR_PERMISSIONS:
        reader.take(4)
    if flags & ATTR_ACMODTIME:
        reader.take(8)
    if flags & ATTR_EXTENDED:
        for _ in range(reader.uint32() * 2):
            reader.string()


def parse_names(body: Buffer) -> list[NameEntry]:
    """Every entry of a NAME reply's body (after the request id): name, long name, attrs."""
    reader = Reader(body)
    entries = []
    for _ in range(reader.uint32()):
        start = reader.pos
        filename = reader.string()
        reader.string()  # the long name, as 'ls -l' would print it
        _skip_attrs(reader)
        entries.append(NameEntry(filename, body[start:reader.pos]))
    return entries


def build_names_body(entries: list[NameEntry]) -> bytes:
    return pack_uint32(len(entries)) + b"".join(e.raw for e in entries)


class FrameBuffer:
    """Splits a byte stream into SFTP packets (uint32 length, then the body).

    Packets come out as views: of the read that carried them whole, or of the buffer a
    packet cut across reads was gathered in (each of its bytes copied once, into it). A
    32 KiB WRITE or DATA usually spans two SSH packets, so two reads."""

    def __init__(self) -> None:
        self._buffer = bytearray()  # the start of a packet the next read completes

    def feed(self, data: bytes) -> list[Buffer]:
        packets: list[Buffer] = []
        view = memoryview(data)
        start = 0
        if self._buffer:
            start, completed = self._complete(view)
            if completed is None:
                return packets
            packets.append(completed)
        while len(view) - start >= 4:
            length = _packet_length(view, start)
            if len(view) - start < 4 + length:
                break
            packets.append(view[start + 4:start + 4 + length])
            start += 4 + length
        self._buffer += view[start:]
        return packets

    def _complete(self, view: memoryview) -> tuple[int, Buffer | None]:
        """Add to the packet begun earlier what ``view`` has of it: how much of ``view`` was
        used, and the packet once whole (the buffer is then empty), else None."""
        used = 0
        if len(self._buffer) < 4:
            used = min(4 - len(self._buffer), len(view))
            self._buffer += view[:used]
            if len(self._buffer) < 4:
                return used, None
        missing = 4 + _packet_length(self._buffer, 0) - len(self._buffer)
        more = min(missing, len(view) - used)
        self._buffer += view[used:used + more]
        used += more
        if more < missing:
            return used, None
        # The buffer itself becomes the packet: its bytes were copied once, into it.
        completed, self._buffer = self._buffer, bytearray()
        return used, memoryview(completed)[4:]


def _packet_length(buffer: Buffer | bytearray, start: int) -> int:
    (length,) = LENGTH.unpack_from(buffer, start)
    if length == 0 or length > MAX_PACKET:
        raise MalformedPacket(f"packet length {length} is out of bounds")
    return length
