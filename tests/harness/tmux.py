"""Drive an interactive PTY session in tmux and read the screen, as a person would."""

from __future__ import annotations

import re
import shlex
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass
class TmuxSession:
    workdir: Path
    name: str = "t"

    def __post_init__(self) -> None:
        # A short path: Unix socket paths are limited to ~100 bytes, pytest tmp paths are long.
        self.socket = Path(tempfile.mkdtemp(prefix="tmux-")) / "s"

    def _tmux(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["tmux", "-S", str(self.socket), *args], capture_output=True,
                              text=True, check=check)

    def start(self, argv: list[str], width: int = 120, height: int = 40) -> TmuxSession:
        self._tmux("-f", "/dev/null", "new-session", "-d", "-s", self.name, "-x", str(width),
                   "-y", str(height), shlex.join(argv))
        self._tmux("set-option", "-t", self.name, "remain-on-exit", "on")
        return self

    def type(self, text: str) -> None:
        self._tmux("send-keys", "-t", self.name, "-l", text)

    def press(self, *keys: str) -> None:
        self._tmux("send-keys", "-t", self.name, *keys)

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", self.name, "-J").stdout

    def wait_for(self, pattern: str, timeout: float = 20.0) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        compiled = re.compile(pattern, re.M)
        while True:
            screen = self.screen()
            match = compiled.search(screen)
            if match:
                return match
            if time.monotonic() > deadline:
                raise AssertionError(f"{pattern!r} not on screen after {timeout} s:\n{screen}")
            time.sleep(0.05)

    def resize(self, width: int, height: int) -> None:
        self._tmux("resize-window", "-t", self.name, "-x", str(width), "-y", str(height))

    def pane_dead(self) -> bool:
        return self._tmux("display-message", "-p", "-t", self.name, "#{pane_dead}").stdout.strip() == "1"

    def kill(self) -> None:
        self._tmux("kill-server", check=False)
