"""The proxy's SSH connections, both legs, write through a :class:`CoalescingTransport`."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from bastion.coalescing import CoalescingTransport

log = logging.getLogger(__name__)


def coalesce_ssh_writes(conn: Any) -> None:
    """Put an asyncssh connection's transport behind a :class:`CoalescingTransport`.

    Called from the connection's ``connection_made`` callback (SSHServer / SSHClient),
    before asyncssh writes anything. asyncssh has no public hook for its transport: this
    replaces its ``_transport`` attribute, and does nothing (a slower node, never a broken
    one) if a future asyncssh keeps it elsewhere."""
    transport = getattr(conn, "_transport", None)
    if isinstance(transport, CoalescingTransport):
        return
    if not isinstance(transport, asyncio.Transport):
        log.warning("asyncssh keeps its transport elsewhere: SSH writes are not coalesced")
        return
    conn._transport = CoalescingTransport(transport, asyncio.get_running_loop())
