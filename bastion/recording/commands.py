"""Which commands did the technician run? Answered from the recording, without replay.

Interactive shells: the output stream drives a terminal emulator, and when the technician
presses Enter (``\\r`` in the input stream) the line being edited is read off the emulated
screen (``terminal_lines``, shared with the proxy's live check of typed commands).

The line is read when the shell echoes the Enter (the first line feed in the output after
it), not at the keystroke itself: typed-ahead or pasted lines ("ls\\rpwd\\r" at once) are
echoed only once the shell reads them, and reading at the echo gets each one right.

Exec channels and SFTP: their commands are markers in the recording ("exec", "exit",
"sftp"), taken as they are.
"""

from __future__ import annotations

import codecs
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from .events import INPUT, MARKER, OUTPUT, RESIZE, Event, describe_sftp, parse_resize
from .terminal_lines import CANCELS, ENTERS, EditedLine, LineStart, TerminalScreen


@dataclass(frozen=True)
class Command:
    offset_seconds: float
    text: str
    kind: str = "shell"  # shell | exec | sftp
    exit_status: int | None = None


@dataclass
class _Entered:
    """An Enter pressed, waiting for the shell's echo of it."""

    time: float
    start: LineStart | None  # None: typed ahead, before the line's prompt was shown
    typed: str | None  # a typed-ahead line's keys, when all were plain characters
    snapshot: str | None  # the command as the screen showed it at the press


class CommandExtractor:
    def __init__(self, width: int = 80, height: int = 24) -> None:
        self.terminal = TerminalScreen(width, height)
        self._input = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._line = EditedLine()
        self._entered: deque[_Entered] = deque()
        self._output_while_waiting = False
        self._last_prompt = ""
        self.commands: list[Command] = []

    # --- events -----------------------------------------------------------------------

    def feed(self, event: Event) -> None:
        if event.code == OUTPUT:
            self._feed_output(event.data)
        elif event.code == INPUT:
            self._feed_input(event.time, self._input.decode(event.data))
        elif event.code == RESIZE:
            width, height = parse_resize(event.data)
            self.terminal.resize(width, height)
        elif event.code == MARKER:
            self._feed_marker(event.time, event.data)

    def finish(self) -> list[Command]:
        """Lines entered but never echoed (the recording ended first): take them now."""
        self.terminal.flush()
        self._expire()
        return self.commands

    # --- output -----------------------------------------------------------------------

    def _feed_output(self, data: bytes) -> None:
        if not self._entered:
            self.terminal.buffer(data)
            return
        # Enters wait for their echo: emulate exactly, stopping at each line feed.
        self.terminal.flush()
        text = self.terminal.decode(data)
        while self._entered and "\n" in text:
            before, _, text = text.partition("\n")
            self.terminal.emulate(before)
            entry = self._entered[0]
            if entry.start is not None or self._is_echo_of(entry):
                self._entered.popleft()
                self._take_echoed(entry)
            self.terminal.emulate("\n")
        self.terminal.emulate(text)
        self._output_while_waiting = bool(self._entered)

    # --- input ------------------------------------------------------------------------

    def _feed_input(self, time: float, keys: str) -> None:
        self.terminal.flush()
        if self._entered and self._output_while_waiting:
            # Output came after an Enter, not (all) its echo, and now the technician types
            # again: that Enter will not be echoed (a password prompt with echo off, a
            # full-screen program). Take what the screen showed when it was pressed.
            self._expire()
        for key in keys:
            if key in ENTERS:
                self._press_enter(time)
            elif key in CANCELS:
                self._line.cancel()
            else:
                # Typed ahead (an earlier Enter not echoed yet): the line's prompt is not
                # on screen yet; the line is found when the shell echoes it.
                self._line.key(key, self._start_here())

    def _start_here(self) -> LineStart | None:
        if self._line.editing or self._entered:
            return None
        return self.terminal.line_start()

    def _press_enter(self, time: float) -> None:
        start, typed = self._line.enter(self._start_here())
        snapshot = self.terminal.command_on_screen(start) if start is not None else None
        self._entered.append(_Entered(time, start, typed, snapshot))

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

    def _is_echo_of(self, entry: _Entered) -> bool:
        """Is the cursor's line the echo of this typed-ahead line (not output before it)?"""
        if entry.typed:
            rows = len(entry.typed) // self.terminal.columns + 2
            return self.terminal.cursor_text(rows).endswith(entry.typed)
        row = self.terminal.cursor_row()
        return not self._last_prompt.strip() or row.startswith(self._last_prompt.rstrip())

    def _take_echoed(self, entry: _Entered) -> None:
        if entry.start is None and entry.typed:
            # Verified on screen by _is_echo_of; what precedes it on the row is the prompt.
            row = self.terminal.cursor_row().rstrip()
            if row.endswith(entry.typed) and len(row) > len(entry.typed):
                self._last_prompt = row[: -len(entry.typed)]
            self._add(entry.time, entry.typed)
            return
        self._add(entry.time, self.terminal.command_on_screen(entry.start, self._last_prompt))
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
                self._add(entry.time, self.terminal.command_on_screen(entry.start,
                                                                      self._last_prompt))
        self._output_while_waiting = False

    def _add(self, time: float, text: str) -> None:
        if text:
            self.commands.append(Command(time, text))


def extract_commands(events: Iterable[Event], width: int = 80, height: int = 24) -> list[Command]:
    extractor = CommandExtractor(width, height)
    for event in events:
        extractor.feed(event)
    return extractor.finish()
