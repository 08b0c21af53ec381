"""A real `bastion serve` with two SSH proxy workers on PostgreSQL, each writing its
recordings through a recorder process of its own: a flood comes out of the export byte for
byte as the technician received it, and a recorder process killed under a live session
ends that session with the recording-failed line, audited, and is replaced."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from bastion.audit import Actor
from bastion.models import AuditEvent, Recording
from bastion.proxy import messages
from bastion.recording import RecordingService
from tests.harness.postgres import PostgresServer
from tests.harness.processes import open_files

from .cluster import approver_token, base_environment, grant, node, technician_world
from .test_process_model import Supervised, _worker_processes

pytestmark = pytest.mark.postgres

RECORDER = "bastion.recording.recorder_process"


@pytest.fixture(scope="module")
def supervised(postgres_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[Supervised]:
    workdir = tmp_path_factory.mktemp("recorders")
    url = postgres_server.create_database(f"recorders_{uuid.uuid4().hex[:10]}")
    core, target, client = technician_world(workdir, url, max_concurrent_sessions=50)
    token = approver_token(core, "recorder test")
    served = node("node-r", base_environment(workdir / "var", url), workdir,
                  BASTION_NODE__WORKERS="2")
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


def _recorders_of(worker_pid: int) -> list[int]:
    """The recorder processes whose parent is this worker (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == worker_pid and RECORDER in argv:
            found.append(int(entry.name))
    return found


def _worker_of(world: Supervised, session_id: int) -> int:
    workers = {name.split("/")[-1]: pid for name, pid in _worker_processes(world).items()}
    return workers[world.row(session_id).node.split("/")[-1]]


def _recordings_of(world: Supervised, session_id: int) -> list[Recording]:
    with world.core.db.session() as s:
        rows = list(s.scalars(select(Recording).where(Recording.session_id == session_id)))
        s.expunge_all()
        return rows


def _settled_recording(world: Supervised, session_id: int) -> Recording:
    """The session's one recording once it is no longer open (sealed or interrupted)."""
    deadline = time.monotonic() + 30
    while _recordings_of(world, session_id)[0].status == "open" and time.monotonic() < deadline:
        time.sleep(0.1)
    (recording,) = _recordings_of(world, session_id)
    return recording


def test_every_worker_records_through_its_own_recorder_and_a_flood_exports_byte_exact(
        supervised: Supervised) -> None:
    workers = _worker_processes(supervised)
    assert len(workers) == 2
    for pid in workers.values():
        assert len(_recorders_of(pid)) == 1, f"worker {pid} has no recorder process"
    size = 24 * 1024 * 1024
    before = supervised.live_ids()
    flood = supervised.client.ssh(supervised.user, "127.0.0.1", supervised.node.ssh_port,
                                  f"head -c {size} /dev/urandom", timeout=180)
    assert flood.returncode == 0 and len(flood.stdout) == size, flood.stderr
    with supervised.core.db.session() as s:
        session_id = max(s.scalars(select(Recording.session_id)))
    assert session_id not in before
    recording = _settled_recording(supervised, supervised.ended(session_id).id)
    assert recording.status == "sealed" and recording.output_bytes == size
    service = RecordingService(supervised.core)
    report = service.verify(recording.id)
    assert report.ok and report.sealed, report.describe()
    out, err = io.BytesIO(), io.BytesIO()
    service.export_raw(recording.id, out, err, Actor("dpo:test", "dpo"), purpose="test")
    assert out.getvalue() == flood.stdout  # what the technician received, byte for byte


def test_a_killed_recorder_ends_its_sessions_audited_and_is_replaced(
        supervised: Supervised) -> None:
    shell, session_id = supervised.open_session("cat", stdin=subprocess.PIPE)
    assert shell.stdin and shell.stdout and shell.stderr
    shell.stdin.write(b"recorded\n")
    shell.stdin.flush()
    assert shell.stdout.readline() == b"recorded\n"
    worker = _worker_of(supervised, session_id)
    (recorder,) = _recorders_of(worker)
    os.kill(recorder, signal.SIGKILL)
    # The session is idle (cat waits for input): it ends all the same, with the line.
    assert shell.wait(30) != 0
    assert messages.RECORDING_FAILED.encode() in shell.stderr.read().replace(b"\r\n", b" ")
    row = supervised.ended(session_id)
    assert row.status != "live" and "recording stopped" in (row.end_reason or "")
    with supervised.core.db.session() as s:
        failed = s.scalars(select(AuditEvent).where(AuditEvent.session_id == session_id,
                                                    AuditEvent.action == "recording.failed")).all()
        assert len(failed) == 1 and "recorder process" in failed[0].details["error"]
    recording = _settled_recording(supervised, session_id)
    assert recording.status == "interrupted"
    report = RecordingService(supervised.core).verify(recording.id)
    assert report.ok and not report.sealed and report.output_bytes >= len(b"recorded\n")
    # The worker stays, with a new recorder; its next sessions are recorded.
    deadline = time.monotonic() + 30
    while _recorders_of(worker) in ([], [recorder]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(_recorders_of(worker)) == 1 and _recorders_of(worker) != [recorder]
    assert worker in _worker_processes(supervised).values()
    for _ in range(6):  # SO_REUSEPORT spreads them: some land on the worker that lost one
        again = supervised.client.ssh(supervised.user, "127.0.0.1", supervised.node.ssh_port,
                                      "echo back")
        assert again.returncode == 0 and again.stdout == b"back\n", again.stderr


def test_a_recorder_killed_mid_flood_shows_nothing_unrecorded(supervised: Supervised) -> None:
    flood, session_id = supervised.open_session("cat /dev/zero")
    assert flood.stdout and flood.stderr
    received = flood.stdout.read(4 * 1024 * 1024)  # the flood is flowing
    worker = _worker_of(supervised, session_id)
    (recorder,) = _recorders_of(worker)
    os.kill(recorder, signal.SIGKILL)
    received += flood.stdout.read()
    assert flood.wait(30) != 0
    assert messages.RECORDING_FAILED.encode() in flood.stderr.read().replace(b"\r\n", b" ")
    recording = _settled_recording(supervised, session_id)
    assert recording.status == "interrupted"
    # Everything the technician received was recorded first (the recording may hold a
    # little more: pieces stored but not yet forwarded when the session ended).
    out, err = io.BytesIO(), io.BytesIO()
    RecordingService(supervised.core).export_raw(recording.id, out, err,
                                                 Actor("dpo:test", "dpo"), purpose="test")
    assert len(out.getvalue()) >= len(received) > 0
    assert out.getvalue()[:len(received)] == received


def _holds(pid: int, storage_key: str) -> bool:
    return any(path.endswith(storage_key) for path in open_files(pid))


def test_a_terminal_is_recorded_by_its_worker_and_a_command_by_the_recorder_process(
        supervised: Supervised) -> None:
    before = supervised.live_ids()
    terminal = subprocess.Popen(
        supervised.client.ssh_argv(supervised.user, "127.0.0.1", supervised.node.ssh_port,
                                   "cat", extra=["-tt"]),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert terminal.stdin and terminal.stdout
    deadline = time.monotonic() + 30
    while not supervised.live_ids() - before and time.monotonic() < deadline:
        time.sleep(0.05)
    (terminal_id,) = supervised.live_ids() - before
    command, command_id = supervised.open_session("cat", stdin=subprocess.PIPE)
    assert command.stdin and command.stdout
    try:
        terminal.stdin.write(b"typed\r")
        terminal.stdin.flush()
        seen = b""
        while b"typed" not in seen:
            seen += terminal.stdout.read1(4096)
        command.stdin.write(b"piped\n")
        command.stdin.flush()
        assert command.stdout.readline() == b"piped\n"
        for session_id, in_worker in ((terminal_id, True), (command_id, False)):
            (recording,) = _recordings_of(supervised, session_id)
            worker = _worker_of(supervised, session_id)
            deadline = time.monotonic() + 30  # an earlier test's killed recorder: replaced
            while len(_recorders_of(worker)) != 1 and time.monotonic() < deadline:
                time.sleep(0.1)
            (recorder,) = _recorders_of(worker)
            assert _holds(worker, recording.storage_key) is in_worker, session_id
            assert _holds(recorder, recording.storage_key) is not in_worker, session_id
    finally:
        terminal.stdin.write(b"\x04")  # Ctrl-D: end of input on a terminal
        for process in (terminal, command):
            process.stdin.close()  # type: ignore[union-attr]
            process.wait(30)
    for session_id in (terminal_id, command_id):
        recording = _settled_recording(supervised, session_id)
        assert recording.status == "sealed"
        report = RecordingService(supervised.core).verify(recording.id)
        assert report.ok and report.sealed, report.describe()


def _recorders_once_started(worker_pid: int) -> list[int]:
    """The worker's recorder processes, once it has one (a test above kills one; the worker
    starts its replacement a second or so later)."""
    deadline = time.monotonic() + 30
    while not (found := _recorders_of(worker_pid)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return found


def _affinity(pid: int) -> set[int] | None:
    try:
        return os.sched_getaffinity(pid)
    except ProcessLookupError:  # a short-lived thread that ended meanwhile
        return None


def test_each_worker_keeps_to_its_own_core_and_its_recorder_has_them_all(
        supervised: Supervised) -> None:
    # The node was started with this process's cores ([node] pin_workers, on by default).
    cores = sorted(os.sched_getaffinity(0))
    workers = _worker_processes(supervised)
    pinned = set()
    for name, pid in workers.items():
        slot = int(name.split("/w")[1].split(".")[0])
        mine = {cores[(slot - 1) % len(cores)]} if len(cores) > 1 else set(cores)
        threads = [int(tid) for tid in os.listdir(f"/proc/{pid}/task")]
        assert len(threads) > 1  # the loop and at least the database's or recording's threads
        assert {frozenset(a) for tid in threads if (a := _affinity(tid)) is not None} == {
            frozenset(mine)}, f"worker {name}"
        (recorder,) = _recorders_once_started(pid)  # the one started after the worker was pinned
        assert os.sched_getaffinity(recorder) == set(cores)
        pinned |= mine
    assert len(pinned) == min(2, len(cores))  # two workers, two different cores
