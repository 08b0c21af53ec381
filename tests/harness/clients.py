"""The real OpenSSH clients (ssh, scp, sftp, rsync) with a temp key and known_hosts."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import asyncssh


@dataclass
class OpenSshClient:
    workdir: Path
    key_type: str = "ed25519"

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.key_path = self.workdir / f"id_{self.key_type}"
        if not self.key_path.exists():
            subprocess.run(["ssh-keygen", "-q", "-t", self.key_type, "-N", "", "-C",
                            "technician@test", "-f", str(self.key_path)], check=True)
        self.known_hosts = self.workdir / "known_hosts"
        self.known_hosts.touch()

    @property
    def public_key(self) -> str:
        return Path(f"{self.key_path}.pub").read_text().strip()

    @property
    def fingerprint(self) -> str:
        return asyncssh.import_public_key(self.public_key).get_fingerprint("sha256")

    def trust(self, host: str, port: int, host_key_line: str) -> None:
        with self.known_hosts.open("a") as handle:
            handle.write(f"[{host}]:{port} {host_key_line.strip()}\n")

    def options(self, extra: list[str] | None = None) -> list[str]:
        # OpenSSH keeps the first value given for an option: the caller's come first.
        return [
            *(extra or []),
            "-F", "/dev/null",
            "-o", f"UserKnownHostsFile={self.known_hosts}",
            "-o", "StrictHostKeyChecking=yes",
            "-o", "IdentitiesOnly=yes",
            "-o", "BatchMode=yes",
            "-o", "LogLevel=ERROR",
            "-o", "ConnectTimeout=10",
            "-i", str(self.key_path),
        ]

    def ssh_argv(self, user: str, host: str, port: int, *command: str,
                 extra: list[str] | None = None) -> list[str]:
        return ["ssh", *self.options(extra), "-p", str(port), f"{user}@{host}", *command]

    def ssh(self, user: str, host: str, port: int, *command: str, input: bytes | None = None,
            extra: list[str] | None = None, timeout: float = 60,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(self.ssh_argv(user, host, port, *command, extra=extra),
                              input=input, capture_output=True, timeout=timeout, env=env)

    def scp(self, *paths: str, port: int, legacy: bool = False, timeout: float = 300,
            extra: list[str] | None = None) -> subprocess.CompletedProcess[bytes]:
        flags = ["-O"] if legacy else []
        return subprocess.run(["scp", *flags, *self.options(extra), "-P", str(port), *paths],
                              capture_output=True, timeout=timeout)

    def sftp(self, user: str, host: str, port: int, batch: str, timeout: float = 300,
             extra: list[str] | None = None) -> subprocess.CompletedProcess[bytes]:
        batch_file = self.workdir / "sftp-batch"
        batch_file.write_text(batch)
        return subprocess.run(["sftp", *self.options(extra), "-P", str(port), "-b",
                               str(batch_file), f"{user}@{host}"], capture_output=True,
                              timeout=timeout)

    def rsync(self, *paths: str, port: int, timeout: float = 300) -> subprocess.CompletedProcess[bytes]:
        remote_shell = " ".join(["ssh", *self.options(), "-p", str(port)])
        return subprocess.run(["rsync", "-a", "-e", remote_shell, *paths], capture_output=True,
                              timeout=timeout)
