"""The demo's OpenSSH target listens where it says: a port taken between the demo's
choice and sshd's bind (another demo, another test) moves it to a free port, instead of
the demo talking to someone else's sshd (seen as "the identity of the target changed")."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

from bastion.demo.sshd_target import start_sshd


def test_a_taken_port_moves_the_demo_sshd_to_a_free_one(tmp_path: Path) -> None:
    ca = tmp_path / "ca"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(ca)], check=True)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process, host_key, listening = start_sshd(tmp_path / "target", port, Path(f"{ca}.pub"))
        try:
            assert listening != port
            scanned = subprocess.run(["ssh-keyscan", "-t", "ed25519", "-p", str(listening),
                                      "127.0.0.1"], capture_output=True, timeout=30)
            assert host_key.read_text().split()[1] in scanned.stdout.decode(), scanned
        finally:
            process.terminate()
            process.wait(10)
