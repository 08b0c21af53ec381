"""How much the proxy's SSH connections, both legs, take from their socket at once."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

log = logging.getLogger(__name__)

# asyncio reads up to 256 KiB at a time. asyncssh appends each read to its input buffer and
# slices every packet off the front, copying what remains (twice per packet): a 256 KiB
# read of 32 KiB packets was copied about eight times over, through buffers large enough
# for the C library to map fresh memory for each. Replayed alone (300 MB in 32 KiB
# packets): 0.7 s of CPU and 230,000 page faults in 256 KiB reads, 0.03 s and 80 in
# 64 KiB reads (docs/benchmarks.md). Two packets' worth keeps reads few.
READ_BYTES = 64 * 1024


def read_in_small_pieces(conn: Any) -> None:
    """Make an asyncssh connection read at most :data:`READ_BYTES` per system call.

    Called from the connection's ``connection_made`` callback, before any read and before
    :func:`~bastion.proxy.ssh_writes.coalesce_ssh_writes` wraps the transport. Does nothing
    (a slower node, never a broken one) if asyncssh or asyncio keep the transport or its
    read size elsewhere."""
    transport = getattr(conn, "_transport", None)
    size = getattr(transport, "max_size", None)
    if not isinstance(transport, asyncio.Transport) or not isinstance(size, int):
        log.warning("asyncio keeps its read size elsewhere: SSH reads stay at its default")
        return
    transport.max_size = READ_BYTES  # type: ignore[attr-defined]
