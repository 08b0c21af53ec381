"""The line a person is editing on a terminal, read off an emulated screen (pyte).

One implementation for two readers: the command index, which replays a recording once it
is sealed (``commands.CommandExtractor``), and the proxy, which follows each live terminal
to check a typed line against the contract's command rules when Enter is pressed
(``LiveLine``). Both feed terminal output and typed keys; neither needs to know where they
come from (this module knows nothing of SSH).

The line is read off the screen, not rebuilt from keystrokes: backspaces, cursor moves,
Ctrl-U, history recall and completion are all done by the shell, which redraws its line,
so the screen shows the command as the shell has it. The prompt is what the cursor's row
held when typing began, and is stripped.

Long output bursts: the screen after a burst depends (almost) only on its end, so of the
output between two keystrokes only the last ``burst_keep`` bytes are decoded and emulated.
This bounds the cost of an output flood.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

import pyte
from wcwidth import wcwidth

from .masking import at_secret_prompt

BURST_KEEP = 64 * 1024
# Live, the emulation runs on the proxy's event loop at the next keystroke: the end of a
# flood that holds the prompt row is enough, and costs a few milliseconds at most.
LIVE_BURST_KEEP = 4 * 1024
# A terminal's Enter sends CR; in raw mode readline also takes LF (Ctrl-J, or a client that
# sends newlines, like tmux's literal keys or a pasted script) as the end of the line.
ENTERS = ("\r", "\n")
CANCELS = ("\x03", "\x04")  # Ctrl-C, Ctrl-D: the line being edited is dropped
_ENTER_FIND = re.compile(b"[\r\n]")
_CANCEL_SPLIT = re.compile(f"([{''.join(CANCELS)}])")
_PROMPT_SEARCH_ROWS = 12


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

    def row(self, y: int) -> str:
        """One row of ``display``, rendered alone: reading a line must not cost the
        rendering of the whole screen (10,000 cells on a 200 x 50 terminal)."""
        line = self.buffer[y]
        cells = []
        wide = False
        for x in range(self.columns):
            if wide:  # the stub cell after a wide character
                wide = False
                continue
            char = line[x].data
            wide = wcwidth(char[0]) == 2
            cells.append(char)
        return "".join(cells)


@dataclass(frozen=True)
class LineStart:
    row: int  # absolute row (screen row + lines scrolled so far)
    prompt: str  # what the row held left of the cursor when typing began


class TerminalScreen:
    """The technician's screen, fed with output as it is shown."""

    def __init__(self, width: int = 80, height: int = 24, burst_keep: int = BURST_KEEP) -> None:
        self.screen = _Screen(width, height)
        self.stream = pyte.Stream(self.screen)
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        # Output not emulated yet, as shown (bytes): only its end is ever decoded. Decoding a
        # binary flood in full cost half of its indexing (replacement characters).
        self._burst: list[bytes] = []
        self._burst_size = 0
        self._burst_keep = burst_keep
        self._scrolled_away = False  # nothing emulated since the last trim scrolled it away

    def decode(self, data: bytes) -> str:
        """For output emulated at once (:meth:`emulate`): :meth:`flush` the burst first."""
        return self._decoder.decode(data)

    def buffer(self, data: bytes) -> None:
        """Output to emulate later, when the screen is next read (only its end counts)."""
        self._burst.append(data)
        self._burst_size += len(data)
        if self._burst_size > 4 * self._burst_keep:
            self._trim_burst()

    def emulate(self, text: str) -> None:
        self.flush()
        self.stream.feed(text)
        self._scrolled_away = False

    def flush(self) -> None:
        if self._burst_size > self._burst_keep:
            self._trim_burst()
        if self._burst:
            joined = b"".join(self._burst)
            self._burst, self._burst_size = [], 0
            self.stream.feed(self._decoder.decode(joined))
            self._scrolled_away = False

    def resize(self, width: int, height: int) -> None:
        self.flush()
        self.screen.resize(height, width)
        self._scrolled_away = False

    def _trim_burst(self) -> None:
        joined = b"".join(self._burst)
        tail = joined[-self._burst_keep:]
        # Start at a line start, so the kept part does not begin inside an escape sequence
        # (nor inside a character: a line feed is never part of one in UTF-8).
        newline = tail.find(b"\n")
        if newline >= 0:
            tail = tail[newline + 1:]
        else:
            for _ in range(3):  # no line start: at least a character's start
                if tail[:1] and tail[0] & 0xC0 == 0x80:
                    tail = tail[1:]
        if not self._scrolled_away:
            # What came before scrolls away; once is enough until something is emulated.
            self.stream.feed("\r\n" * self.screen.lines)
            self._scrolled_away = True
        self._decoder.reset()  # a character cut at the start of the dropped part is dropped
        self._burst, self._burst_size = [tail], len(tail)

    # --- reading (the burst is flushed first by the callers' flush) ---------------------

    @property
    def columns(self) -> int:
        return int(self.screen.columns)

    def cursor_row(self) -> str:
        return self.screen.row(self.screen.cursor.y)

    def line_start(self) -> LineStart:
        cursor = self.screen.cursor
        prompt = self.screen.row(cursor.y)[: cursor.x]
        return LineStart(cursor.y + self.screen.scrolled, prompt)

    def _rows(self, first: int, last: int) -> str:
        return "".join(self.screen.row(y) for y in range(first, last + 1))

    def cursor_text(self, rows: int) -> str:
        """The cursor's row and the ``rows - 1`` above it, joined (a wrapped line)."""
        cursor_row = self.screen.cursor.y
        return self._rows(max(0, cursor_row - rows + 1), cursor_row).rstrip()

    def command_on_screen(self, start: LineStart | None, last_prompt: str = "") -> str:
        """The line being edited as the screen shows it, without its prompt. ``start`` is
        where typing began (``None``: typed ahead, found by ``last_prompt``)."""
        row_text = self.screen.row
        cursor_row = self.screen.cursor.y
        prompt = start.prompt if start is not None else last_prompt
        # Where the line starts now: the row it started on (followed through scrolling)
        # if it still shows the prompt; else the nearest row above the cursor that does
        # (typed ahead, or the screen was cleared and the line redrawn).
        first = None
        if start is not None:
            row = start.row - self.screen.scrolled
            if 0 <= row <= cursor_row and row_text(row).startswith(prompt):
                first = row
        if first is None:
            first = cursor_row
            if prompt.strip():
                for row in range(cursor_row, max(-1, cursor_row - _PROMPT_SEARCH_ROWS), -1):
                    if row_text(row).startswith(prompt.rstrip()):
                        first = row
                        break
        # A line longer than the screen is wide wraps: its rows join up exactly.
        text = self._rows(first, cursor_row).rstrip()
        # Compared without trailing blanks: the line was right-stripped, and a prompt with
        # nothing typed after it ("Password: ") must strip to nothing.
        if prompt.strip() and text.startswith(prompt.rstrip()):
            text = text[len(prompt.rstrip()):]
        return text.strip()


