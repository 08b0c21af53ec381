"""A real `bastion serve` with two SSH proxy worker processes on PostgreSQL: sessions spread
over both workers, a revocation closes a session on either, a SIGHUP replaces every worker
without dropping a live session, and a dead worker is replaced with its sessions marked."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select

from bastion.context import Bastion
from bastion.models import SshSession
from tests.harness.clients import OpenSshClient
from tests.harness.postgres import PostgresServer

from .cluster import Node, approver_token, base_environment, grant, node, technician_world

pytestmark = pytest.mark.postgres

CLOSES_WITHIN_SECONDS = 5  # the design's figure is 2 s; bench/ measures it
WORKER = re.compile(r"^node-w/w(\d+)\.(\d+)$")


@dataclass
class Supervised:
    core: Bastion
    node: Node
    client: OpenSshClient
    token: str
    user: str = "jdupont+dpi-app-01"

    def wait_for_log(self, pattern: str, count: int = 1, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(re.findall(pattern, self.node.log())) >= count:
                return
            assert self.node.process and self.node.process.poll() is None, self.node.log()[-3000:]
            time.sleep(0.1)
        raise AssertionError(f"{pattern!r} x{count} not logged:\n{self.node.log()[-3000:]}")

    def live_ids(self) -> set[int]:
        with self.core.db.session() as s:
            return set(s.scalars(select(SshSession.id).where(SshSession.status == "live")))

    def ended(self, session_id: int) -> SshSession:
        """The row once its worker has recorded the end (just after the client saw it)."""
        deadline = time.monotonic() + 10
        while (row := self.row(session_id)).status == "live" and time.monotonic() < deadline:
            time.sleep(0.05)
        return row

    def row(self, session_id: int) -> SshSession:
        with self.core.db.session() as s:
            row = s.get(SshSession, session_id)
            s.expunge(row)
            return row

    def open_session(self, command: str = "sleep 300", stdin: int | None = subprocess.DEVNULL
                     ) -> tuple[subprocess.Popen[bytes], int]:
        before = self.live_ids()
        process = subprocess.Popen(
            self.client.ssh_argv(self.user, "127.0.0.1", self.node.ssh_port, command),
            stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            new = self.live_ids() - before
            if new:
                return process, new.pop()
            assert process.poll() is None, process.stderr.read() if process.stderr else b""
            time.sleep(0.05)
        process.kill()
        raise AssertionError("the session did not open")


@pytest.fixture(scope="module")
def supervised(postgres_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[Supervised]:
    workdir = tmp_path_factory.mktemp("workers")
    url = postgres_server.create_database(f"workers_{uuid.uuid4().hex[:10]}")
    core, target, client = technician_world(workdir, url, max_concurrent_sessions=50)
    token = approver_token(core, "workers test")
    served = node("node-w", base_environment(workdir / "var", url), workdir, BASTION_NODE__WORKERS="2")
    served.start()
    world = Supervised(core, served, client, token)
    client.trust("127.0.0.1", served.ssh_port, core.keys.public_line("ssh_host_ed25519_key"))
    try:
        world.wait_for_log(r"2 proxy workers on port")
        grant(core, "jdupont", "dpi-app-01", minutes=120)
        yield world
    finally:
        served.stop()
        target.stop()
        core.close()


def _worker_processes(world: Supervised) -> dict[str, int]:
    """node name -> pid of the supervisor's children that are proxy workers (from /proc)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == world.node.pid and "proxy" in argv and "--node-name" in argv:
            found[argv[argv.index("--node-name") + 1]] = int(entry.name)
    return found


