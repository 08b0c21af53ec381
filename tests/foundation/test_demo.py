"""`make demo` runs `bastion demo`: it must come up on a fresh folder, print the next steps,
and the printed ssh line must reach the bastion's request flow for the demo target."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyotp

from tests.harness.ports import free_port
from tests.harness.tmux import TmuxSession


def _wait_for_output(path: Path, pattern: str, process: subprocess.Popen[bytes],
                     timeout: float = 60) -> re.Match[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = path.read_text(errors="replace") if path.exists() else ""
        match = re.search(pattern, text, re.M)
        if match:
            return match
        assert process.poll() is None, f"bastion demo stopped:\n{text}"
        time.sleep(0.1)
    raise AssertionError(f"{pattern!r} not printed:\n{path.read_text()}")


def test_demo_prints_next_steps_that_work(tmp_path: Path, tmux: TmuxSession) -> None:
    ssh_port, web_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("BASTION_")}
    env.update(BASTION_SSH__LISTEN_PORT=str(ssh_port), BASTION_WEB__LISTEN_PORT=str(web_port))
    log = tmp_path / "demo.log"
    with log.open("wb") as out:
        demo = subprocess.Popen([sys.executable, "-m", "bastion", "demo"], cwd=tmp_path,
                                env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        line = _wait_for_output(log, r"^  (ssh -i .*)$", demo).group(1)
        text = log.read_text()
        for username in ("admin", "approbateur", "dpo"):
            assert re.search(rf"^  {username} +password \S+$", text, re.M)
            # No key yet: the demo prints each account's one-time enrolment link.
            assert re.search(rf"^  {username} +http://\S+/enrol/\S+$", text, re.M)
        assert "demo target: " in text
        # Typed where `make demo` ran, as the printed line expects (relative key paths).
        argv = shlex.split(line)
        command = shlex.join(argv[:1] + ["-o", "StrictHostKeyChecking=yes"] + argv[1:])
        tmux.start(["sh", "-c", f"cd {shlex.quote(str(tmp_path))} && exec {command}"])
        # The second factor the demo enrolled and printed: a one-time code.
        secret = re.search(r"oathtool --totp -b (\w+)", text).group(1)
        # The example contracts speak French (language: fr), as the hospital's vendors do.
        tmux.wait_for(r"Code à usage unique : $", timeout=30)
        tmux.type(pyotp.TOTP(secret).now() + "\n")
        tmux.wait_for(r"Motif de cet accès : $", timeout=30)
        tmux.type("démonstration du bastion\n")
        tmux.wait_for(r"Référence du ticket \(facultatif\) : $")
        tmux.type("\n")
        # The editor's contract allows break-glass: the last question offers it.
        tmux.wait_for(r"Urgence \? tapez URGENCE ou appuyez sur Entrée : $")
        tmux.type("\n")
        tmux.wait_for(r"la demande \d+ attend l'approbation")
    finally:
        demo.send_signal(signal.SIGTERM)
        demo.wait(30)
    assert demo.returncode == 0, log.read_text()[-3000:]
