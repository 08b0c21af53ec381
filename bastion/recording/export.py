"""Export to a plain asciicast v2 file that asciinema and its web player read as is.

- Output is re-decoded as one continuous UTF-8 stream (an incremental decoder carries a
  character cut between two reads over to the next event), so for valid UTF-8 output the
  exported output stream equals the recorded bytes exactly. Bytes that are not UTF-8 at
  all cannot be carried by asciicast (it holds text): they become U+FFFD, as a UTF-8
  terminal shows them. The sealed recording keeps them exactly, and the integrity proof
  covers them: :func:`write_raw` (``bastion recordings export --raw``) gives them back.
- Stderr (exec channels) is output on the screen too: exported as ``"o"`` events, decoded
  on its own so a character cut in one stream is not glued to the other's bytes.
- Markers become asciicast ``"m"`` events with a readable label ("exec: ls -l", "end:
  client closed"): the web player shows them as chapter marks.
- Input is left out unless asked for: it may hold what was typed at a prompt the bastion
  could not recognise as a password prompt.
- Only verified data is written; a recording that fails verification raises
  :class:`RecordingCorrupted` (the CLI then removes the partial file).
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterable
from typing import Any, BinaryIO, TextIO

from .errors import RecordingCorrupted
from .events import INPUT, MARKER, OUTPUT, RESIZE, STDERR, Event, describe_sftp
from .reader import RecordingReader

_INTERNAL_HEADER_KEYS = ("x_bastion",)


def marker_label(body: dict[str, Any]) -> str:
    kind = body.get("type", "marker")
    if kind == "exec":
        return f"exec: {body.get('command', '')}"
    if kind == "exit":
        if body.get("signal"):
            return f"exit: signal {body['signal']}"
        return f"exit: status {body.get('status')}"
    if (sftp := describe_sftp(body)) is not None:
        return f"sftp: {sftp}"
    if kind == "end":
        return f"end: {body.get('reason', '')}"
    if kind == "label":
        return str(body.get("label", ""))
    rest = {key: value for key, value in body.items() if key != "type"}
    details = ", ".join(f"{key}={value}" for key, value in rest.items())
    return f"{kind}: {details}" if details else kind


def _line(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False) + "\n"


def write_asciicast(
    header: dict[str, Any], events: Iterable[Event], out: TextIO, *, include_input: bool = False
) -> int:
    """Write ``events`` as asciicast v2 to ``out``; return the number of events written."""
    header = {key: value for key, value in header.items() if key not in _INTERNAL_HEADER_KEYS}
    out.write(_line(header))
    decoders = {
        OUTPUT: codecs.getincrementaldecoder("utf-8")(errors="replace"),
        STDERR: codecs.getincrementaldecoder("utf-8")(errors="replace"),
        INPUT: codecs.getincrementaldecoder("utf-8")(errors="replace"),
    }
    count = 0
    last_time = 0.0
    for event in events:
        last_time = event.time
        if event.code in decoders:
            if event.code == INPUT and not include_input:
                continue
            text = decoders[event.code].decode(event.data)
            if text:
                code = OUTPUT if event.code == STDERR else event.code
                out.write(_line([event.time, code, text]))
                count += 1
        elif event.code == RESIZE:
            out.write(_line([event.time, RESIZE, event.data]))
            count += 1
        elif event.code == MARKER:
            out.write(_line([event.time, MARKER, marker_label(event.data)]))
            count += 1
    for stream in (OUTPUT, STDERR):
        tail = decoders[stream].decode(b"", final=True)
        if tail:  # an incomplete character at the very end: U+FFFD, like a terminal
            out.write(_line([last_time, OUTPUT, tail]))
            count += 1
    return count


def write_raw(reader: RecordingReader, stdout: BinaryIO, stderr: BinaryIO) -> tuple[int, int]:
    """The exact bytes the target sent, stdout and stderr apart, as they were recorded
    (no decoding: binary output and invalid UTF-8 come out as they went in). Streamed,
    never held whole. Returns the byte counts."""
    outs = {OUTPUT: stdout, STDERR: stderr}
    counts = {OUTPUT: 0, STDERR: 0}
    for event in reader.events():
        if event.code in outs:
            outs[event.code].write(event.data)
            counts[event.code] += len(event.data)
    if reader.header is None:
        raise RecordingCorrupted("the recording holds no chunk: chunk 0 is missing", 0)
    return counts[OUTPUT], counts[STDERR]


def export_recording(reader: RecordingReader, out: TextIO, *, include_input: bool = False) -> int:
    events = reader.events()
    # The header is the first line of chunk 0: read the first event (or the end) to get it.
    first: list[Event] = []
    for event in events:
        first.append(event)
        break
    if reader.header is None:
        raise RecordingCorrupted("the recording holds no chunk: chunk 0 is missing", 0)

    def all_events() -> Iterable[Event]:
        yield from first
        yield from events

    return write_asciicast(reader.header, all_events(), out, include_input=include_input)