class EditedLine:
    """The keys of the line being typed: where it began on screen, and the keys themselves
    while all are plain characters (a pasted or typed-ahead line, before any echo)."""

    def __init__(self) -> None:
        self.editing = False
        self.start: LineStart | None = None  # None: typed ahead, its prompt not shown yet
        self.keys: list[str] | None = []

    def key(self, keys: str, start: LineStart | None) -> None:
        """Keys other than Enter or a cancel; ``start`` is used if they begin the line."""
        if not self.editing:
            self.editing = True
            self.start = start
            self.keys = []
        if self.keys is not None:
            if keys.isprintable():
                self.keys.append(keys)
            else:
                self.keys = None

    def cancel(self) -> None:
        self.editing = False

    def enter(self, start: LineStart | None) -> tuple[LineStart | None, str | None]:
        """The line ends: where it began, and its plain keys (``None`` if any was not)."""
        if not self.editing:
            self.start, self.keys = start, []
        typed = "".join(self.keys).strip() if self.keys is not None else None
        self.editing = False
        return self.start, typed


@dataclass(frozen=True)
class EnteredLine:
    """A line Enter was pressed on, as read each way (see ``LiveLine``)."""

    readings: tuple[str, ...]
    secret: bool  # typed at a password prompt: the readings must not be shown or stored


class LiveLine:
    """Follows one live terminal and says, when Enter is pressed, which line it enters.

    Output must be fed as it is shown, keys as they are typed, each key before the next
    output. At an Enter the line is read two ways: off the screen, and from the plain keys
    typed since the line began. The two differ only while the shell's echo of the last keys
    is still on its way (a paste, a fast typist): both readings are returned, and a caller
    checking rules checks each.
    """

    def __init__(self, width: int = 80, height: int = 24, burst_keep: int = LIVE_BURST_KEEP) -> None:
        self.terminal = TerminalScreen(width, height, burst_keep)
        self._input = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._line = EditedLine()
        self._unechoed: list[str] | None = []  # plain keys typed since the last output

    def output(self, data: bytes) -> None:
        self.terminal.buffer(data)
        self._unechoed = []

    def resize(self, width: int, height: int) -> None:
        self.terminal.resize(width, height)

    def keys(self, data: bytes) -> list[tuple[bytes, EnteredLine | None]]:
        """Split typed bytes into pieces, each ``(bytes, entered)``: ``entered`` is
        ``None`` for keys that do not end a line; for a piece that is an Enter, the line it
        enters as read each way (empty readings dropped, duplicates merged). The pieces
        join back into ``data`` exactly (an Enter is one byte, never inside a character)."""
        pieces: list[tuple[bytes, EnteredLine | None]] = []
        begun = 0
        for enter in _ENTER_FIND.finditer(data):
            index = enter.start()
            if begun < index:
                pieces.append((data[begun:index], None))
                self._keys(self._input.decode(data[begun:index]))
            pieces.append((data[index:index + 1], self._enter()))
            begun = index + 1
        if begun < len(data):
            pieces.append((data[begun:], None))
            self._keys(self._input.decode(data[begun:]))
        return pieces

    def _keys(self, text: str) -> None:
        for run in _CANCEL_SPLIT.split(text):
            if not run:
                continue
            if run in CANCELS:
                self._line.cancel()
                self._unechoed = []
                continue
            start = None
            if not self._line.editing:
                self.terminal.flush()
                start = self.terminal.line_start()
            self._line.key(run, start)
            if self._unechoed is not None:
                if run.isprintable():
                    self._unechoed.append(run)
                else:
                    self._unechoed = None

    def _enter(self) -> EnteredLine:
        self.terminal.flush()
        start, typed = self._line.enter(self.terminal.line_start())
        on_screen = self.terminal.command_on_screen(start)
        readings = [on_screen, typed or ""]
        if self._unechoed:
            # Keys typed after the last output are not on screen yet: at the cursor, they
            # would end the line (the common case of typing then pressing Enter at once).
            readings.append((on_screen + "".join(self._unechoed)).strip())
        self._unechoed = []
        secret = start is not None and at_secret_prompt(start.prompt.encode())
        return EnteredLine(tuple(dict.fromkeys(r for r in readings if r)), secret)
