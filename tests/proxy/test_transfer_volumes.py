"""Bytes moved by exec channels (scp -O, rsync, cat file, cat > file) and by port forwards
count like SFTP's: in the channel's audit event, the download-volume flag, the logbook and
the vendor reports (`bastion reports vendors`)."""

from __future__ import annotations

import csv
import io
import os
import socket
import subprocess
import threading
import time
from datetime import timedelta
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import select

from bastion import controls
from bastion.cli import main_group
from bastion.logbook import LogbookFilter, build_logbook
from bastion.models import AuditEvent, SshSession, utcnow
from tests.harness.ports import free_port
from tests.proxy.conftest import Scenario

SIZE = 1_500_000  # each transfer: above the 1 MB threshold the test sets


def _sender(payload: bytes) -> tuple[int, socket.socket]:
    """A service beside the target that sends ``payload`` to whoever connects (a database
    dump read through a forward, say)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(5)

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                conn.sendall(payload)

    threading.Thread(target=serve, daemon=True).start()
    return server.getsockname()[1], server


def _read_through_forward(scenario: Scenario, service_port: int) -> bytes:
    local = free_port()
    tunnel = subprocess.Popen(scenario.client.ssh_argv(
        scenario.user, "127.0.0.1", scenario.proxy.port, "-N",
        extra=["-L", f"{local}:127.0.0.1:{service_port}", "-o", "ExitOnForwardFailure=yes"]))
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                conn = socket.create_connection(("127.0.0.1", local), timeout=10)
                break
            except ConnectionRefusedError:
                assert time.monotonic() < deadline, "the forward never listened"
                time.sleep(0.05)
        received = bytearray()
        with conn:
            while chunk := conn.recv(65536):
                received += chunk
        return bytes(received)
    finally:
        tunnel.terminate()
        tunnel.wait(10)


def _wait_closed(scenario: Scenario, sessions: int) -> None:
    deadline = time.monotonic() + 20
    while True:
        with scenario.core.db.session() as s:
            rows = s.scalars(select(SshSession)).all()
            forwards = s.scalars(select(AuditEvent)
                                 .where(AuditEvent.action == "forward.closed")).all()
        if len(rows) == sessions and all(r.status != "live" for r in rows) and forwards:
            return
        assert time.monotonic() < deadline, "sessions still live"
        time.sleep(0.1)


def test_exec_and_forward_volumes_count_in_flags_logbook_and_reports(
        scenario: Scenario, tmp_path: Path) -> None:
    scenario.core.settings = scenario.core.settings.with_changes("controls", sftp_download_mb=1)
    service_port, server = _sender(os.urandom(SIZE))
    scenario.grant(channels=["shell", "exec", "forward"],
                   forwards=[f"127.0.0.1:{service_port}"])
    home, spec, port = scenario.target.home, f"{scenario.user}@127.0.0.1", scenario.proxy.port
    source = tmp_path / "dump.bin"
    source.write_bytes(os.urandom(SIZE))
    made = scenario.ssh(f"head -c {SIZE} /dev/urandom > {home}/export.bin")
    assert made.returncode == 0, made.stderr

    scp = scenario.client.scp(f"{spec}:{home}/export.bin", str(tmp_path / "scp.bin"), port=port,
                              legacy=True)
    assert scp.returncode == 0, scp.stderr
    rsync = scenario.client.rsync(f"{spec}:{home}/export.bin", str(tmp_path / "rsync.bin"),
                                  port=port)
    assert rsync.returncode == 0, rsync.stderr
    cat = scenario.ssh(f"cat {home}/export.bin")
    assert cat.returncode == 0 and len(cat.stdout) == SIZE
    upload = scenario.ssh(f"cat > {home}/uploaded.bin", input=source.read_bytes())
    assert upload.returncode == 0, upload.stderr
    try:
        assert len(_read_through_forward(scenario, service_port)) == SIZE
    finally:
        server.close()
    _wait_closed(scenario, 6)

    with scenario.core.db.session() as s:
        closed = {e.session_id: e.details for e in s.scalars(
            select(AuditEvent).where(AuditEvent.action.in_(["channel.closed",
                                                            "forward.closed"])))}
        sessions = [row.id for row in s.scalars(select(SshSession).order_by(SshSession.id))]
    made_id, scp_id, rsync_id, cat_id, upload_id, forward_id = sessions
    assert closed[scp_id]["bytes_from_target"] >= SIZE  # the file, plus scp's protocol
    assert closed[rsync_id]["bytes_from_target"] >= SIZE // 2  # rsync compresses nothing here
    assert closed[cat_id]["bytes_from_target"] == SIZE
    assert closed[upload_id]["bytes_to_target"] == SIZE and closed[upload_id]["bytes_from_target"] == 0
    assert closed[forward_id]["bytes_from_target"] == SIZE

    # The volume flag: every download path, not only SFTP; an upload is no exfiltration.
    now = utcnow()
    flags = controls.compute_flags(scenario.core, since=now - timedelta(hours=1),
                                   until=now + timedelta(minutes=1), kinds=["sftp_volume"])
    by_session = {f.session_id: f for f in flags}
    assert set(by_session) == {scp_id, rsync_id, cat_id, forward_id}
    assert by_session[cat_id].details["via"] == "exec"
    assert by_session[cat_id].details["path"] == f"cat {home}/export.bin"
    assert by_session[forward_id].details["via"] == "forward"
    assert "(forward)" in controls.describe(by_session[forward_id], "en")

    # The logbook lists them as transfers, each way.
    [entry] = build_logbook(scenario.core, LogbookFilter())
    lines = {(t.session_id, t.via, t.direction): t for t in entry.transfers}
    assert lines[(cat_id, "exec", "download")].bytes == SIZE
    assert lines[(upload_id, "exec", "upload")].path == f"cat > {home}/uploaded.bin"
    assert lines[(upload_id, "exec", "upload")].bytes == SIZE
    assert lines[(forward_id, "forward", "download")].path == f"127.0.0.1:{service_port}"
    assert (scp_id, "exec", "download") in lines and (rsync_id, "exec", "download") in lines

    # The vendor report, as the DPO exports it.
    out = CliRunner().invoke(main_group, ["reports", "vendors", "--csv"],
                             env={"BASTION_PATHS__VAR_DIR": str(tmp_path / "var"),
                                  "BASTION_CONTROLS__SFTP_DOWNLOAD_MB": "1"})
    assert out.exit_code == 0, out.output
    rows = {int(r["session"]): r for r in csv.DictReader(io.StringIO(out.output))}
    assert int(rows[cat_id]["downloaded_bytes"]) == SIZE
    assert int(rows[upload_id]["uploaded_bytes"]) == SIZE
    assert int(rows[forward_id]["downloaded_bytes"]) == SIZE
    assert int(rows[scp_id]["downloaded_bytes"]) >= SIZE
    assert "sftp_volume" in rows[forward_id]["flags"]
