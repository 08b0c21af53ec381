"""The console process of a supervised node: the web console under waitress and the node's
duties (purges, housekeeping, daily summary, notifications, SIEM), each once per node."""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
from collections.abc import Callable

from bastion.context import Bastion
from bastion.server import NodeDuties

from .console_server import ConsoleServer

log = logging.getLogger("bastion.runtime.console")


async def run_console_process(core: Bastion, app_factory: Callable[[Bastion], object],
                              listener: socket.socket, announce: Callable[[int], None]) -> None:
    console = ConsoleServer(core, app_factory, listener)
    console.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    duties = NodeDuties(core, stop)
    duties.start()
    log.info("console listening on port %d", console.port)
    announce(console.port)
    try:
        await stop.wait()
    finally:
        await duties.finish()
        console.stop()
