"""The light echo target of the concurrency benchmark: an asyncssh server that trusts the
bastion's target CA (and the load technicians' keys, for the direct baseline) and echoes
every byte of a shell session back at once, like a terminal echoing keystrokes.

OpenSSH's sshd would fork a process and a shell per session: 1,000 of them would measure
the target machine, not the bastion. ``python -m bench.echo_target --port P ...``
"""

from __future__ import annotations

import argparse
import asyncio

import asyncssh


async def _echo(process: asyncssh.SSHServerProcess[bytes]) -> None:
    try:
        while data := await process.stdin.read(4096):
            process.stdout.write(data)
    except (asyncssh.BreakReceived, asyncssh.SignalReceived, asyncssh.TerminalSizeChanged,
            asyncssh.DisconnectError, ConnectionError):
        pass
    process.exit(0)


async def main(port: int, host_key: str, authorized_keys: str) -> None:
    await asyncssh.create_server(
        asyncssh.SSHServer, "127.0.0.1", port, server_host_keys=[host_key],
        authorized_client_keys=authorized_keys, process_factory=_echo, encoding=None,
        line_editor=False, backlog=1024, keepalive_interval=0)
    await asyncio.Event().wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host-key", required=True)
    parser.add_argument("--authorized-keys", required=True)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.port, arguments.host_key, arguments.authorized_keys))
