"""The supervisor of a node with several SSH proxy workers.

It binds the SSH port once per worker slot with SO_REUSEPORT (the kernel spreads new
connections over the slots, one per core) and the console port once, and keeps every
socket open for the node's life: a worker's next generation accepts on the same socket,
so a reload or a crashed worker's restart loses no queued connection. It starts one
console process (the console and the node's duties) and one proxy worker per slot, each a
``bastion serve --role ...`` child that says ``ready`` on its standard output.

Signals: SIGTERM or SIGINT stops every child (live sessions are told and closed);
SIGHUP replaces the workers one at a time: the new generation starts and says ready, then
the old one stops accepting and exits when its last session ends, so no live session is
dropped. A worker that dies is replaced; its sessions are marked interrupted.

The processes share nothing but the database, as several nodes do. Each proxy worker
starts and tends its own recorder process (bastion/recording/recorder_link.py): the
supervisor never sees it; a worker's death ends its recorder too (its socket closes)."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from bastion.audit.service import checkpoint as audit_checkpoint
from bastion.context import Bastion
from bastion.proxy import directory
from bastion.recording import RecordingService

from .listening import ListenError, bind

log = logging.getLogger("bastion.runtime.supervisor")

READY_TIMEOUT_SECONDS = 60
STOP_TIMEOUT_SECONDS = 30
POLL_SECONDS = 0.2


@dataclass
class Child:
    role: str  # "proxy" or "console"
    slot: int
    generation: int
    node: str
    process: subprocess.Popen[bytes]
    ready: threading.Event = field(default_factory=threading.Event)
    draining: bool = False

    @property
    def name(self) -> str:
        return self.node


def worker_node_name(node: str, slot: int, generation: int) -> str:
    """How a worker's sessions and audit events name it: ``node-1/w2.5`` is slot 2's
    fifth process of node-1."""
    return f"{node}/w{slot}.{generation}"


class Supervisor:
    def __init__(self, core: Bastion, workers: int, config_path: Path | None) -> None:
        self.core = core
        self.workers = workers
        self.config_path = config_path
        self.children: list[Child] = []
        self.generation = 0
        self.stopping = False
        self.reload_asked = False
        self.ssh_sockets: list[socket.socket] = []
        self.web_socket: socket.socket | None = None

    # --- life cycle --------------------------------------------------------------------

    def run(self) -> None:
        self._bind()
        self._recover()
        # Signed at each start and stop, as a one-process node does (bastion.server).
        audit_checkpoint(self.core, "start")
        # Each child's counters go to files here; the console's /metrics sums them.
        metrics = Path(tempfile.mkdtemp(prefix="bastion-metrics-"))
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics)
        signal.signal(signal.SIGTERM, self._ask_stop)
        signal.signal(signal.SIGINT, self._ask_stop)
        signal.signal(signal.SIGHUP, self._ask_reload)
        try:
            self._start_all()
            log.info("node %s ready: %d proxy workers on port %d, console on port %d (pid %d)",
                     self.core.node, self.workers, self.ssh_port, self.web_port, os.getpid())
            while not self.stopping:
                if self.reload_asked:
                    self.reload_asked = False
                    self.reload()
                self._tend()
                time.sleep(POLL_SECONDS)
        finally:
            self._stop_all()
            for sock in [*self.ssh_sockets, self.web_socket]:
                if sock is not None:
                    sock.close()
            shutil.rmtree(metrics, ignore_errors=True)
            try:
                audit_checkpoint(self.core, "stop")
            except Exception:  # noqa: BLE001 - the next start signs the tail instead
                log.exception("the audit checkpoint at stop failed")
            log.info("node %s stopped", self.core.node)

    def _ask_stop(self, _signum: int, _frame: FrameType | None) -> None:
        self.stopping = True

    def _ask_reload(self, _signum: int, _frame: FrameType | None) -> None:
        self.reload_asked = True

    def _bind(self) -> None:
        ssh, web = self.core.settings.ssh, self.core.settings.web
        first = bind("ssh", ssh.listen_host, ssh.listen_port, reuse_port=True)
        port = first.getsockname()[1]
        self.ssh_sockets = [first] + [bind("ssh", ssh.listen_host, port, reuse_port=True)
                                      for _ in range(self.workers - 1)]
        try:
            self.web_socket = bind("web", web.listen_host, web.listen_port)
        except ListenError:
            for sock in self.ssh_sockets:
                sock.close()
            raise

    @property
    def ssh_port(self) -> int:
        return self.ssh_sockets[0].getsockname()[1]

    @property
    def web_port(self) -> int:
        assert self.web_socket is not None
        return self.web_socket.getsockname()[1]

    def _recover(self) -> None:
        """What this node's processes left live when it last stopped (crash, SIGKILL)."""
        sessions = directory.mark_interrupted_sessions(self.core, with_workers=True)
        recordings = RecordingService(self.core).mark_interrupted(with_workers=True)
        if sessions or recordings:
            log.warning("%d session(s) and %d recording(s) left live by the last run: marked "
                        "interrupted", sessions, len(recordings))

    # --- children ----------------------------------------------------------------------

    def _command(self, role: str, fd: int, slot: int, node: str) -> list[str]:
        config = ["--config", str(self.config_path)] if self.config_path else []
        return [sys.executable, "-m", "bastion", *config, "serve", "--role", role,
                "--listen-fd", str(fd), "--node-name", node, "--slot", str(slot)]

    def _spawn(self, role: str, slot: int) -> Child:
        self.generation += 1
        listener = self.web_socket if role == "console" else self.ssh_sockets[slot - 1]
        assert listener is not None
        node = (self.core.node if role == "console"
                else worker_node_name(self.core.node, slot, self.generation))
        process = subprocess.Popen(
            self._command(role, listener.fileno(), slot, node), pass_fds=(listener.fileno(),),
            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
        child = Child(role, slot, self.generation, node, process)
        threading.Thread(target=self._read_ready, args=(child,), daemon=True,
                         name=f"ready-{node}").start()
        self.children.append(child)
        return child

    @staticmethod
    def _read_ready(child: Child) -> None:
        assert child.process.stdout is not None
        for line in child.process.stdout:
            if line.startswith(b"ready"):
                child.ready.set()

    def _wait_ready(self, child: Child) -> bool:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while time.monotonic() < deadline and not self.stopping:
            if child.ready.wait(POLL_SECONDS):
                return True
            if child.process.poll() is not None:
                return False
        return False

    def _start_all(self) -> None:
        starting = [self._spawn("console", 0)]
        starting += [self._spawn("proxy", slot) for slot in range(1, self.workers + 1)]
        for child in starting:
            if not self._wait_ready(child):
                raise RuntimeError(f"{child.role} process {child.name} did not start "
                                   f"(exit code {child.process.poll()}): see the lines above")

    def _tend(self) -> None:
        """Replace what died; forget drained generations that ended."""
        for child in list(self.children):
            code = child.process.poll()
            if code is None:
                continue
            self.children.remove(child)
            if child.draining or self.stopping:
                continue
            log.warning("%s process %s exited with code %s: starting another", child.role,
                        child.name, code)
            if child.role == "proxy":
                self._interrupt_sessions_of(child.node)
            time.sleep(1)  # a crash loop must not spin the CPU
            self._spawn(child.role, child.slot)

    def _interrupt_sessions_of(self, node: str) -> None:
        worker = Bastion(settings=self.core.settings, db=self.core.db, keys=self.core.keys,
                         audit=self.core.audit, node=node)
        try:
            directory.mark_interrupted_sessions(worker)
            RecordingService(worker).mark_interrupted()
        finally:
            self.core.db.event_observers.remove(worker.metrics.observe)

    def reload(self) -> None:
        """One slot at a time: the new generation is ready before the old one drains."""
        log.info("reload: replacing %d proxy workers and the console, one at a time",
                 self.workers)
        for old in [c for c in self.children if not c.draining]:
            if self.stopping:
                return
            new = self._spawn(old.role, old.slot)
            if not self._wait_ready(new):
                log.error("reload: the new %s process %s did not start; %s keeps running",
                          new.role, new.name, old.name)
                new.process.kill()
                continue
            old.draining = True
            # Proxy workers finish their live sessions; the console just stops.
            old.process.send_signal(signal.SIGUSR1 if old.role == "proxy" else signal.SIGTERM)
            log.info("reload: %s replaced by %s", old.name, new.name)

    def _stop_all(self) -> None:
        for child in self.children:
            if child.process.poll() is None:
                child.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        for child in self.children:
            try:
                child.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.error("%s did not stop in %d s: killed", child.name, STOP_TIMEOUT_SECONDS)
                child.process.kill()
                child.process.wait()
