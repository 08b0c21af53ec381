"""The demo DPI target: a real OpenSSH sshd trusting the bastion's target CA."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import time
from pathlib import Path

DEMO_ACCOUNTS = ("maint", "appadmin", "dbmaint", "pacsmaint")


def find_sshd() -> str | None:
    for candidate in (shutil.which("sshd"), "/usr/sbin/sshd"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def ensure_accounts() -> list[str]:
    """Create the demo maintenance accounts (root only); return those that exist."""
    for name in DEMO_ACCOUNTS:
        try:
            pwd.getpwnam(name)
        except KeyError:
            subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", name], check=True)
        # '*' = no password, not locked: sshd refuses locked accounts even for certificates.
        subprocess.run(["usermod", "-p", "*", name], check=True)
    return list(DEMO_ACCOUNTS)


def _wait_for(port: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"the demo sshd did not start on port {port}")


def start_sshd(workdir: Path, port: int, trusted_ca: Path) -> tuple[subprocess.Popen[bytes], Path]:
    sshd = find_sshd()
    assert sshd is not None
    workdir.mkdir(parents=True, exist_ok=True)
    host_key = workdir / "ssh_host_ed25519_key"
    if not host_key.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(host_key)],
                       check=True)
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    sftp_server = next((p for p in ("/usr/lib/openssh/sftp-server", "/usr/libexec/sftp-server")
                        if os.path.exists(p)), "internal-sftp")
    config = workdir / "sshd_config"
    config.write_text("\n".join([
        f"Port {port}", "ListenAddress 127.0.0.1", f"HostKey {host_key}",
        f"PidFile {workdir / 'sshd.pid'}", f"TrustedUserCAKeys {trusted_ca}",
        "AuthorizedKeysFile none", "PasswordAuthentication no", "KbdInteractiveAuthentication no",
        "UsePAM no", "PermitRootLogin no", "X11Forwarding no", "PrintMotd no",
        f"Subsystem sftp {sftp_server}", "",
    ]))
    process = subprocess.Popen([sshd, "-D", "-e", "-f", str(config), "-E",
                                str(workdir / "sshd.log")], stdin=subprocess.DEVNULL)
    _wait_for(port)
    return process, Path(f"{host_key}.pub")
