"""The demo DPI target: a real OpenSSH sshd trusting the bastion's target CA."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

DEMO_ACCOUNTS = ("maint", "appadmin", "dbmaint", "pacsmaint")


def find_sshd() -> str | None:
    for candidate in (shutil.which("sshd"), "/usr/sbin/sshd"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def missing_accounts() -> list[str]:
    missing = []
    for name in DEMO_ACCOUNTS:
        try:
            pwd.getpwnam(name)
        except KeyError:
            missing.append(name)
    return missing


def account_creation_warning(missing: list[str], folders: list[str] | None = None) -> str:
    """What root is told before the demo adds Unix accounts, and the folders the contracts
    allow (each with a sample file), to this machine."""
    parts, undo = [], []
    if missing:
        parts.append(f"the Unix accounts {', '.join(missing)}")
        undo.append("userdel -r NAME")
    if folders:
        parts.append(f"the folders {', '.join(folders)} (with a sample file each)")
        undo.append("rm -r FOLDER")
    return (f"warning: running as root, the demo target will create {' and '.join(parts)} "
            f"on this machine (remove them afterwards with: {'; '.join(undo)}). "
            f"Set BASTION_DEMO_ACCOUNTS=no to use the built-in demo target instead.")


def may_create_accounts(missing: list[str], *, setting: str | None, interactive: bool,
                        ask: Callable[[str], str]) -> bool:
    """Whether the demo may add ``missing`` accounts: BASTION_DEMO_ACCOUNTS=yes|no decides;
    otherwise a person at a terminal is asked, and an unattended run (CI) goes ahead, since
    the warning is printed first."""
    if not missing:
        return True
    if setting is not None:
        return setting.strip().lower() in ("yes", "y", "1", "true")
    if interactive:
        return ask("Create them? [y/N] ").strip().lower() in ("y", "yes", "o", "oui")
    return True


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


def _listening(process: subprocess.Popen[bytes], log: Path, timeout: float = 10) -> bool:
    """True once this sshd says it listens; False if it stopped (its port was taken).
    Its own log, not a probe of the port: another process on the port would answer too."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.exists() and "Server listening on" in log.read_text(errors="replace"):
            return True
        if process.poll() is not None:
            return False
        time.sleep(0.05)
    process.kill()
    process.wait()
    raise RuntimeError(f"the demo sshd did not start within {timeout:g} s (see {log})")


def free_port() -> int:
    """A port nobody listens on now (the system's pick)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_sshd(workdir: Path, port: int, trusted_ca: Path
               ) -> tuple[subprocess.Popen[bytes], Path, int]:
    """The demo's OpenSSH target: its process, host key file, and the port it listens on."""
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
    log = workdir / "sshd.log"
    # The port was free when chosen; something may take it before sshd binds it (then sshd
    # stops at once): another free port, rather than a demo talking to someone else's sshd.
    for _ in range(3):
        config.write_text("\n".join([
            f"Port {port}", "ListenAddress 127.0.0.1", f"HostKey {host_key}",
            f"PidFile {workdir / 'sshd.pid'}", f"TrustedUserCAKeys {trusted_ca}",
            "AuthorizedKeysFile none", "PasswordAuthentication no",
            "KbdInteractiveAuthentication no", "UsePAM no", "PermitRootLogin no",
            "X11Forwarding no", "PrintMotd no", f"Subsystem sftp {sftp_server}", "",
        ]))
        log.unlink(missing_ok=True)
        process = subprocess.Popen([sshd, "-D", "-e", "-f", str(config), "-E", str(log)],
                                   stdin=subprocess.DEVNULL)
        if _listening(process, log):
            return process, Path(f"{host_key}.pub"), port
        port = free_port()
    raise RuntimeError(f"the demo sshd could not listen on a port (see {log})")
