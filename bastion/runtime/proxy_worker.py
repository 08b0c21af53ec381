"""One SSH proxy worker process of a supervised node.

It accepts on the socket its supervisor bound (the supervisor keeps it open, so a
worker's next generation takes over the same accept queue and no connection is lost in a
reload). SIGTERM: live sessions are told and closed, then the process exits. SIGUSR1
(a reload): stop accepting, let live sessions run to their end, then exit. SIGINT is left
to the supervisor (a Ctrl-C in a terminal reaches the whole process group).

Its recordings are written by a recorder process of its own ([recording]
recorder_process, see bastion/recording/recorder_link.py), started before the worker
accepts and stopped after its last session is sealed; the link replaces it if it dies."""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
from collections.abc import Callable
from functools import partial

from bastion.context import Bastion
from bastion.free_memory import bound_retained_memory, release_free_memory
from bastion.gc_tuning import tune_for_many_sessions
from bastion.proxy.service import ProxyService
from bastion.recording.recorder_link import RecorderLink

from .cpu_affinity import release

log = logging.getLogger("bastion.runtime.proxy_worker")

MEMORY_RELEASE_SECONDS = 30


async def run_proxy_worker(core: Bastion, listener: socket.socket,
                           announce: Callable[[int], None], *,
                           recorder_cores: frozenset[int] | None = None) -> None:
    """``recorder_cores``: the cores this worker was allowed before it was pinned to one
    (cpu_affinity.py); its recorder process gets them back."""
    tune_for_many_sessions()
    bound_retained_memory()
    link = (RecorderLink(core.settings, started=partial(release, cores=recorder_cores))
            if core.settings.recording.recorder_process else None)
    if link is not None:
        await link.start()
    proxy = ProxyService(core, recorder_link=link)
    port = await proxy.start(sock=listener, recover=False)
    stop, drain = asyncio.Event(), asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGUSR1, drain.set)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    log.info("proxy worker %s accepting on port %d", core.node, port)
    announce(port)
    stop_wait = asyncio.create_task(stop.wait())
    drain_wait = asyncio.create_task(drain.wait())
    while not (stop.is_set() or drain.is_set()):
        # FIRST_COMPLETED: asyncio.wait's default waits for both, so a SIGTERM sat out the
        # rest of the memory round (up to 30 s, past the supervisor's 20 s before it kills).
        await asyncio.wait({stop_wait, drain_wait}, timeout=MEMORY_RELEASE_SECONDS,
                           return_when=asyncio.FIRST_COMPLETED)
        # Buffers freed by bulk transfers go back to the system (see free_memory).
        await asyncio.to_thread(release_free_memory)
    if drain.is_set() and not stop.is_set():
        await proxy.stop_accepting()
        log.info("proxy worker %s draining: %d live connection(s)", core.node,
                 len(proxy.connections))
        while proxy.connections and not stop.is_set():
            await asyncio.wait({stop_wait}, timeout=1)
    for task in (stop_wait, drain_wait):
        task.cancel()
    log.info("proxy worker %s stopping", core.node)
    await proxy.stop()
    if link is not None:
        await link.stop()  # after every recording is sealed
