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


class RelayedProcess(asyncssh.SSHServerProcess):  # type: ignore[type-arg]
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
