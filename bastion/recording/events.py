"""The events of a recording and their encoding as asciicast v2 lines.

The sealed plaintext is an asciicast v2 file: a header line, then one JSON array per
event, ``[seconds, code, data]``:

- ``"o"`` output shown to the technician, ``"i"`` input typed, as text; ``"e"`` output
  the target sent on stderr (an exec channel's; a terminal merges it into ``"o"``), kept
  apart so a raw export gives each stream byte for byte (older recordings have none);
- ``"r"`` terminal resize, ``"COLSxROWS"``;
- ``"m"`` marker: a JSON object (as a string, as asciicast wants) for what is not terminal
  output: exec commands and exit status, SFTP operations, forwards, policy decisions,
  warnings, the end reason.

Bytes exactly: asciicast holds text, terminal streams are bytes. Each event's bytes are
split into their longest valid UTF-8 runs, stored as ``"o"``/``"i"`` text, and the rest
(invalid bytes, or a multi-byte character cut by the end of a read) as raw runs: a line
``[seconds, "ob", N]`` (or ``"ib"``) followed by exactly N raw bytes and a newline. Raw
runs cost no base64 expansion, and binary output (an scp or rsync stream on an exec
channel) is stored at its own size. Nothing is carried over to a later event: when
``output(data)`` returns, all of ``data`` is in the recording. Reading joins the runs back
into the exact byte stream; the export re-decodes that stream with an incremental decoder
so characters split across reads come out whole (see export.py). The sealed plaintext is
thus asciicast v2 plus these raw runs; the export is pure asciicast v2.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import islice
from json.encoder import encode_basestring
from typing import Any

OUTPUT = "o"
STDERR = "e"
INPUT = "i"
RESIZE = "r"
MARKER = "m"
_RAW_SUFFIX = "b"
_STREAMS = (OUTPUT, STDERR, INPUT)
# What the technician's screen receives: stdout and stderr.
SHOWN = (OUTPUT, STDERR)
_MARKER_TYPE = re.compile(r"^[a-z][a-z0-9_.-]{0,31}$")

# Marker types the proxy writes (others are accepted; these are what the export labels
# and the command index understand).
MARKER_TYPES = {
    "session": "session facts at start (technician, target, account, grant)",
    "exec": "an exec request: command",
    "exit": "exit status or signal of the channel's command",
    "sftp": "an SFTP operation: op, path, bytes, sha256",
    "sftp.operation": "an SFTP change: operation, paths",
    "sftp.transfer": "an SFTP file transfer: operation (upload/download), path, bytes, sha256",
    "sftp.refused": "an SFTP request refused: operation, path, reason",
    "sftp.hidden": "entries of an SFTP listing hidden by the path rules: path, hidden, reason",
    "forward": "a port forward asked: direction, host, port, allowed",
    "policy": "a policy decision: decision, reasons",
    "warning": "a warning sent to the technician: text",
    "budget": "the output budget was spent: budget_bytes, scope, spent_bytes, refused_bytes",
    "end": "why the session ended: reason",
}


@dataclass(frozen=True)
class Event:
    time: float
    code: str  # "o" | "e" | "i" | "r" | "m"
    data: Any  # bytes for "o"/"e"/"i", "COLSxROWS" for "r", a dict for "m"

    @property
    def marker_type(self) -> str | None:
        return self.data.get("type") if self.code == MARKER else None


@dataclass(frozen=True)
class TerminalInfo:
    """What the asciicast header says about the terminal."""

    width: int = 80
    height: int = 24
    term: str | None = None
    title: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)


def header_line(info: TerminalInfo, timestamp: int, extra: Mapping[str, Any]) -> bytes:
    env = dict(info.env)
    if info.term:
        env.setdefault("TERM", info.term)
    header: dict[str, Any] = {
        "version": 2,
        "width": info.width,
        "height": info.height,
        "timestamp": timestamp,
        "env": env,
    }
    if info.title:
        header["title"] = info.title
    header.update(extra)
    return _dump(header) + b"\n"


def marker(marker_type: str, **fields: Any) -> dict[str, Any]:
    if not _MARKER_TYPE.match(marker_type):
        raise ValueError(f"invalid marker type {marker_type!r}")
    body = {"type": marker_type, **fields}
    json.dumps(body)  # fail here, in the caller, if a field is not JSON
    return body


def _dump(value: Any) -> bytes:
    # ensure_ascii=False keeps non-ASCII text at its UTF-8 size; JSON still escapes every
    # control character, so a line never contains a raw CR or LF.
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": ")).encode()


def _event_line(time: float, code: str, value: str | int) -> bytes:
    """``_dump([time, code, value])``, byte for byte, for the lines every keystroke, echo
    and piece of output makes: without building a JSON encoder it costs a third as much (a
    keystroke's whole append is a few tens of microseconds, several times that on a CPU
    that just woke up). ``code`` is one of this module's codes: no JSON escape in it."""
    if type(time) is float and -math.inf < time < math.inf:  # JSON writes a float as repr
        if isinstance(value, str):
            return f'[{time!r}, "{code}", {encode_basestring(value)}]'.encode()
        if type(value) is int:
            return f'[{time!r}, "{code}", {value}]'.encode()
    return _dump([time, code, value])


