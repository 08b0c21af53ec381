"""The bytes of a recording file do not depend on how the writer builds them.

A small reference encoder, written from the layout documented in container.py and
events.py (one record per event piece, chunks of whole records, "CHNK" heads, nonce ||
AES-GCM, the deflate stream), builds the file the writer must produce for a fixed mix of
events, drawing the same nonces: any change to the layout, the chunking or the stored /
deflated choice shows up as a byte difference. The writer's own policy helpers (where a
large event is cut, the UTF-8 run split, the incompressibility trial) are reused, not
re-derived.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import struct
import uuid
import zlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given, settings
from hypothesis import strategies as st

from bastion.recording import events as events_module
from bastion.recording import writer as writer_module
from bastion.recording.events import (
    INPUT,
    MARKER,
    OUTPUT,
    RESIZE,
    STDERR,
    Event,
    TerminalInfo,
    _utf8_runs,
    header_line,
    marker,
)
from bastion.recording.integrity import verify_file
from bastion.recording.reader import Expected, RecordingReader
from bastion.recording.storage import LocalFolderStorage

CREATED = datetime(2026, 12, 4, 12, 0, 0, tzinfo=UTC)
UID = uuid.UUID(int=0x1234)
KEY = bytes(range(32))


class _Nonces:
    """os.urandom, deterministic: the n-th call of a run returns the same bytes."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, size: int) -> bytes:
        self.calls += 1
        return hashlib.sha256(b"nonce %d" % self.calls).digest()[:size]


def _events(rng: random.Random) -> list[list[Event]]:
    text = "".join(f"Dec  4 12:00:{n % 60:02d} dpi-app-01 sshd[{n}]: é ok line {n}\r\n" for n in range(900))
    # A large text event whose split point (every 8 KiB at chunk_bytes 16 KiB, 32 KiB at
    # 64 KiB) falls inside multi-byte characters.
    wide = ("x" + "é€" * 20000).encode()
    batches = [
        [Event(0.1, MARKER, marker("session", technician="jdupont"))],
        [Event(0.2, INPUT, b"ls -l\r")],
        [Event(0.21, OUTPUT, b"ls -l\r\n"), Event(0.22, OUTPUT, text.encode())],
        [Event(0.3, RESIZE, "120x40")],
        [Event(0.4, OUTPUT, wide)],
        [Event(0.5, STDERR, b"bad \xff\xfe bytes \xe2\x82"), Event(0.5, OUTPUT, b"tail \xc3")],
        [Event(0.6, MARKER, marker("exec", command="cat /dev/urandom | head -c 3M"))],
        [Event(0.7, OUTPUT, rng.randbytes(200_000))],
        [Event(0.8, OUTPUT, rng.randbytes(3000)), Event(0.8, OUTPUT, b"prompt$ ")],
    ]
    # Many middling events: where a chunk ends depends on the exact size of every record.
    encoded = text.encode()
    batches.append([Event(0.9, OUTPUT, encoded[:rng.randrange(100, 3000)]) for _ in range(60)])
    batches.append([Event(0.95, OUTPUT, rng.randbytes(rng.randrange(100, 6000))) for _ in range(40)])
    # Runs of binary output: stored chunks, past TRIAL_EVERY of them without a trial.
    for n in range(14):
        batches.append([Event(1.0 + n, OUTPUT, rng.randbytes(65536)) for _ in range(3)])
    batches.append([Event(20.0, OUTPUT, text.encode()[:70_000]), Event(20.0, OUTPUT, rng.randbytes(5000))])
    batches.append([Event(21.0, MARKER, marker("exit", status=0))])
    return batches


def _dump(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": ")).encode()


def _record(event: Event) -> tuple[bytes, int]:
    time = round(event.time, 6)
    if event.code in (OUTPUT, STDERR, INPUT):
        out, raw = b"", 0
        for run in _utf8_runs(bytes(event.data)):
            if isinstance(run, str):
                out += _dump([time, event.code, run]) + b"\n"
            else:
                run = bytes(run)
                out += _dump([time, event.code + "b", len(run)]) + b"\n" + run + b"\n"
                raw += len(run)
        return out, raw
    if event.code == RESIZE:
        return _dump([time, RESIZE, event.data]) + b"\n", 0
    return _dump([time, MARKER, json.dumps(event.data, ensure_ascii=False)]) + b"\n", 0


