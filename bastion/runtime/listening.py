"""Binding listening sockets, with one line naming the setting when that fails."""

from __future__ import annotations

import errno
import socket


class ListenError(Exception):
    """A listening address cannot be taken; the message names the setting to change."""


def listen_failure(exc: OSError, section: str, host: str, port: int) -> ListenError:
    reason = {errno.EADDRINUSE: "the port is already in use",
              errno.EACCES: "permission denied (ports below 1024 need privileges)",
              errno.EADDRNOTAVAIL: "this machine has no such address"}.get(
                  exc.errno or 0, exc.strerror or str(exc))
    return ListenError(
        f"cannot listen on {host}:{port}: {reason}; change [{section}] listen_host/listen_port "
        f"(BASTION_{section.upper()}__LISTEN_PORT) or stop what holds the port")


def family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def bind(section: str, host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """A listening TCP socket on host:port. ``reuse_port``: several processes of this node
    share the port and the kernel spreads connections over them (SO_REUSEPORT); a port
    held by anything else is still refused."""
    try:
        return socket.create_server((host, port), family=family(host), reuse_port=reuse_port,
                                    backlog=1024)
    except OSError as exc:
        raise listen_failure(exc, section, host, port) from None