_ESCAPED = re.compile("[\udc80-\udcff]+")
# Past this many raw runs in one event (binary output, `cat /dev/urandom`) the whole event
# is stored as one raw run: splitting would make one JSON line per stray byte.
_MAX_RUNS = 8


def _utf8_runs(data: bytes | memoryview) -> list[str | bytes | memoryview]:
    """Split into runs: text for valid UTF-8, raw bytes for the rest (``data`` itself, not
    a copy, when the whole of it is one raw run).

    surrogateescape maps each undecodable byte to one lone surrogate U+DC80..U+DCFF (and
    never produces one from valid input), so one linear pass finds the runs. (``str(data,
    ...)`` is ``data.decode(...)`` for any buffer: a memoryview has no decode.)
    """
    try:
        return [str(data, "utf-8")]  # the common case, at C speed
    except UnicodeDecodeError as error:
        first_bad = error.start
    # Binary output: a short look from the first undecodable byte says whether splitting is
    # worth it (the profile of bulk output showed a longer look costing a sixth of the CPU).
    window = str(data[first_bad:first_bad + 256], "utf-8", "surrogateescape")
    # Counted only up to the one past the limit: random bytes reach it within a few dozen
    # characters, and finding every run of the window cost more than the rest of the event.
    if next(islice(_ESCAPED.finditer(window), _MAX_RUNS, None), None) is not None:
        return [data]
    decoded = str(data, "utf-8", "surrogateescape")
    runs: list[str | bytes | memoryview] = []
    position = 0
    for match in _ESCAPED.finditer(decoded):
        if match.start() > position:
            runs.append(decoded[position:match.start()])
        runs.append(match.group().encode("utf-8", errors="surrogateescape"))
        position = match.end()
        if len(runs) > 2 * _MAX_RUNS:
            return [data]
    if position < len(decoded):
        runs.append(decoded[position:])
    return runs


_NEWLINE = b"\n"


def encode_event_parts(event: Event) -> tuple[list[bytes | memoryview], int, int]:
    """The stored form of an event (its record), as pieces to join: a raw run is the
    event's own buffer, never copied here (the writer joins a chunk's pieces once). With
    the pieces, their total length and how many of those bytes are raw (binary) runs."""
    time = round(event.time, 6)
    if event.code in _STREAMS:
        parts: list[bytes | memoryview] = []
        size = raw = 0
        for run in _utf8_runs(event.data):
            if isinstance(run, str):
                line = _event_line(time, event.code, run)
                parts += (line, _NEWLINE)
                size += len(line) + 1
            else:
                line = _event_line(time, event.code + _RAW_SUFFIX, len(run))
                parts += (line, _NEWLINE, run, _NEWLINE)
                size += len(line) + len(run) + 2
                raw += len(run)
        return parts, size, raw
    if event.code == RESIZE:
        line = _event_line(time, RESIZE, event.data)
    elif event.code == MARKER:
        line = _dump([time, MARKER, json.dumps(event.data, ensure_ascii=False)])
    else:
        raise ValueError(f"unknown event code {event.code!r}")
    return [line, _NEWLINE], len(line) + 1, 0


