"""How the proxy sets up each of its SSH connections, both legs (the technician's, to its
listener; its own, to the target), from the connection's ``connection_made`` callback."""

from __future__ import annotations

from typing import Any

from .ssh_acks import acknowledge_setup_at_once
from .ssh_gcm import reuse_gcm_contexts
from .ssh_keepalive import rearm_keepalive_lazily
from .ssh_packet_log import format_packet_logs_only_when_dumped
from .ssh_reads import read_in_small_pieces
from .ssh_writes import coalesce_ssh_writes, skip_ignore_packets_under_aead


def prepare_ssh_leg(conn: Any) -> None:
    """Before asyncssh reads or writes anything on ``conn``: the set-up's reads acknowledged
    at once, small reads, writes joined per loop turn, no ignore packets under AEAD
    ciphers, no packet log formatted unread, one AES-GCM context per direction, a keepalive
    timer not moved on every read."""
    acknowledge_setup_at_once(conn)  # before the transport is wrapped: it needs the socket
    read_in_small_pieces(conn)
    coalesce_ssh_writes(conn)
    skip_ignore_packets_under_aead(conn)
    format_packet_logs_only_when_dumped()
    reuse_gcm_contexts()
    rearm_keepalive_lazily(conn)
