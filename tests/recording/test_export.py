"""Export: a plain asciicast v2 whose output stream is the recorded output, byte for byte,
as standard asciinema tools print it."""

from __future__ import annotations

import asyncio
import io
import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bastion.recording import RecordingReader, RecordingWriter, SessionRecorder, TerminalInfo
from bastion.recording.export import export_recording

KEY = "2025/03/14/session-3-exec-export.rec"

# What the target prints: every ASCII byte (NUL, ESC, CR, LF and the other controls
# included), colours, accented letters, CJK and a 4-byte emoji, so that random read sizes
# cut multi-byte characters between two reads.
KNOWN = (
    bytes(range(128))
    + "\x1b[1;31mDossier patient n°42 — résumé: 日本語 テスト 😀\x1b[0m\r\n".encode()
    + "ligne 2\ttabulée\r\n".encode() * 3
    + "€uro ünïcödé 🏥🩺\n".encode()
)
TARGET_SCRIPT = """
import os, random, sys
data = sys.stdin.buffer.read()
random.seed(7)
position = 0
while position < len(data):
    size = random.randint(1, 9)
    os.write(1, data[position:position + size])
    position += size
"""


def record_target_output(storage, data_key, known: bytes) -> None:
    """Run a target script that prints ``known``, relay its stdout through the recorder
    in randomly sized reads, as the proxy does for an exec channel."""

    async def scenario():
        writer = RecordingWriter.create(storage, KEY, data_key, TerminalInfo(100, 30, "xterm-256color"))
        recorder = SessionRecorder(writer)
        await recorder.marker("exec", command="python3 print-known.py")
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-c", TARGET_SCRIPT,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        )
        process.stdin.write(known)
        process.stdin.close()
        rng = random.Random(11)
        while chunk := await process.stdout.read(rng.randint(1, 7)):
            await recorder.output(chunk)
            await recorder.input(b"\x1b[A" if rng.random() < 0.05 else b"")
        status = await process.wait()
        await recorder.marker("exit", status=status)
        await recorder.close("exit status 0")

    asyncio.run(scenario())


def cast_lines(text: str) -> tuple[dict, list[list]]:
    lines = text.splitlines()
    return json.loads(lines[0]), [json.loads(line) for line in lines[1:]]


def test_exported_output_stream_equals_the_target_bytes(storage, data_key, tmp_path):
    record_target_output(storage, data_key, KNOWN)
    reader = RecordingReader(storage, KEY, data_key)
    assert reader.output_bytes() == KNOWN

    out = io.StringIO()
    export_recording(RecordingReader(storage, KEY, data_key), out)
    header, events = cast_lines(out.getvalue())
    assert header["version"] == 2 and (header["width"], header["height"]) == (100, 30)
    assert "x_bastion" not in header
    assert {event[1] for event in events} == {"o", "m"}  # input left out by default
    exported = "".join(event[2] for event in events if event[1] == "o").encode("utf-8")
    assert exported == KNOWN
    times = [event[0] for event in events]
    assert times == sorted(times)
    labels = [event[2] for event in events if event[1] == "m"]
    assert labels == ["exec: python3 print-known.py", "exit: status 0", "end: exit status 0"]


def test_asciinema_cat_prints_the_target_bytes(storage, data_key, tmp_path):
    asciinema = Path(sys.executable).with_name("asciinema")
    if not asciinema.exists():
        asciinema = shutil.which("asciinema")
    assert asciinema, "the test extra installs asciinema (2.x, pure Python)"
    record_target_output(storage, data_key, KNOWN)
    cast = tmp_path / "export.cast"
    with cast.open("w", encoding="utf-8") as out:
        export_recording(RecordingReader(storage, KEY, data_key), out)
    printed = subprocess.run(
        [str(asciinema), "cat", str(cast)], capture_output=True, check=True, timeout=30,
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
        start_new_session=True,  # no controlling terminal: asciinema must not touch ours
    ).stdout
    assert printed == KNOWN


def test_invalid_utf8_is_kept_exactly_in_the_recording_and_replaced_in_the_export(
    storage, data_key
):
    raw = b"ok \xff\xfe bad \xc3( cut \xe2\x82"
    writer = RecordingWriter.create(storage, KEY, data_key)
    writer.output(raw[:9])
    writer.output(raw[9:])
    writer.close("done")
    assert RecordingReader(storage, KEY, data_key).output_bytes() == raw
    out = io.StringIO()
    export_recording(RecordingReader(storage, KEY, data_key), out)
    _, events = cast_lines(out.getvalue())
    text = "".join(event[2] for event in events if event[1] == "o")
    assert text == raw.decode("utf-8", errors="replace")


def test_input_is_exported_only_when_asked(storage, data_key):
    writer = RecordingWriter.create(storage, KEY, data_key)
    writer.input(b"ls\r")
    writer.output(b"ls\r\nfile\r\n")
    writer.resize(120, 40)
    writer.marker("sftp", op="put", path="/tmp/a.sql", bytes=12, sha256="ab" * 32)
    writer.close("done")
    out = io.StringIO()
    export_recording(RecordingReader(storage, KEY, data_key), out, include_input=True)
    _, events = cast_lines(out.getvalue())
    assert [event[1:] for event in events] == [
        ["i", "ls\r"],
        ["o", "ls\r\nfile\r\n"],
        ["r", "120x40"],
        ["m", f"sftp: put /tmp/a.sql (12 bytes, sha256 {'ab' * 32})"],
        ["m", "end: done"],
    ]


@pytest.mark.parametrize("size", [1, 2, 3])
def test_a_character_cut_at_the_very_end_shows_as_replacement(storage, data_key, size):
    writer = RecordingWriter.create(storage, KEY, data_key)
    writer.output("fin 😀".encode()[: 4 + size])
    writer.close("done")
    out = io.StringIO()
    export_recording(RecordingReader(storage, KEY, data_key), out)
    _, events = cast_lines(out.getvalue())
    assert "".join(event[2] for event in events if event[1] == "o") == "fin \ufffd"