def _decode_line(line: bytes) -> tuple[Event | None, int]:
    """An event line: the event, or (None, N) for a raw run header announcing N bytes."""
    time, code, data = json.loads(line)
    if not isinstance(time, int | float) or not isinstance(code, str):
        raise ValueError("not an event")
    if code in _STREAMS:
        return Event(float(time), code, data.encode("utf-8")), 0
    if code.endswith(_RAW_SUFFIX) and code[:-1] in _STREAMS:
        if not isinstance(data, int) or data < 0:
            raise ValueError("bad raw run length")
        return None, data
    if code == RESIZE:
        return Event(float(time), code, str(data)), 0
    if code == MARKER:
        try:
            body = json.loads(data)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            body = {"type": "label", "label": str(data)}
        return Event(float(time), code, body), 0
    raise ValueError(f"unknown event code {code!r}")


class EventParser:
    """Stored plaintext, fed in pieces, back to events. The first line is the asciicast
    header (``self.header``). Raises ValueError on anything that is not an event."""

    def __init__(self) -> None:
        self.header: dict[str, Any] | None = None
        self._buffer = bytearray()

    @property
    def pending(self) -> int:
        """Bytes of an event not complete yet."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[Event]:
        self._buffer += data
        events: list[Event] = []
        position = 0
        buffer = self._buffer
        while True:
            end = buffer.find(b"\n", position)
            if end < 0:
                break
            line = bytes(buffer[position:end])
            if self.header is None:
                header = json.loads(line)
                if not isinstance(header, dict) or header.get("version") != 2:
                    raise ValueError("not an asciicast v2 header")
                self.header = header
                position = end + 1
                continue
            event, raw_length = _decode_line(line)
            if event is None:
                start, stop = end + 1, end + 1 + raw_length
                if len(buffer) < stop + 1:
                    break  # the raw bytes continue in the next piece
                if buffer[stop] != 0x0A:
                    raise ValueError("raw run not followed by a newline")
                time, code, _ = json.loads(line)
                event = Event(float(time), code[:-1], bytes(buffer[start:stop]))
                end = stop
            events.append(event)
            position = end + 1
        del self._buffer[:position]
        return events


def describe_sftp(body: dict[str, Any]) -> str | None:
    """One line for an SFTP marker ("upload /opt/x.tgz (10 bytes, sha256 ab12...)"), for
    the command index and the export's chapter labels; None for other markers."""
    kind = body.get("type", "")
    if kind not in ("sftp", "sftp.operation", "sftp.transfer", "sftp.refused"):
        return None
    operation = str(body.get("operation") or body.get("op") or "?")
    paths = body.get("paths") or [body.get(key) for key in ("path", "target_path") if body.get(key)]
    text = " ".join([operation, *map(str, paths)])
    facts = []
    if body.get("bytes") is not None:
        facts.append(f"{body['bytes']} bytes")
    if body.get("sha256"):
        facts.append(f"sha256 {body['sha256']}")
    if facts:
        text += f" ({', '.join(facts)})"
    if kind == "sftp.refused":
        text = f"refused: {text}" + (f": {body['reason']}" if body.get("reason") else "")
    return text


def parse_resize(data: str) -> tuple[int, int]:
    cols, _, rows = data.partition("x")
    return int(cols), int(rows)
