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
