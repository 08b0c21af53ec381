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


def skip_ignore_packets_under_aead(conn: Any) -> None:
    """Stop asyncssh from sending an empty SSH_MSG_IGNORE before every packet when the
    cipher is AES-GCM or chacha20-poly1305.

    asyncssh (2.24) puts one before each packet once encrypted, a countermeasure for CBC
    ciphers (their next IV is known to an observer; RFC 4251 §9.3.1). An AEAD cipher takes
    a fresh nonce per packet, so for it the packet is pure cost: a second encryption, a
    random padding and, for a keystroke, a second system call on each leg of each echo.
    A CBC cipher (an old target's only choice) keeps it. If a future asyncssh names its
    ciphers otherwise, nothing changes (a slower node, never a weaker one)."""
    try:
        from asyncssh.connection import MSG_IGNORE
        from asyncssh.encryption import ChachaEncryption, GCMEncryption
        from asyncssh.packet import String
    except ImportError:
        log.warning("asyncssh changed: its ignore packets under AEAD ciphers stay")
        return
    aead = (GCMEncryption, ChachaEncryption)
    empty = String(b"")
    send_packet = conn.send_packet

    def send_packet_unless_useless(pkttype: int, *args: bytes, **options: Any) -> None:
        if (pkttype == MSG_IGNORE and args == (empty,)
                and isinstance(getattr(conn, "_send_encryption", None), aead)):
            return
        send_packet(pkttype, *args, **options)

    conn.send_packet = send_packet_unless_useless
