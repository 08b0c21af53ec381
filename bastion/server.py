"""``bastion serve`` in one process: the SSH proxy, the web console and the node's duties.

The proxy runs on the asyncio loop in the main thread; the console runs in a thread under a
production WSGI server (bastion.runtime.console_server). SIGTERM and SIGINT close live
sessions (they are told why and their recordings are finalised) before the process exits.
With several proxy workers, bastion.runtime.supervisor runs the same parts in processes of
their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable
from functools import partial

from . import controls
from .access_review import close_overdue_campaigns
from .access_review.staff_roles import suspend_unreviewed_staff
from .access_review.yearly import suspend_unreviewed_vendors
from .approvals import NotificationWorker, run_housekeeping
from .audit.forwarder import forwarder_from_settings
from .audit.retention import purge_daily as purge_audit_daily
from .audit.service import checkpoint as audit_checkpoint
from .audit.service import checkpoint_timer
from .breakglass.channels import start_problem
from .console_sessions import purge_ended as purge_console_sessions
from .context import Bastion
from .directory.directory_checks import directory_checks
from .free_memory import bound_retained_memory, release_free_memory
from .gc_tuning import tune_for_many_sessions
from .periodic import run_every
from .proxy.service import ProxyService
from .recording import RecordingService, purge_daily
from .runtime.console_server import ConsoleServer
from .runtime.listening import ListenError, listen_failure
from .second_factor_exceptions import record_second_factor_exceptions
from .trace_retention import purge_daily as purge_traces_daily

log = logging.getLogger("bastion.server")

__all__ = ["ListenError", "NodeDuties", "StartRefused", "check_start", "record_retention", "serve"]


class StartRefused(ListenError):
    """The node would run in a state the rules forbid; the message names the setting."""


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


def _audit_start_refused(core: Bastion, problem: str) -> None:
    with core.db.session() as session:
        core.audit.append(session, action="node.start_refused", outcome="failed",
                          reasons=[problem], details={"node": core.node})


def check_start(core: Bastion, *, demo: bool = False) -> None:
    """What every start records and refuses, one process or a supervisor: second-factor
    exceptions in force go in the audit trail; break-glass that could tell nobody must not
    be offered (CNIL, bris de glace)."""
    record_second_factor_exceptions(core)
    if core.settings.recording.storage == "local":
        # A node restored without its recordings folder (or given a new one) records from
        # its first session; what cannot be created is named by /readyz, not a crash here.
        with contextlib.suppress(OSError):
            core.settings.recordings_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    problem = start_problem(core)
    if problem is not None and demo:
        # The demo runs on a laptop without a mail server; it says so rather than pretend.
        log.warning("demo: %s", problem)
    elif problem is not None:
        _audit_start_refused(core, problem)
        raise StartRefused(problem)


async def housekeeping(core: Bastion, stop: asyncio.Event) -> None:
    """Pending requests expire, grants past their end are ended, spent challenges go,
    overdue access reviews suspend what was not confirmed, console sessions ended over
    30 days ago go, and freed memory is handed back to the system."""
    async def one_round() -> None:
        await asyncio.to_thread(run_housekeeping, core)
        # Access-review lines not confirmed by their campaign's deadline are suspended.
        await asyncio.to_thread(close_overdue_campaigns, core)
        # Vendors a year without a confirmed review, grace period over, are suspended.
        await asyncio.to_thread(suspend_unreviewed_vendors, core)
        await asyncio.to_thread(suspend_unreviewed_staff, core)  # and staff roles alike
        await asyncio.to_thread(purge_console_sessions, core)
        # Buffers freed by bulk transfers go back to the system (see free_memory).
        await asyncio.to_thread(release_free_memory)

    await run_every(HOUSEKEEPING_SECONDS, stop, one_round, what="housekeeping round")


class NodeDuties:
    """What a node does once, however many processes it runs: retention purges,
    housekeeping, the DPO's daily summary, notifications and SIEM forwarding."""

    def __init__(self, core: Bastion, stop: asyncio.Event) -> None:
        self.core = core
        self.stop_event = stop
        self.tasks: list[asyncio.Task[None]] = []
        self.notifier = NotificationWorker(core)

    def start(self) -> None:
        core, stop = self.core, self.stop_event
        # Retention: recordings and audit events past their period (and not on legal hold)
        # are purged daily; new audit events go to the SIEM when [syslog] is configured.
        self.tasks = [
            asyncio.create_task(purge_daily(RecordingService(core), stop)),
            asyncio.create_task(purge_audit_daily(core, stop)),
            # Requests, grants, sessions... past the same period (bastion/trace_retention.py).
            asyncio.create_task(purge_traces_daily(core, stop)),
            # An idle log's unsigned tail is signed after audit.checkpoint_minutes.
            asyncio.create_task(checkpoint_timer(core, stop)),
            asyncio.create_task(housekeeping(core, stop)),
            # The DPO's daily summary (overdue break-glass reviews, flags), once a local day.
            asyncio.create_task(controls.daily_summaries(core, stop)),
            # Staff the hospital directory disabled or took out of their groups lose it.
            asyncio.create_task(directory_checks(core, stop)),
        ]
        self.notifier.start()
        forwarder = forwarder_from_settings(core.db, core.settings.syslog)
        if forwarder is not None:
            self.tasks.append(asyncio.create_task(forwarder.run_async(stop)))

    async def finish(self) -> None:
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.notifier.stop()


async def serve(core: Bastion, app_factory: Callable[[Bastion], object],
                ready: Callable[[int, int], None] | None = None, *,
                demo: bool = False) -> None:
    core.db.require_current_schema()
    await asyncio.to_thread(record_retention, core)
    await asyncio.to_thread(partial(check_start, core, demo=demo))
    # Signed at each start and stop: what a node did before it stopped (or crashed) is
    # vouched for by a signature, not only by the hash chain an insider could cut.
    await asyncio.to_thread(audit_checkpoint, core, "start")
    tune_for_many_sessions()
    bound_retained_memory()
    proxy = ProxyService(core)
    ssh = core.settings.ssh
    try:
        ssh_port = await proxy.start()
    except OSError as exc:
        raise listen_failure(exc, "ssh", ssh.listen_host, ssh.listen_port) from None
    try:
        console = ConsoleServer(core, app_factory)
    except ListenError:
        await proxy.stop()
        raise
    console.start()
    log.info("node %s ready: SSH proxy on %s:%d, console on %s:%d", core.node,
             core.settings.ssh.listen_host, ssh_port, core.settings.web.listen_host, console.port)
    if ready:
        ready(ssh_port, console.port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    duties = NodeDuties(core, stop)
    duties.start()
    try:
        await stop.wait()
    finally:
        await duties.finish()
        log.info("stopping: closing live sessions")
        await proxy.stop()
        console.stop()
        try:
            await asyncio.to_thread(audit_checkpoint, core, "stop")
        except Exception:  # noqa: BLE001 - the next start signs the tail instead
            log.exception("the audit checkpoint at stop failed")
        log.info("stopped")
