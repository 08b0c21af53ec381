"""A fallback demo target for machines without OpenSSH's sshd: an asyncssh server that
trusts the bastion's target CA like sshd does (TrustedUserCAKeys) and runs a real shell
(bash in a pseudo-terminal), commands and SFTP, as the user running the demo.

Its SFTP is rooted in a folder of the demo (``files_root``), where the folders the
contracts allow are made: the user running the demo cannot create ``/opt/medilogic``, and
the demo must not write outside ./var. Shell and exec commands see the real file system."""

from __future__ import annotations

import asyncio
import os
import pty
import subprocess
from pathlib import Path

import asyncssh


class _Server(asyncssh.SSHServer):
    def begin_auth(self, username: str) -> bool:
        return True

    def public_key_auth_supported(self) -> bool:
        return True


async def _handle(process: asyncssh.SSHServerProcess[bytes]) -> None:
    shell = os.environ.get("SHELL", "/bin/bash")
    environment = {**os.environ, "TERM": process.get_terminal_type() or "dumb"}
    if process.get_terminal_type():
        main, secondary = pty.openpty()
        width, height, _, _ = process.get_terminal_size()
        import fcntl
        import struct
        import termios

        fcntl.ioctl(main, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))
        argv = [shell, "-l"] if process.command is None else [shell, "-c", process.command]
        child = subprocess.Popen(argv, stdin=secondary, stdout=secondary, stderr=secondary,
                                 env=environment, start_new_session=True, cwd=Path.home())
        os.close(secondary)
        # A terminal has one output: the child's stderr is already on it. (asyncssh.STDOUT
        # is a client-side option; given here it closed the whole connection.)
        await process.redirect(stdin=main, stdout=os.dup(main))
    else:
        child = subprocess.Popen([shell, "-c", process.command or shell], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=environment,
                                 cwd=Path.home())
        await process.redirect(stdin=child.stdin, stdout=child.stdout, stderr=child.stderr)
    status = await asyncio.get_running_loop().run_in_executor(None, child.wait)
    await process.stdout.drain()
    process.exit(status)


async def start_builtin_target(workdir: Path, port: int, trusted_ca: Path,
                               files_root: Path) -> tuple[object, Path]:
    workdir.mkdir(parents=True, exist_ok=True)
    host_key_path = workdir / "builtin_host_ed25519_key"
    if not host_key_path.exists():
        key = asyncssh.generate_private_key("ssh-ed25519")
        key.write_private_key(str(host_key_path))
        key.write_public_key(f"{host_key_path}.pub")
    authorized = asyncssh.import_authorized_keys(f"cert-authority {trusted_ca.read_text().strip()}\n")
    server = await asyncssh.create_server(
        _Server, "127.0.0.1", port, server_host_keys=[str(host_key_path)],
        authorized_client_keys=authorized, process_factory=_handle, encoding=None,
        line_editor=False,
        sftp_factory=lambda channel: asyncssh.SFTPServer(channel, chroot=bytes(files_root)),
    )
    return server, Path(f"{host_key_path}.pub")
