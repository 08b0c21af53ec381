"""Which commands did the technician run? Answered from the recording, without replay.

Interactive shells: the output stream drives a terminal emulator (pyte). When the
technician presses Enter (``\\r`` in the input stream), the line being edited is read off
the emulated screen, not reconstructed from keystrokes: backspaces, cursor moves, Ctrl-U,
history recall and completion are all done by the shell, which redraws its line, so the
screen shows the command as the shell received it. The prompt is what the cursor's line
held when the technician started typing, and is stripped.

The line is read when the shell echoes the Enter (the first line feed in the output after
it), not at the keystroke itself: typed-ahead or pasted lines ("ls\\rpwd\\r" at once) are
echoed only once the shell reads them, and reading at the echo gets each one right.

Exec channels and SFTP: their commands are markers in the recording ("exec", "exit",
"sftp"), taken as they are.

Long output bursts: the screen after a burst depends (almost) only on its end, so of the
output between two keystrokes only the last ``_BURST_KEEP`` characters are emulated. This
bounds the cost of indexing an output flood.
"""

from __future__ import annotations

import codecs
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

import pyte

from .events import INPUT, MARKER, OUTPUT, RESIZE, Event, describe_sftp, parse_resize

_BURST_KEEP = 64 * 1024
# A terminal's Enter sends CR; in raw mode readline also takes LF (Ctrl-J, or a client that
# sends newlines, like tmux's literal keys or a pasted script) as the end of the line.
_ENTERS = ("\r", "\n")
_CANCEL = ("\x03", "\x04")  # Ctrl-C, Ctrl-D: the line being edited is dropped
_PROMPT_SEARCH_ROWS = 12


@dataclass(frozen=True)
class Command:
    offset_seconds: float
    text: str
    kind: str = "shell"  # shell | exec | sftp
    exit_status: int | None = None


class _Screen(pyte.Screen):
    """A screen that counts scrolled lines, to follow a prompt row as the screen scrolls."""

    def __init__(self, columns: int, lines: int) -> None:
        super().__init__(columns, lines)
        self.scrolled = 0

    def index(self) -> None:
        top, bottom = self.margins or pyte.screens.Margins(0, self.lines - 1)
        if self.cursor.y == bottom:
            self.scrolled += 1
        super().index()


@dataclass(frozen=True)
class _LineStart:
    row: int  # absolute row (screen row + lines scrolled so far)
    prompt: str  # what the row held left of the cursor when typing began


@dataclass
class _Entered:
    """An Enter pressed, waiting for the shell's echo of it."""

    time: float
    start: _LineStart | None  # None: typed ahead, before the line's prompt was shown
    typed: str | None  # a typed-ahead line's keys, when all were plain characters
    snapshot: str | None  # the command as the screen showed it at the press


