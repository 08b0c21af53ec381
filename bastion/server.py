"""``bastion serve``: the SSH proxy and the web console in one process.

The proxy runs on the asyncio loop in the main thread; the console runs in a thread with
its own WSGI server. SIGTERM and SIGINT close live sessions (they are told why and their
recordings are finalised) before the process exits.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import signal
import socket
import threading
from collections.abc import Callable

from werkzeug.serving import make_server

from . import controls
from .access_review import close_overdue_campaigns
from .access_review.staff_roles import suspend_unreviewed_staff
from .access_review.yearly import suspend_unreviewed_vendors
from .approvals import NotificationWorker, run_housekeeping
from .audit.forwarder import forwarder_from_settings
from .audit.retention import purge_daily as purge_audit_daily
from .console_sessions import purge_ended as purge_console_sessions
from .context import Bastion
from .free_memory import release_free_memory
from .gc_tuning import tune_for_many_sessions
from .proxy.service import ProxyService
from .recording import purge_daily
from .trace_retention import purge_daily as purge_traces_daily

log = logging.getLogger("bastion.server")


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


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


class ConsoleThread(threading.Thread):
    def __init__(self, core: Bastion, app_factory: Callable[[Bastion], object]) -> None:
        super().__init__(name="bastion-console", daemon=True)
        web = core.settings.web
        # The socket is bound here rather than by Werkzeug, which prints to stderr and
        # exits the process when the port is taken: the operator gets our one line instead.
        try:
            listener = socket.create_server((web.listen_host, web.listen_port),
                                            family=_family(web.listen_host))
        except OSError as exc:
            raise listen_failure(exc, "web", web.listen_host, web.listen_port) from None
        with listener:
            self.server = make_server(web.listen_host, web.listen_port, app_factory(core),
                                      threaded=True, fd=listener.fileno())
        self.port = self.server.port

    def run(self) -> None:
        self.server.serve_forever()

    def stop(self) -> None:
        self.server.shutdown()


HOUSEKEEPING_SECONDS = 30


def record_retention(core: Bastion) -> None:
    """The retention periods in force, and the justification for keeping access traces
    beyond a year, go in the audit trail each time a node starts (CNIL 2021-122)."""
    audit, recording = core.settings.audit, core.settings.recording
    with core.db.session() as session:
        core.audit.append(session, action="retention.in_force", outcome="ok", details={
            "audit_retention_days": audit.retention_days,
            "audit_retention_justification": audit.retention_justification,
            "recording_retention_days": recording.retention_days})


async def housekeeping(proxy: ProxyService, stop: asyncio.Event) -> None:
    """Pending requests expire, grants past their end are ended, spent challenges go,
    overdue access reviews suspend what was not confirmed, console sessions ended over
    30 days ago go, and freed memory is handed back to the system."""
    while not stop.is_set():
        try:
            await proxy.call(run_housekeeping, proxy.core)
            # Access-review lines not confirmed by their campaign's deadline are suspended.
            await proxy.call(close_overdue_campaigns, proxy.core)
            # Vendors a year without a confirmed review, grace period over, are suspended.
            await proxy.call(suspend_unreviewed_vendors, proxy.core)
            await proxy.call(suspend_unreviewed_staff, proxy.core)  # and staff roles alike
            await proxy.call(purge_console_sessions, proxy.core)
            # Buffers freed by bulk transfers go back to the system (see free_memory).
            await proxy.call(release_free_memory)
        except Exception:  # noqa: BLE001 - a failed round is retried at the next one
            log.exception("housekeeping round failed")
        try:
            await asyncio.wait_for(stop.wait(), HOUSEKEEPING_SECONDS)
        except TimeoutError:
            pass


async def serve(core: Bastion, app_factory: Callable[[Bastion], object],
                ready: Callable[[int, int], None] | None = None) -> None:
    core.db.require_current_schema()
    await asyncio.to_thread(record_retention, core)
    tune_for_many_sessions()
    proxy = ProxyService(core)
    ssh = core.settings.ssh
    try:
        ssh_port = await proxy.start()
    except OSError as exc:
        raise listen_failure(exc, "ssh", ssh.listen_host, ssh.listen_port) from None
    try:
        console = ConsoleThread(core, app_factory)
    except ListenError:
        await proxy.stop()
        raise
    console.start()
    log.info("SSH proxy listening on %s:%d", core.settings.ssh.listen_host, ssh_port)
    log.info("console listening on %s:%d", core.settings.web.listen_host, console.port)
    if ready:
        ready(ssh_port, console.port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    # Retention: recordings and audit events past their period (and not on legal hold) are
    # purged daily; new audit events go to the SIEM when [syslog] is configured.
    background = [
        asyncio.create_task(purge_daily(proxy.recordings.catalog, stop)),
        asyncio.create_task(purge_audit_daily(core, stop)),
        # Requests, grants, sessions... past the same period (bastion/trace_retention.py).
        asyncio.create_task(purge_traces_daily(core, stop)),
    ]
    background.append(asyncio.create_task(housekeeping(proxy, stop)))
    # The DPO's daily summary (overdue break-glass reviews, flags), once per local day.
    background.append(asyncio.create_task(controls.daily_summaries(core, stop)))
    notifier = NotificationWorker(core)
    notifier.start()
    forwarder = forwarder_from_settings(core.db, core.settings.syslog)
    if forwarder is not None:
        background.append(asyncio.create_task(forwarder.run_async(stop)))
    try:
        await stop.wait()
    finally:
        await asyncio.gather(*background, return_exceptions=True)
        notifier.stop()
        log.info("stopping: closing live sessions")
        await proxy.stop()
        console.stop()
        log.info("stopped")