class _Reference:
    """The file, chunk by chunk, from the documented layout."""

    def __init__(self, chunk_bytes: int) -> None:
        self.chunk_bytes = chunk_bytes
        body = json.dumps({"format": 1, "uid": UID.hex, "created": CREATED.isoformat(timespec="seconds"),
                           "cipher": "AES-256-GCM", "compression": "deflate, sync flush per chunk",
                           "chain": "sha256"}, sort_keys=True, separators=(",", ":")).encode()
        self.file = b"BASTREC1" + struct.pack(">H", len(body)) + body
        self.hash = hashlib.sha256(b"bastion recording chain v1\x00" + self.file).digest()
        self.index = 0
        self.deflate = zlib.compressobj(1, zlib.DEFLATED, -15)
        self.without_trial = 0
        first = header_line(TerminalInfo(), int(CREATED.timestamp()), {"x_bastion": {"format": 1}})
        self._chunk(first, raw=0)

    def _stored(self, plaintext: bytes, raw: int) -> bool:
        if not writer_module._mostly_raw(plaintext, raw):
            self.without_trial = 0
            return False
        if 0 < self.without_trial < writer_module.TRIAL_EVERY:
            self.without_trial += 1
            return True
        stored = writer_module._incompressible(plaintext)
        self.without_trial = 1 if stored else 0
        return stored

    def _chunk(self, plaintext: bytes, raw: int, final: bool = False) -> None:
        if final:
            flags, body = 1, self.deflate.compress(plaintext) + self.deflate.flush(zlib.Z_FINISH)
        elif self._stored(plaintext, raw):
            flags, body = 2, plaintext
        else:
            flags, body = 0, self.deflate.compress(plaintext) + self.deflate.flush(zlib.Z_SYNC_FLUSH)
        place = struct.pack(">IB", self.index, flags)
        nonce = os.urandom(12)
        ciphertext = nonce + AESGCM(KEY).encrypt(
            nonce, body, b"bastion recording chunk\x00" + self.hash + place)
        self.file += b"CHNK" + place + struct.pack(">I", len(ciphertext)) + ciphertext
        self.hash = hashlib.sha256(self.hash + place + ciphertext).digest()
        self.index += 1

    def append(self, events: list[Event]) -> None:
        current, raw = b"", 0
        for event in events:
            for piece in writer_module._split_large(event, self.chunk_bytes // 2):
                record, record_raw = _record(piece)
                if current and len(current) + len(record) > self.chunk_bytes:
                    self._chunk(current, raw)
                    current, raw = b"", 0
                current += record
                raw += record_raw
        if current:
            self._chunk(current, raw)

    def close(self, end_time: float) -> None:
        self.append([Event(end_time, MARKER, marker("end", reason="done"))])
        self._chunk(b"", 0, final=True)


@pytest.mark.parametrize("chunk_bytes", [16 * 1024, 64 * 1024])
def test_the_file_is_byte_for_byte_the_documented_layout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk_bytes: int
) -> None:
    class FixedDateTime(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> FixedDateTime:
            return CREATED  # type: ignore[return-value]

    monkeypatch.setattr(writer_module, "datetime", FixedDateTime)
    monkeypatch.setattr(uuid, "uuid4", lambda: UID)
    batches = _events(random.Random(5))

    monkeypatch.setattr(os, "urandom", _Nonces())
    storage = LocalFolderStorage(tmp_path / "recordings")
    writer = writer_module.RecordingWriter.create(storage, "s/format.rec", KEY, chunk_bytes=chunk_bytes,
                                                  clock=lambda: 100.0)
    for batch in batches:
        writer.append(batch)
    result = writer.close("done")
    written = (tmp_path / "recordings" / "s" / "format.rec").read_bytes()

    monkeypatch.setattr(os, "urandom", _Nonces())  # the same nonces again
    reference = _Reference(chunk_bytes)
    for batch in batches:
        reference.append(batch)
    reference.close(0.0)

    assert reference.index == result.chunk_count
    assert reference.hash.hex() == result.final_hash
    assert len(written) == len(reference.file) == result.size_bytes
    assert written == reference.file
    # Both kinds of chunk are in it: stored binary runs and the deflate stream.
    flags, offset = [], 10 + struct.unpack(">H", written[8:10])[0]
    while offset < len(written):
        magic, _, flag, length = struct.unpack(">4sIBI", written[offset:offset + 13])
        assert magic == b"CHNK"
        flags.append(flag)
        offset += 13 + length
    assert flags[-1] == 1 and {0, 2} <= set(flags[:-1])

    monkeypatch.undo()
    expected = Expected(result.chunk_count, result.final_hash, sealed=True)
    assert verify_file(storage, "s/format.rec", KEY, expected).ok
    got = [(e.code, e.data) for e in RecordingReader(storage, "s/format.rec", KEY, expected).events()]
    streams = {code: b"".join(e.data for b in batches for e in b if e.code == code)
               for code in (OUTPUT, STDERR, INPUT)}
    assert {code: b"".join(d for c, d in got if c == code) for code in streams} == streams
    assert [c for c, _ in got if c not in streams] == ["m", "r", "m", "m", "m"]


@settings(max_examples=400, deadline=None)
@given(time=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10, 10**9)),
       code=st.sampled_from([OUTPUT, STDERR, INPUT, OUTPUT + "b", RESIZE]),
       value=st.one_of(st.text(), st.integers(0, 2**40), st.booleans()))
def test_an_event_line_is_what_json_writes(time: float, code: str, value: str | int) -> None:
    # The writer's own line builder skips the JSON encoder for speed: the bytes must be
    # the same as the documented layout's (every escape, every float, NaN and ints too).
    assert events_module._event_line(time, code, value) == _dump([time, code, value])
