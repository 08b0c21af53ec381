"""The SSH listener behind a load balancer: accept each TCP connection ourselves, check it
comes from a trusted balancer, read its PROXY v2 header, then hand the socket to asyncssh
(``asyncssh.run_server``) with the technician's real address.

asyncssh's own listener cannot do this: it starts the SSH handshake as soon as a socket is
accepted, and the header must be consumed before (HAProxy sends it first, the SSH client's
banner only after). Fail closed: no header, a malformed one or an untrusted peer closes
the connection after one line saying why, and the refusal is audited.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
from collections.abc import Awaitable, Callable, Iterable

import asyncssh

from .proxy_protocol import FIXED_LENGTH, ProxyHeaderError, body_length, parse_header

log = logging.getLogger("bastion.proxy")

Address = tuple[str, int]
# Starts asyncssh on an accepted socket whose technician address is known.
Handover = Callable[[socket.socket, Address], Awaitable[object]]
Refusal = Callable[[Address, str], Awaitable[None]]


class Untrusted(Exception):
    pass


def trusted_networks(items: Iterable[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(item, strict=False) for item in items]


def is_trusted(address: str, networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # a dual-stack socket shows IPv4 balancers as ::ffff:a.b.c.d
    return any(ip in network for network in networks)


async def _read_exactly(loop: asyncio.AbstractEventLoop, sock: socket.socket, count: int) -> bytes:
    # Exactly: one byte more would swallow the start of the SSH client's banner.
    data = b""
    while len(data) < count:
        chunk = await loop.sock_recv(sock, count - len(data))
        if not chunk:
            break
        data += chunk
    return data


async def read_source(loop: asyncio.AbstractEventLoop, sock: socket.socket, peer: Address) -> Address:
    """The technician's address from the header; the balancer's own for LOCAL (its health
    checks)."""
    fixed = await _read_exactly(loop, sock, FIXED_LENGTH)
    body = await _read_exactly(loop, sock, body_length(fixed))
    header = parse_header(fixed, body)
    return header.source if header.source is not None else peer


class ProxyProtocolListener:
    def __init__(self, host: str, port: int, trusted: Iterable[str], *, header_timeout: float,
                 handover: Handover, refuse: Refusal, sock: socket.socket | None = None) -> None:
        self._trusted = trusted_networks(trusted)
        self._header_timeout = header_timeout
        self._handover = handover
        self._refuse = refuse
        # ``sock``: bound by a supervisor and shared with this worker's next generation.
        self._listener = sock or socket.create_server((host, port), reuse_port=False, backlog=128)
        self._listener.setblocking(False)
        self._accepting: asyncio.Task[None] | None = None
        self._handling: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        return int(self._listener.getsockname()[1])

    def start(self) -> None:
        self._accepting = asyncio.get_running_loop().create_task(self._accept())

    async def _accept(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                sock, peer = await loop.sock_accept(self._listener)
            except OSError:
                log.exception("PROXY protocol listener: accept failed")
                await asyncio.sleep(0.1)
                continue
            sock.setblocking(False)
            task = loop.create_task(self._handle(sock, (peer[0], peer[1])))
            self._handling.add(task)
            task.add_done_callback(self._handling.discard)

    async def _handle(self, sock: socket.socket, peer: Address) -> None:
        loop = asyncio.get_running_loop()
        try:
            if not is_trusted(peer[0], self._trusted):
                raise Untrusted(f"{peer[0]} is not a trusted load balancer (ssh.proxy_protocol_trusted)")
            source = await asyncio.wait_for(read_source(loop, sock, peer), self._header_timeout)
        except (Untrusted, ProxyHeaderError, TimeoutError, OSError) as exc:
            reason = (f"no PROXY v2 header within {self._header_timeout:g} s"
                      if isinstance(exc, TimeoutError) else str(exc))
            await self._close_refused(loop, sock, peer, reason)
            return
        try:
            await self._handover(sock, source)
        except (asyncssh.Error, OSError, TimeoutError) as exc:
            # The SSH handshake or authentication failed: asyncssh has closed the socket and
            # the connection object has audited what it saw.
            log.info("SSH connection from %s (via %s) ended during login: %s", source[0], peer[0], exc)
        except Exception:  # noqa: BLE001 - one bad connection must not go unlogged
            log.exception("SSH connection from %s (via %s) failed", source[0], peer[0])
            sock.close()

    async def _close_refused(self, loop: asyncio.AbstractEventLoop, sock: socket.socket,
                             peer: Address, reason: str) -> None:
        log.warning("PROXY protocol: refused connection from %s: %s", peer[0], reason)
        # SSH lets a server send text lines before its banner; clients show or log them.
        with contextlib.suppress(OSError):
            await asyncio.wait_for(loop.sock_sendall(
                sock, f"bastion: connection refused: {reason}. Connect through the load balancer.\r\n"
                .encode()), 2)
        try:
            # Audited before the close, so the refusal is on record when the client sees it.
            await self._refuse(peer, reason)
        except Exception:  # noqa: BLE001 - a failed audit write must not stop the listener
            log.exception("could not audit a refused PROXY protocol connection")
        finally:
            sock.close()

    async def stop_accepting(self) -> None:
        """Draining: no new connection; those being served go on."""
        if self._accepting:
            self._accepting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._accepting
            self._accepting = None
        self._listener.close()

    async def close(self) -> None:
        if self._accepting:
            self._accepting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._accepting
        self._listener.close()
        for task in list(self._handling):
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*self._handling, return_exceptions=True)
