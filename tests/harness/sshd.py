"""A real OpenSSH sshd on a free loopback port, trusting the bastion's target CA."""

from __future__ import annotations

import fcntl
import getpass
import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .ports import free_port, wait_for_port

INSTALL_HINT = (
    "OpenSSH's sshd is not installed: run 'apt-get install openssh-server' "
    "('make test' does this itself when run as root)"
)


def find_sshd() -> str:
    for candidate in (shutil.which("sshd"), "/usr/sbin/sshd"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise RuntimeError(INSTALL_HINT)


# Test processes running side by side (pytest-xdist workers, or two runs on one machine)
# must not run useradd/usermod at once: the second fails to lock /etc/passwd.
ACCOUNTS_LOCK = Path(tempfile.gettempdir()) / "bastion-tests-unix-accounts.lock"


def ensure_unix_account(name: str) -> str:
    """As root, create the login account a target needs; otherwise only the current user
    can log in to an sshd we start, so that is the account."""
    if os.geteuid() != 0:
        return getpass.getuser()
    with ACCOUNTS_LOCK.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            pwd.getpwnam(name)
        except KeyError:
            subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", name], check=True)
        # '*' = no password but not locked: sshd refuses locked ('!') accounts even for keys.
        subprocess.run(["usermod", "-p", "*", name], check=True)
    return name


@dataclass
class SshdTarget:
    workdir: Path
    trusted_ca_pub: Path | None
    account_name: str = "maint"
    extra_config: str = ""
    port: int = 0
    host: str = "127.0.0.1"
    accounts: list[str] = field(default_factory=list)
    _process: subprocess.Popen[bytes] | None = None

    def start(self) -> SshdTarget:
        sshd = find_sshd()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.account = ensure_unix_account(self.account_name)
        self.accounts = [self.account]
        self.host_key_path = self.workdir / "ssh_host_ed25519_key"
        if not self.host_key_path.exists():
            subprocess.run(
                ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(self.host_key_path)],
                check=True,
            )
        # sshd reads authorized keys as the target account, which cannot traverse pytest's
        # private tmp tree: keep them in a folder that account can reach.
        self.authorized_keys_dir = Path(tempfile.mkdtemp(prefix="sshd-keys-"))
        os.chmod(self.authorized_keys_dir, 0o755)
        self.port = self.port or free_port()
        if os.geteuid() == 0:
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        sftp_server = next(
            (p for p in ("/usr/lib/openssh/sftp-server", "/usr/libexec/sftp-server")
             if os.path.exists(p)),
            "internal-sftp",
        )
        # sshd keeps the first value given for an option: the caller's extras come first.
        config = "\n".join(
            [
                self.extra_config,
                f"Port {self.port}",
                f"ListenAddress {self.host}",
                f"HostKey {self.host_key_path}",
                f"PidFile {self.workdir / 'sshd.pid'}",
                f"AuthorizedKeysFile {self.authorized_keys_dir}/%u",
                f"TrustedUserCAKeys {self.trusted_ca_pub}" if self.trusted_ca_pub else "",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "UsePAM no",
                "StrictModes no",
                "PermitRootLogin no",
                "AllowTcpForwarding yes",
                "X11Forwarding no",
                "PrintMotd no",
                "PrintLastLog no",
                "AcceptEnv LANG LC_*",
                "LogLevel VERBOSE",
                f"Subsystem sftp {sftp_server}",
            ]
        )
        self.config_path = self.workdir / "sshd_config"
        self.config_path.write_text(config + "\n")
        self.log_path = self.workdir / "sshd.log"
        check = subprocess.run([sshd, "-t", "-f", str(self.config_path)], capture_output=True,
                               text=True)
        if check.returncode != 0:
            raise RuntimeError(f"sshd rejected its test configuration: {check.stderr.strip()}")
        self._process = subprocess.Popen(
            [sshd, "-D", "-e", "-f", str(self.config_path), "-E", str(self.log_path)],
            stdin=subprocess.DEVNULL,
        )
        wait_for_port(self.port, self.host)
        return self

    @property
    def host_key_line(self) -> str:
        return " ".join(Path(f"{self.host_key_path}.pub").read_text().split()[:2])

    @property
    def home(self) -> Path:
        return Path(pwd.getpwnam(self.account).pw_dir)

    def authorize(self, public_key_line: str, account: str | None = None) -> None:
        """Let a key log in directly (used by benchmarks' direct-OpenSSH baseline)."""
        path = self.authorized_keys_dir / (account or self.account)
        with path.open("a") as handle:
            handle.write(public_key_line.strip() + "\n")
        os.chmod(path, 0o644)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self._process and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        shutil.rmtree(getattr(self, "authorized_keys_dir", ""), ignore_errors=True)
