"""asyncssh's packet log, formatted only when it is written."""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)


def format_packet_logs_only_when_dumped() -> None:
    """Skip asyncssh's per-packet log formatting unless packet dumps are on.

    asyncssh (2.24) formats a line for every packet sent and received (the packet type's
    name, a byte count in words) before its logger looks at the debug level, which only
    at level 3 (``asyncssh.set_debug_level(3)``: full packet dumps) writes it: about 3 % of
    a proxy worker's CPU for a bulk ``exec cat`` (py-spy, docs/benchmarks.md), on both legs,
    for lines nobody reads. With dumps on, every line is written as before. Process-wide
    and idempotent; if a future asyncssh moves these methods, nothing changes (a slower
    node, never a quieter log)."""
    try:
        from asyncssh.logging import SSHLogger
        from asyncssh.packet import SSHPacketLogger
    except ImportError:
        log.warning("asyncssh changed: its packet log is formatted for every packet")
        return
    if getattr(SSHPacketLogger, "_bastion_formats_only_when_dumped", False):
        return
    for name in ("log_received_packet", "log_sent_packet"):
        original = getattr(SSHPacketLogger, name, None)
        if original is None:
            log.warning("asyncssh changed: its packet log is formatted for every packet")
            return
        setattr(SSHPacketLogger, name, _when_dumped(original, SSHLogger))
    SSHPacketLogger._bastion_formats_only_when_dumped = True  # type: ignore[attr-defined]


def _when_dumped(original: Any, logger_class: Any) -> Any:
    def log_packet(self: Any, pkttype: int, pktid: int | None, packet: Any, note: str = "") -> None:
        if logger_class._debug_level >= 3:
            original(self, pkttype, pktid, packet, note)
    log_packet.__name__ = original.__name__
    log_packet.__doc__ = original.__doc__
    return log_packet
