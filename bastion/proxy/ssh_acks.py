"""Acknowledge at once what the proxy's SSH connections receive while they are set up."""

from __future__ import annotations

import socket
from typing import Any

# Reads acknowledged at once: the handshake, authentication and a session's first requests
# take about a dozen on either leg; after them, ACKs ride on the replies as usual.
SETUP_READS = 24


def acknowledge_setup_at_once(conn: Any) -> None:
    """Send the TCP acknowledgement of each of the first :data:`SETUP_READS` reads at once.

    OpenSSH leaves Nagle's algorithm on until a session asks for a terminal, so it holds a
    small packet while an earlier one is unacknowledged; Linux delays an acknowledgement
    up to 40 ms when it expects to answer soon. During a handshake they meet twice: the
    client's key exchange message waits for the acknowledgement of its KEXINIT, its
    service request for that of its NEWKEYS (measured: the bastion read the client's
    ECDH_INIT 38 ms after the client wrote it). ``TCP_QUICKACK`` set after a read sends the
    pending acknowledgement now; it is not sticky, hence once per read. Called from the
    connection's ``connection_made``, before anything is read; does nothing (a slower set
    up, never a broken one) without TCP_QUICKACK, on a socket that is not TCP, or if
    asyncssh keeps its transport elsewhere."""
    transport = getattr(conn, "_transport", None)
    sock = transport.get_extra_info("socket") if transport is not None else None
    quickack = getattr(socket, "TCP_QUICKACK", None)
    if sock is None or quickack is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return
    received = conn.data_received
    left = SETUP_READS

    def data_received_then_acknowledge(data: bytes, datatype: Any = None) -> None:
        nonlocal left
        if left > 0:
            left -= 1
            try:
                sock.setsockopt(socket.IPPROTO_TCP, quickack, 1)
            except OSError:
                pass  # a closing socket: the read below sees the end
            if not left and vars(conn).get("data_received") is data_received_then_acknowledge:
                # Back to asyncssh's own for the session's life; wrapped meanwhile by
                # someone else, this stays in their chain and only passes reads on.
                conn.data_received = received
        received(data, datatype)

    conn.data_received = data_received_then_acknowledge
