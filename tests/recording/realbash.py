"""A real ``bash -i`` in a pseudo-terminal, driven keystroke by keystroke, whose echoes
and outputs are captured as timed recording events: what the proxy would see between a
technician's terminal and a target's shell."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import signal
import struct
import termios
import time
from pathlib import Path

from bastion.recording.events import INPUT, OUTPUT, Event

PROMPT = "tech@dpi-app-01:\\w$ "  # a literal $: the tests may run as root


class RealBash:
    def __init__(self, home: Path, width: int = 80, height: int = 24) -> None:
        self.width, self.height = width, height
        self.events: list[Event] = []
        self.output = bytearray()
        self._start = time.monotonic()
        env = {
            "PATH": "/usr/bin:/bin",
            "HOME": str(home),
            "TERM": "xterm",
            "PS1": PROMPT,
            "INPUTRC": "/dev/null",
            "HISTFILE": "/dev/null",
            "LANG": "C.UTF-8",
        }
        pid, fd = pty.fork()
        if pid == 0:  # child: a login-less interactive shell on the pty
            os.chdir(home)
            os.execve("/bin/bash", ["bash", "--norc", "--noprofile", "-i"], env)
        self.pid, self.fd = pid, fd
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))
        self.read_until(b"$ ")

    def _now(self) -> float:
        return time.monotonic() - self._start

    def _read_some(self, timeout: float) -> bytes:
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return b""
        try:
            data = os.read(self.fd, 65536)
        except OSError:
            return b""
        if data:
            self.events.append(Event(self._now(), OUTPUT, data))
            self.output += data
        return data

    def read_until(self, marker: bytes, timeout: float = 10.0) -> None:
        start = len(self.output)
        deadline = time.monotonic() + timeout
        while marker not in self.output[start:]:
            if time.monotonic() > deadline:
                raise TimeoutError(f"bash did not print {marker!r}; got {bytes(self.output[start:])!r}")
            self._read_some(0.2)

    def settle(self, quiet: float = 0.03) -> None:
        """Read until bash has been quiet for ``quiet`` seconds (its echo is in)."""
        while self._read_some(quiet):
            pass

    def keys(self, data: str, *, settle: bool = True) -> None:
        raw = data.encode()
        self.events.append(Event(self._now(), INPUT, raw))
        os.write(self.fd, raw)
        if settle:
            self.settle()

    def type(self, text: str) -> None:
        """Type like a person: one key at a time, each echoed before the next."""
        for char in text:
            self.keys(char)

    def line(self, *parts: str) -> None:
        """Type a command line and press Enter. Printable parts are typed a key at a time
        (long ones, over 20 characters, arrive at once, like a fast typist's burst);
        control parts (arrows, Ctrl-U, Tab...) are single keys."""
        for part in parts:
            if part.isprintable() and len(part) <= 20:
                self.type(part)
            else:
                self.keys(part)
        self.enter()

    def prompt(self, start: int | None = None) -> None:
        """Wait until bash shows its prompt (after output position ``start``)."""
        start = len(self.output) if start is None else start
        deadline = time.monotonic() + 10
        while not bytes(self.output[start:]).endswith(b"$ "):
            if time.monotonic() > deadline:
                raise TimeoutError(f"no prompt: {bytes(self.output[start:])!r}")
            self._read_some(0.2)
        self.settle()

    def enter(self) -> None:
        """Press Enter and wait for the next prompt."""
        start = len(self.output)
        self.keys("\r", settle=False)
        self.prompt(start)

    def close(self) -> None:
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.waitpid(self.pid, 0)
        os.close(self.fd)