class CommandExtractor:
    def __init__(self, width: int = 80, height: int = 24) -> None:
        self.screen = _Screen(width, height)
        self.stream = pyte.Stream(self.screen)
        self._output = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._input = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._burst: list[str] = []
        self._burst_size = 0
        self._editing = False
        self._start: _LineStart | None = None  # of the line being typed (None: typed ahead)
        self._typed: list[str] | None = []  # its keys while all are plain characters
        self._entered: deque[_Entered] = deque()
        self._output_while_waiting = False
        self._last_prompt = ""
        self.commands: list[Command] = []

    # --- events -----------------------------------------------------------------------

    def feed(self, event: Event) -> None:
        if event.code == OUTPUT:
            self._feed_output(self._output.decode(event.data))
        elif event.code == INPUT:
            self._feed_input(event.time, self._input.decode(event.data))
        elif event.code == RESIZE:
            self._flush_burst()
            width, height = parse_resize(event.data)
            self.screen.resize(height, width)
        elif event.code == MARKER:
            self._feed_marker(event.time, event.data)

    def finish(self) -> list[Command]:
        """Lines entered but never echoed (the recording ended first): take them now."""
        self._flush_burst()
        self._expire()
        return self.commands

    # --- output -----------------------------------------------------------------------

    def _feed_output(self, text: str) -> None:
        if not self._entered:
            self._burst.append(text)
            self._burst_size += len(text)
            if self._burst_size > 4 * _BURST_KEEP:
                self._trim_burst()
            return
        # Enters wait for their echo: emulate exactly, stopping at each line feed.
        self._flush_burst()
        while self._entered and "\n" in text:
            before, _, text = text.partition("\n")
            self.stream.feed(before)
            entry = self._entered[0]
            if entry.start is not None or self._is_echo_of(entry):
                self._entered.popleft()
                self._take_echoed(entry)
            self.stream.feed("\n")
        self.stream.feed(text)
        self._output_while_waiting = bool(self._entered)

    def _trim_burst(self) -> None:
        joined = "".join(self._burst)
        tail = joined[-_BURST_KEEP:]
        # Start at a line start, so the kept part does not begin inside an escape sequence.
        newline = tail.find("\n")
        tail = tail[newline + 1:] if newline >= 0 else tail
        self.stream.feed("\r\n" * self.screen.lines)  # what came before scrolls away
        self._burst, self._burst_size = [tail], len(tail)

    def _flush_burst(self) -> None:
        if self._burst:
            joined = "".join(self._burst)
            self._burst, self._burst_size = [], 0
            self.stream.feed(joined)

    # --- input ------------------------------------------------------------------------

    def _feed_input(self, time: float, keys: str) -> None:
        self._flush_burst()
        if self._entered and self._output_while_waiting:
            # Output came after an Enter, not (all) its echo, and now the technician types
            # again: that Enter will not be echoed (a password prompt with echo off, a
            # full-screen program). Take what the screen showed when it was pressed.
            self._expire()
        for key in keys:
            if key in _ENTERS:
                self._press_enter(time)
            elif key in _CANCEL:
                self._editing = False
            else:
                if not self._editing:
                    self._editing = True
                    # Typed ahead (an earlier Enter not echoed yet): the line's prompt is
                    # not on screen yet; the line is found when the shell echoes it.
                    self._start = None if self._entered else self._line_start()
                    self._typed = []
                if self._typed is not None:
                    self._typed = self._typed + [key] if key.isprintable() else None

    def _press_enter(self, time: float) -> None:
        if not self._editing:
            self._start = None if self._entered else self._line_start()
            self._typed = []
        start = self._start
        typed = "".join(self._typed).strip() if self._typed is not None else None
        snapshot = self._command_on_screen(start) if start is not None else None
        self._entered.append(_Entered(time, start, typed, snapshot))
        self._editing = False

    def _feed_marker(self, time: float, body: dict) -> None:
        kind = body.get("type")
        if kind == "exec" and body.get("command"):
            self.commands.append(Command(time, str(body["command"]), "exec"))
        elif kind == "exit" and self.commands and self.commands[-1].kind == "exec":
            last = self.commands[-1]
            status = body.get("status")
            self.commands[-1] = Command(
                last.offset_seconds, last.text, last.kind, status if isinstance(status, int) else None
            )
        elif (text := describe_sftp(body)) is not None:
            self.commands.append(Command(time, text, "sftp"))

    # --- reading the screen -----------------------------------------------------------

    def _line_start(self) -> _LineStart:
        cursor = self.screen.cursor
        prompt = self.screen.display[cursor.y][: cursor.x]
        return _LineStart(cursor.y + self.screen.scrolled, prompt)

    def _cursor_text(self, rows: int) -> str:
        """The cursor's row and the ``rows - 1`` above it, joined (a wrapped line)."""
        cursor_row = self.screen.cursor.y
        return "".join(self.screen.display[max(0, cursor_row - rows + 1):cursor_row + 1]).rstrip()

    def _is_echo_of(self, entry: _Entered) -> bool:
        """Is the cursor's line the echo of this typed-ahead line (not output before it)?"""
        if entry.typed:
            rows = len(entry.typed) // self.screen.columns + 2
            return self._cursor_text(rows).endswith(entry.typed)
        row = self.screen.display[self.screen.cursor.y]
        return not self._last_prompt.strip() or row.startswith(self._last_prompt.rstrip())

    def _command_on_screen(self, start: _LineStart | None) -> str:
        display = self.screen.display
        cursor_row = self.screen.cursor.y
        prompt = start.prompt if start is not None else self._last_prompt
        # Where the line starts now: the row it started on (followed through scrolling)
        # if it still shows the prompt; else the nearest row above the cursor that does
        # (typed ahead, or the screen was cleared and the line redrawn).
        first = None
        if start is not None:
            row = start.row - self.screen.scrolled
            if 0 <= row <= cursor_row and display[row].startswith(prompt):
                first = row
        if first is None:
            first = cursor_row
            if prompt.strip():
                for row in range(cursor_row, max(-1, cursor_row - _PROMPT_SEARCH_ROWS), -1):
                    if display[row].startswith(prompt.rstrip()):
                        first = row
                        break
        # A line longer than the screen is wide wraps: its rows join up exactly.
        text = "".join(display[first:cursor_row + 1]).rstrip()
        # Compared without trailing blanks: the line was right-stripped, and a prompt with
        # nothing typed after it ("Password: ") must strip to nothing.
        if prompt.strip() and text.startswith(prompt.rstrip()):
            text = text[len(prompt.rstrip()):]
        return text.strip()

    def _take_echoed(self, entry: _Entered) -> None:
        if entry.start is None and entry.typed:
            # Verified on screen by _is_echo_of; what precedes it on the row is the prompt.
            row = self.screen.display[self.screen.cursor.y].rstrip()
            if row.endswith(entry.typed) and len(row) > len(entry.typed):
                self._last_prompt = row[: -len(entry.typed)]
            self._add(entry.time, entry.typed)
            return
        self._add(entry.time, self._command_on_screen(entry.start))
        if entry.start is not None and entry.start.prompt.strip():
            self._last_prompt = entry.start.prompt

    def _expire(self) -> None:
        while self._entered:
            entry = self._entered.popleft()
            if entry.snapshot is not None:
                self._add(entry.time, entry.snapshot)
            elif entry.typed:
                self._add(entry.time, entry.typed)
            else:
                self._add(entry.time, self._command_on_screen(entry.start))
        self._output_while_waiting = False

    def _add(self, time: float, text: str) -> None:
        if text:
            self.commands.append(Command(time, text))


def extract_commands(events: Iterable[Event], width: int = 80, height: int = 24) -> list[Command]:
    extractor = CommandExtractor(width, height)
    for event in events:
        extractor.feed(event)
    return extractor.finish()