def test_sessions_spread_over_both_workers_and_each_closes_on_revocation(
        supervised: Supervised) -> None:
    opened: dict[str, tuple[subprocess.Popen[bytes], int]] = {}
    extra = []
    for _ in range(16):
        process, session_id = supervised.open_session()
        slot = WORKER.match(supervised.row(session_id).node).group(1)
        if slot in opened:
            extra.append(process)
        else:
            opened[slot] = (process, session_id)
        if len(opened) == 2:
            break
    for process in extra:
        process.kill()
    assert set(opened) == {"1", "2"}, "every session went to one worker"
    # /metrics sums the workers' counters, and shows the live sessions of each.
    with urllib.request.urlopen(f"http://127.0.0.1:{supervised.node.web_port}/metrics",  # noqa: S310
                                timeout=10) as answer:
        metrics = answer.read().decode()
    logins = re.search(r"^bastion_ssh_logins_total (\S+)$", metrics, re.M)
    assert logins and float(logins.group(1)) >= 2 + len(extra), metrics[:2000]
    live_by_worker = re.findall(r'^bastion_live_sessions\{node="node-w/w(\d)\.\d+"\}', metrics, re.M)
    assert set(live_by_worker) == {"1", "2"}
    for process, session_id in opened.values():
        asked = time.monotonic()
        status, answer = supervised.node.api("POST", f"/sessions/{session_id}/terminate",
                                             supervised.token, {"reason": "closing one worker's"})
        assert status == 202, answer
        process.wait(CLOSES_WITHIN_SECONDS)
        assert time.monotonic() - asked < CLOSES_WITHIN_SECONDS
        row = supervised.ended(session_id)
        assert row.status != "live" and "closing one worker's" in (row.end_reason or "")


def test_a_reload_replaces_every_worker_and_drops_no_live_session(supervised: Supervised) -> None:
    before = _worker_processes(supervised)
    assert len(before) == 2, supervised.node.log()[-3000:]
    shell, session_id = supervised.open_session("cat", stdin=subprocess.PIPE)
    assert shell.stdin and shell.stdout
    shell.stdin.write(b"before the reload\n")
    shell.stdin.flush()
    assert shell.stdout.readline() == b"before the reload\n"
    os.kill(supervised.node.pid, signal.SIGHUP)
    supervised.wait_for_log(r"reload: node-w/w\d+\.\d+ replaced by", count=2)
    after = _worker_processes(supervised)
    new_workers = set(after) - set(before)
    assert len(new_workers) == 2, after
    # New connections go to the new generation while the old one drains its session.
    fresh = supervised.client.ssh(supervised.user, "127.0.0.1", supervised.node.ssh_port, "echo new")
    assert fresh.returncode == 0 and fresh.stdout == b"new\n", fresh.stderr
    shell.stdin.write(b"after the reload\n")
    shell.stdin.flush()
    assert shell.stdout.readline() == b"after the reload\n"
    shell.stdin.close()
    assert shell.wait(30) == 0
    row = supervised.ended(session_id)
    assert (row.status, row.end_reason) == ("ended", "the technician disconnected")
    # The drained generation leaves once its last session has ended.
    deadline = time.monotonic() + 30
    while set(_worker_processes(supervised)) & set(before) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not set(_worker_processes(supervised)) & set(before)


def test_a_killed_worker_is_replaced_and_its_sessions_marked_interrupted(
        supervised: Supervised) -> None:
    process, session_id = supervised.open_session()
    victim = supervised.row(session_id).node
    pid = _worker_processes(supervised)[victim]
    started = supervised.node.log().count("accepting on port")
    os.kill(pid, signal.SIGKILL)
    process.wait(30)
    supervised.wait_for_log(rf"process {re.escape(victim)} exited with code -9")
    deadline = time.monotonic() + 30
    while supervised.row(session_id).status == "live" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert supervised.row(session_id).status == "interrupted"
    # Its replacement accepts on the same socket: what queued there meanwhile is served.
    supervised.wait_for_log(r"accepting on port", count=started + 1)
    assert len(_worker_processes(supervised)) == 2
    again = supervised.client.ssh(supervised.user, "127.0.0.1", supervised.node.ssh_port, "echo back")
    assert again.returncode == 0 and again.stdout == b"back\n", again.stderr


def test_sigterm_stops_every_worker_at_once(supervised: Supervised) -> None:
    # Last in this module: it stops the node. A worker used to sit out the rest of its
    # 30 s memory round after SIGTERM (asyncio.wait waited for both of its events), and
    # the supervisor or systemd killed it instead.
    process = supervised.node.process
    assert process is not None and process.poll() is None
    workers = _worker_processes(supervised)
    assert len(workers) == 2
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    process.wait(60)
    took = time.monotonic() - started
    log = supervised.node.log()
    assert all(f"proxy worker {name} stopping" in log for name in workers), log[-3000:]
    assert "did not stop" not in log
    assert took < 15, f"the node took {took:.1f} s to stop (a memory round is 30 s)"
