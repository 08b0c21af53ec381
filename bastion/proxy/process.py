"""asyncssh's stream-style server process, with the SFTP subsystem handed to our relay.

asyncssh serves the ``sftp`` subsystem itself when it is given an SFTP server and refuses
it otherwise; the bastion must instead relay it to the target, checking each operation.
This subclass accepts every subsystem and starts our handler for all of them (the handler
refuses those it does not relay). It reaches into asyncssh's stream session internals
(``_chan``, ``_conn``, ``_session_factory``): the dependency range pins asyncssh 2.x and
tests/proxy exercise this path with the real ``sftp`` client.
"""

from __future__ import annotations

import inspect
from typing import Any

import asyncssh
from asyncssh.stream import SSHReader, SSHWriter

EXTENDED_DATA_STDERR = 1


REFUSED_REQUESTS = {
    "auth_agent_req_at_openssh_dot_com": "agent forwarding",
    "x11_req": "X11 forwarding",
}


class RelayedProcess(asyncssh.SSHServerProcess):  # type: ignore[type-arg]
    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        # Agent and X11 forwarding are refused; asyncssh would refuse them silently, but the
        # technician must be told and the attempt audited, so the refusals are noted here.
        self.refused_requests: list[str] = []

    def connection_made(self, chan: Any) -> None:
        super().connection_made(chan)
        for request, label in REFUSED_REQUESTS.items():
            setattr(chan, f"_process_{request}_request", self._refuser(chan, label))

    def _refuser(self, chan: Any, label: str) -> Any:
        def refuse(packet: Any) -> bool:
            self.refused_requests.append(label)
            return False

        return refuse

    def subsystem_requested(self, subsystem: str) -> bool:
        return True

    def session_started(self) -> None:
        chan: Any = self._chan
        stdin = SSHReader(self, chan)
        stdout = SSHWriter(self, chan)
        stderr = SSHWriter(self, chan, EXTENDED_DATA_STDERR)
        handler = self._session_factory(stdin, stdout, stderr)
        if inspect.isawaitable(handler):
            self._conn.create_task(handler, stdin.logger)
