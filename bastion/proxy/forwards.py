"""Local port forwarding (``ssh -L``) to the host:port pairs the grant lists, relayed
through the bastion's own connection to the target; everything else refused."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import asyncssh
from asyncssh import ChannelOpenError

from . import messages

if TYPE_CHECKING:
    from .connection import ProxyConnection

OPEN_ADMINISTRATIVELY_PROHIBITED = 1


class _Half(asyncssh.SSHTCPSession):  # type: ignore[type-arg]
    """One side of a forwarded connection, writing what it receives into the other side.

    The target side opens first: a service that speaks first (a greeting, or a dump sent
    on connect) can send before the technician's side exists. That is held, then written
    in order once it does, instead of being dropped."""

    def __init__(self, on_close: Callable[[], None]) -> None:
        self.chan: asyncssh.SSHTCPChannel[bytes] | None = None
        self.peer: _Half | None = None
        self.bytes = 0
        self._on_close = on_close
        self._held: list[bytes] = []  # for this side's channel, before it exists
        self._held_eof = False
        self._held_close = False

    def connection_made(self, chan: asyncssh.SSHTCPChannel[bytes]) -> None:  # type: ignore[override]
        self.chan = chan
        for data in self._held:
            chan.write(data)
        self._held.clear()
        if self._held_eof:
            chan.write_eof()
        if self._held_close:
            chan.close()

    def _send(self, data: bytes) -> None:
        if self.chan is not None:
            self.chan.write(data)
        else:
            self._held.append(data)

    def data_received(self, data: bytes, datatype: int | None) -> None:  # type: ignore[override]
        self.bytes += len(data)
        if self.peer is not None:
            self.peer._send(data)

    def eof_received(self) -> bool:
        if self.peer is not None:
            if self.peer.chan is not None:
                self.peer.chan.write_eof()
            else:
                self.peer._held_eof = True
        return True

    def pause_writing(self) -> None:
        if self.peer and self.peer.chan:
            self.peer.chan.pause_reading()

    def resume_writing(self) -> None:
        if self.peer and self.peer.chan:
            self.peer.chan.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.peer is not None:
            if self.peer.chan is not None:
                self.peer.chan.close()
            else:
                self.peer._held_close = True
        self._on_close()


def tunnel_to_ssh(owner: ProxyConnection, host: str, port: int) -> bool:
    destination = owner.resolution.destination if owner.resolution else None
    return port == 22 or (destination is not None and (host, port) == (destination.host,
                                                                        destination.port))


async def open_forward(owner: ProxyConnection, host: str, port: int) -> _Half:
    from .connection import Refusal

    try:
        await owner.ensure_access("forward")
    except Refusal as refusal:
        raise ChannelOpenError(OPEN_ADMINISTRATIVELY_PROHIBITED, str(refusal)) from None
    assert owner.policy is not None
    if tunnel_to_ssh(owner, host, port):
        reason = owner.tr(messages.TUNNEL_REFUSED)
    elif owner.policy.forward(host, port) is not None:
        reason = owner.tr(messages.FORWARD_REFUSED, host=host, port=port)
    else:
        reason = None
    if reason is not None:
        await owner.audit_channel("forward.refused", {"destination": f"{host}:{port}",
                                                      "reason": reason}, outcome="denied")
        raise ChannelOpenError(OPEN_ADMINISTRATIVELY_PROHIBITED, reason)
    try:
        upstream = await owner.ensure_upstream()
    except Refusal as refusal:
        raise ChannelOpenError(OPEN_ADMINISTRATIVELY_PROHIBITED, str(refusal)) from None

    def closed() -> None:
        if not done.is_set():
            done.set()
            asyncio.get_running_loop().create_task(owner.audit_channel(
                "forward.closed", {"destination": f"{host}:{port}",
                                   "bytes_to_target": front.bytes,
                                   "bytes_from_target": back.bytes}))

    done = asyncio.Event()
    front, back = _Half(closed), _Half(closed)
    front.peer, back.peer = back, front
    try:
        await upstream.create_connection(lambda: back, host, port)
    except (ChannelOpenError, OSError) as exc:
        raise ChannelOpenError(OPEN_ADMINISTRATIVELY_PROHIBITED, owner.tr(
            messages.FORWARD_UNREACHABLE, host=host, port=port, error=exc)) from None
    await owner.audit_channel("forward.opened", {"destination": f"{host}:{port}"},
                              outcome="allowed")
    owner.touch()
    return front


def refuse_remote_forward(owner: ProxyConnection, host: str, port: int) -> Awaitable[bool]:
    async def refuse() -> bool:
        await owner.audit_channel("forward.refused",
                                  {"destination": f"remote {host}:{port}",
                                   "reason": "remote forwarding is not allowed"},
                                  outcome="denied")
        owner.notify(owner.tr(messages.REMOTE_FORWARD_REFUSED, host=host, port=port))
        return False

    return refuse()
