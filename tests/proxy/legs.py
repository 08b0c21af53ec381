"""Both ends of an asyncssh connection set up as the proxy sets up its two legs
(``ssh_legs.prepare_ssh_leg``), for the tests of what that changes in asyncssh."""

from __future__ import annotations

import asyncssh

from bastion.proxy.ssh_legs import prepare_ssh_leg


class ProxyListener(asyncssh.SSHServer):
    """The technician's leg, as the proxy's listener; no authentication (these tests are
    about the packets after it)."""

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        prepare_ssh_leg(conn)

    def begin_auth(self, username: str) -> bool:
        return False


class ProxyClient(asyncssh.SSHClient):
    """The target's leg, as the proxy's own client."""

    def connection_made(self, conn: asyncssh.SSHClientConnection) -> None:
        prepare_ssh_leg(conn)
