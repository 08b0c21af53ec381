"""Command extraction against a real interactive bash, typed key by key in a pty."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bastion.recording import (
    CommandExtractor,
    RecordingReader,
    RecordingWriter,
    TerminalInfo,
    extract_commands,
)
from bastion.recording.events import MARKER, OUTPUT, Event, marker
from bastion.recording.terminal_lines import LiveLine

from .realbash import RealBash

LEFT, UP, BACKSPACE, CTRL_U, CTRL_C, CTRL_L, TAB = "\x1b[D", "\x1b[A", "\x7f", "\x15", "\x03", "\x0c", "\t"


@pytest.fixture(scope="module")
def bash_session(tmp_path_factory):
    """One scripted maintenance session; the events a proxy would have recorded."""
    home = tmp_path_factory.mktemp("home")
    (home / "rapport-maintenance.txt").write_text("ok\n")
    bash = RealBash(home)
    try:
        bash.line("echo hello")
        bash.line("echp", BACKSPACE, "o one")
        bash.line("echo wrld", LEFT, LEFT, LEFT, "o")
        bash.line("rm -rf /srv/dpi", CTRL_U, "echo safe")
        bash.line(UP)  # history recall: the shell redraws "echo safe"
        start = len(bash.output)
        bash.type("sleep 100")
        bash.keys(CTRL_C)  # abandoned: not a command
        bash.prompt(start)
        bash.line("seq 1 40")  # scrolls the screen
        bash.line("cd /tmp")  # the prompt changes
        bash.line("cd -")
        bash.line("echo " + "y" * 70, "z" * 80)  # wraps over two rows
        bash.line("ls /nonexist", CTRL_L, "ent")  # screen cleared, line redrawn
        bash.line("cat rapport-m", TAB)  # completion
        bash.type("read -s -p 'Password: ' pw")
        bash.keys("\r", settle=False)
        bash.read_until(b"Password: ")
        start = len(bash.output)
        bash.keys("s3cret")
        bash.keys("\r", settle=False)  # typed with echo off: not a command
        bash.prompt(start)
        start = len(bash.output)
        bash.keys("echo a\recho b\r", settle=False)  # pasted: typed ahead of the echo
        bash.read_until(b"b\r\n")
        bash.prompt(start)
    finally:
        bash.close()
    return bash.events, bytes(bash.output)


EXPECTED = [
    "echo hello",
    "echo one",
    "echo world",
    "echo safe",
    "echo safe",
    "seq 1 40",
    "cd /tmp",
    "cd -",
    "echo " + "y" * 70 + "z" * 80,
    "ls /nonexistent",
    "cat rapport-maintenance.txt",
    "read -s -p 'Password: ' pw",
    "echo a",
    "echo b",
]


def test_commands_of_a_real_bash_session_in_order(bash_session):
    events, _ = bash_session
    commands = extract_commands(events)
    assert [command.text for command in commands] == EXPECTED
    offsets = [command.offset_seconds for command in commands]
    assert offsets == sorted(offsets)
    assert all(command.kind == "shell" for command in commands)


def test_commands_from_the_sealed_recording(bash_session, storage, data_key):
    """The same session through the writer and back: same bytes, same commands."""
    events, output = bash_session
    writer = RecordingWriter.create(storage, "s/bash.rec", data_key, TerminalInfo(80, 24, "xterm"))
    for event in events:
        writer.append([event])
    writer.close("client closed")
    reader = RecordingReader(storage, "s/bash.rec", data_key)
    recorded = list(reader.events())
    assert b"".join(e.data for e in recorded if e.code == OUTPUT) == output
    assert [c.text for c in extract_commands(recorded, 80, 24)] == EXPECTED


def test_exec_and_sftp_markers_are_commands():
    events = [
        Event(0.5, MARKER, marker("exec", command="systemctl restart dpi")),
        Event(2.0, MARKER, marker("exit", status=3)),
        Event(3.0, MARKER, marker("sftp", op="put", path="/opt/dpi/patch.tgz", bytes=10,
                                  sha256="00" * 32)),
        Event(4.0, MARKER, marker("sftp.operation", operation="rename", paths=["/a", "/b"],
                                  outcome="allowed")),
        Event(5.0, MARKER, marker("sftp.transfer", operation="download", path="/var/log/dpi.log",
                                  bytes=2048, sha256="ff" * 32, closed=True, outcome="ok")),
        Event(6.0, MARKER, marker("sftp.refused", operation="open_read", path="/etc/shadow",
                                  reason="outside the contract's paths", outcome="denied")),
    ]
    commands = extract_commands(events)
    assert [(c.kind, c.text, c.exit_status, c.offset_seconds) for c in commands] == [
        ("exec", "systemctl restart dpi", 3, 0.5),
        ("sftp", f"put /opt/dpi/patch.tgz (10 bytes, sha256 {'00' * 32})", None, 3.0),
        ("sftp", "rename /a /b", None, 4.0),
        ("sftp", f"download /var/log/dpi.log (2048 bytes, sha256 {'ff' * 32})", None, 5.0),
        ("sftp", "refused: open_read /etc/shadow: outside the contract's paths", None, 6.0),
    ]


def test_an_output_flood_is_emulated_only_by_its_tail():
    extractor = CommandExtractor(80, 24)
    extractor.feed(Event(0.0, OUTPUT, b"$ "))
    extractor.feed(Event(0.1, "i", b"cat big.log\r"))
    extractor.feed(Event(0.2, OUTPUT, b"cat big.log\r\n"))
    for n in range(3000):  # 3000 x 200 bytes between two keystrokes
        extractor.feed(Event(0.3, OUTPUT, f"{n:08d} ".encode() * 22 + b"\r\n"))
    extractor.feed(Event(1.0, OUTPUT, b"$ "))
    extractor.feed(Event(1.1, "i", b"uptime\r"))
    extractor.feed(Event(1.2, OUTPUT, b"uptime\r\n"))
    assert [c.text for c in extractor.finish()] == ["cat big.log", "uptime"]


def _scrolls_counted(terminal) -> list[int]:
    """How many line feeds the emulated screen processed (pyte's index), in a list cell."""
    count = [0]
    index = terminal.screen.index

    def counting() -> None:
        count[0] += 1
        index()

    terminal.screen.index = counting
    return count


def test_a_flood_is_scrolled_away_once_not_at_every_trim():
    """Between two keystrokes a flood is trimmed again and again; the screen it scrolled
    away stays blank until something is emulated, so scrolling it again would be wasted
    work (it was most of the cost of indexing a bulk transfer, and runs live on the
    proxy's loop for terminals under command rules)."""
    live = LiveLine(80, 24, burst_keep=4096)
    scrolls = _scrolls_counted(live.terminal)
    for _ in range(200):  # 200 trims' worth of binary output
        live.output(os.urandom(16 * 1024))
    assert scrolls[0] == 24
    live.terminal.flush()  # the kept tail is emulated: the next flood scrolls it away again
    scrolls[0] = 0
    for _ in range(10):
        live.output(os.urandom(16 * 1024))
    assert scrolls[0] == 24


# BEL and ST end an OSC or DCS string; G0 back to ASCII and shifted in; insert mode, origin
# mode, scrolling margins and attributes back to their defaults.
RESET = b"\x07\x1b\\\x1b(B\x0f\x1b[4l\x1b[?6l\x1b[r\x1b[0m"


@settings(max_examples=60, deadline=None)
@given(flood=st.lists(st.binary(min_size=1, max_size=5000), min_size=1, max_size=40),
       text_flood=st.text(min_size=0, max_size=3000))
def test_the_command_after_any_flood_is_read(flood: list[bytes], text_flood: str) -> None:
    """Whatever the flood (binary, or text cut anywhere inside its characters), the line
    typed at the prompt after it is read exactly, live and from the recording. (The prompt
    first ends any control string and character set the flood's bytes may have opened, as
    a terminal's reset would: a real terminal would also swallow or redraw what follows.)"""
    extractor = CommandExtractor(80, 24)
    live = LiveLine(80, 24, burst_keep=1024)
    outputs = [*flood, text_flood.encode() * 3, RESET + b"\r\n$ \x1b[K"]
    for data in outputs:
        extractor.feed(Event(0.1, OUTPUT, data))
        live.output(data)
    for key in (b"u", b"p", b"t", b"i", b"m", b"e"):
        extractor.feed(Event(0.2, "i", key))
        extractor.feed(Event(0.2, OUTPUT, key))
        live.keys(key)
        live.output(key)
    extractor.feed(Event(0.3, "i", b"\r"))
    extractor.feed(Event(0.3, OUTPUT, b"\r\n"))
    (_, entered), = live.keys(b"\r")
    assert [c.text for c in extractor.finish()] == ["uptime"]
    assert "uptime" in entered.readings


def test_live_line_reads_each_line_when_enter_is_pressed(bash_session):
    """The proxy's live reading of the same session, at each Enter keystroke rather than
    at its echo: every command the index finds is among that Enter's readings, the line
    typed at the password prompt is marked secret, and the abandoned line is no Enter."""
    events, _ = bash_session
    live = LiveLine(80, 24)
    entered = []
    for event in events:
        if event.code == OUTPUT:
            live.output(event.data)
        elif event.code == "i":
            pieces = live.keys(event.data)
            assert b"".join(piece for piece, _ in pieces) == event.data
            entered += [line for _, line in pieces if line is not None]
    expected = [*EXPECTED[:12], "s3cret", *EXPECTED[12:]]
    assert len(entered) == len(expected)
    for line, command in zip(entered, expected, strict=True):
        assert command in line.readings, (command, line)
    assert [line.secret for line in entered] == [text == "s3cret" for text in expected]
