"""The SSH listener and the watchdog that ends sessions on time, on revocation, on idle."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any, TypeVar

import asyncssh

from bastion.context import Bastion
from bastion.i18n import Phrase
from bastion.models import utcnow
from bastion.recording.recorder_link import RecorderLink

from . import directory, flow_control, messages
from .algorithms import server_options
from .channels import ChannelHandlers
from .connection import ProxyConnection
from .proxy_front import ProxyProtocolListener
from .recordings import SessionRecordings

log = logging.getLogger("bastion.proxy")
T = TypeVar("T")

WATCHDOG_PERIOD_SECONDS = 1.0  # revocations must close sessions within 2 s


class ProxyService:
    def __init__(self, core: Bastion, recorder_link: RecorderLink | None = None) -> None:
        """``recorder_link``: a started recorder process writes this proxy's recordings."""
        self.core = core
        self.recorder_link = recorder_link
        # What a channel buffers stays within its window (see flow_control).
        flow_control.install()
        # Blocking work (database, disk) runs here, never on the event loop.
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="bastion-io")
        self.connections: set[ProxyConnection] = set()
        self._acceptor: asyncssh.SSHAcceptor | None = None
        self._front: ProxyProtocolListener | None = None
        self._watchdog: asyncio.Task[None] | None = None
        self.channels = ChannelHandlers(self)
        self.recordings = SessionRecordings(self)
        # Loaded once: reading key files per session would put disk I/O on the event loop.
        self.target_ca = core.keys.target_ca
        self.technician_ca = core.keys.technician_ca
        self.technician_ca_line = core.keys.public_line("technician_ca")
        self.master_key = core.keys.master_key
        self._host_key = core.keys.host_key

    async def call(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, lambda: function(*args, **kwargs))

    def remember(self, connection: ProxyConnection) -> None:
        self.connections.add(connection)

    def forget(self, connection: ProxyConnection) -> None:
        self.connections.discard(connection)

    async def start(self, host: str | None = None, port: int | None = None, *,
                    sock: socket.socket | None = None, recover: bool = True) -> int:
        """Listen on host:port, or on ``sock`` that a supervisor bound and shares with
        this worker's next generation. ``recover``: first mark what this node left live
        (a supervisor does that itself, once for all its workers)."""
        settings = self.core.settings.ssh
        if recover:
            await self.recover_interrupted()
        options = dict(
            server_host_keys=[self._host_key],
            encoding=None,
            line_editor=False,
            x11_forwarding=False,
            agent_forwarding=False,
            allow_scp=False,
            login_timeout=settings.login_timeout_seconds,
            keepalive_interval=60,
            server_version="bastion",
            **server_options(settings.key_exchange),
        )
        host = host if host is not None else settings.listen_host
        port = port if port is not None else settings.listen_port
        if settings.proxy_protocol == "v2":
            self._front = ProxyProtocolListener(
                host, port, settings.proxy_protocol_trusted,
                header_timeout=min(10, settings.login_timeout_seconds),
                handover=lambda accepted, source: asyncssh.run_server(
                    accepted, server_factory=lambda: ProxyConnection(self, source[0]), **options),
                refuse=self._audit_refused_balancer, sock=sock)
            self._front.start()
            self._watchdog = asyncio.create_task(self._watch())
            return self._front.port
        listen_at: dict[str, Any] = {"sock": sock} if sock is not None else {"host": host,
                                                                             "port": port}
        self._acceptor = await asyncssh.create_server(lambda: ProxyConnection(self), **listen_at,
                                                      **options)
        self._watchdog = asyncio.create_task(self._watch())
        sockets = self._acceptor.sockets
        return sockets[0].getsockname()[1] if sockets else 0

    async def recover_interrupted(self) -> None:
        interrupted = await self.call(directory.mark_interrupted_sessions, self.core)
        if interrupted:
            log.warning("%d session(s) were live when the bastion last stopped: marked interrupted",
                        interrupted)
        recordings = await self.call(self.recordings.mark_interrupted)
        if recordings:
            log.warning("%d recording(s) were left open: sealed as interrupted", recordings)

    async def stop_accepting(self) -> None:
        """Draining: no new connection here; live sessions go on until they end."""
        if self._acceptor:
            self._acceptor.close()
        if self._front:
            await self._front.stop_accepting()

    async def _audit_refused_balancer(self, peer: tuple[str, int], reason: str) -> None:
        await self.call(directory.audit, self.core, action="login.refused", outcome="denied",
                        reasons=[reason],
                        details={"client_address": peer[0], "proxy_protocol": "v2"},
                        message=f"connection from {peer[0]} refused: {reason}")

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(WATCHDOG_PERIOD_SECONDS)
            try:
                await self._watch_once()
            except Exception:  # noqa: BLE001 - a bad round must not stop the watchdog
                log.exception("watchdog round failed")

    async def _watch_once(self) -> None:
        now = utcnow()
        live = {c.session_id: c for c in list(self.connections) if c.session_id is not None}
        orders = await self.call(directory.termination_orders, self.core, list(live), now)
        for session_id, reason in orders.items():
            live[session_id].terminate(reason)
        warning = timedelta(minutes=self.core.settings.ssh.expiry_warning_minutes)
        for connection in live.values():
            if connection.session_id in orders or connection.deadline is None:
                continue
            remaining = connection.deadline - now
            if remaining <= timedelta(0):
                connection.terminate(Phrase(messages.WINDOW_ENDED))
                continue
            if not connection.warned and remaining <= warning:
                connection.warned = True
                minutes = max(1, int(remaining.total_seconds() // 60))
                _ = connection.tr
                connection.notify(_(messages.EXPIRY_WARNING, target=connection.target_name,
                                    minutes=minutes,
                                    until=_.when(connection.deadline,
                                                 self.core.settings.web.time_zone, "time")))
            idle_limit = connection.idle_limit_seconds
            if time.monotonic() - connection.last_activity > idle_limit:
                connection.terminate(Phrase.of(messages.IDLE, minutes=idle_limit // 60))

    async def stop(self, reason: Phrase | None = None) -> None:
        reason = reason or Phrase(messages.SHUTTING_DOWN)
        if self._watchdog:
            self._watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watchdog
        if self._acceptor:
            self._acceptor.close()
        if self._front:
            await self._front.close()
        for connection in list(self.connections):
            connection.terminate(reason)
        # Give closing sessions a moment to seal their recordings and end their rows.
        deadline = time.monotonic() + 5
        while self.connections and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.recordings.all_closed.wait(),
                                   max(0.2, deadline - time.monotonic()))
        await asyncio.sleep(0.2)  # the connections' own ends (session rows) are tasks too
        if self._acceptor:
            await self._acceptor.wait_closed()
        self._pool.shutdown(wait=True)
