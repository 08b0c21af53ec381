"""What the technician saw is exactly what the recording holds; a recording that cannot be
written ends the session; a killed bastion leaves a recording that verifies."""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from bastion.audit import Actor
from bastion.models import Recording, SshSession
from bastion.recording import RecordingService
from tests.conftest import SECOND_FACTOR_OFF
from tests.harness.ports import free_port, wait_for_port
from tests.proxy.conftest import RunningProxy, Scenario

DPO = Actor("staff:dpo", "dpo")


def _output_of(cast: str) -> bytes:
    lines = cast.splitlines()
    return "".join(json.loads(line)[2] for line in lines[1:]
                   if json.loads(line)[1] == "o").encode()


def _recording_ids(scenario: Scenario) -> list[int]:
    with scenario.core.db.session() as s:
        return list(s.scalars(select(Recording.id).order_by(Recording.id)))


def test_export_equals_what_the_target_printed(scenario: Scenario, tmp_path: Path) -> None:
    scenario.grant()
    script = r'printf "d\xc3\xa9but \033[1mgras\033[0m\r\n"; seq 1 3000; printf "fin \xe2\x82\xac\n"'
    result = scenario.ssh(script)
    assert result.returncode == 0
    (recording_id,) = _recording_ids(scenario)
    service = RecordingService(scenario.core)
    out = io.StringIO()
    service.export(recording_id, out, DPO)
    assert _output_of(out.getvalue()) == result.stdout
    assert service.verify(recording_id, DPO).ok
    cast = tmp_path / "session.cast"
    cast.write_text(out.getvalue())
    asciinema = shutil.which("asciinema") or str(Path(sys.executable).parent / "asciinema")
    shown = subprocess.run([asciinema, "cat", str(cast)], capture_output=True, timeout=60)
    assert shown.stdout == result.stdout


def test_full_disk_ends_the_session_and_nothing_unrecorded_is_shown(
        scenario: Scenario, tiny_recordings_dir: Path) -> None:
    scenario.core.settings = scenario.core.settings.with_changes(
        "paths", recordings_dir=tiny_recordings_dir)
    proxy = RunningProxy(scenario.core)
    scenario.client.trust("127.0.0.1", proxy.port, proxy.host_key_line)
    try:
        scenario.grant()
        # seq's output compresses well: print random text that does not.
        result = scenario.client.ssh(scenario.user, "127.0.0.1", proxy.port,
                                     "head -c 3000000 /dev/urandom | base64")
    finally:
        proxy.stop()
    assert result.returncode != 0
    assert "can no longer be recorded" in result.stderr.decode()
    assert 0 < len(result.stdout) < 3_000_000
    (recording_id,) = _recording_ids(scenario)
    service = RecordingService(scenario.core)
    reader = service.open_reader(recording_id, DPO)
    recorded = bytearray()
    try:
        for event in reader.events():
            if event.code == "o":
                recorded += event.data if isinstance(event.data, bytes) else event.data.encode()
    except Exception:  # noqa: BLE001 - the tail that did not fit is reported as missing
        pass
    # Everything the technician received is in the recording.
    assert bytes(recorded).startswith(result.stdout)


def test_sigkill_leaves_a_verifiable_recording_and_an_interrupted_session(
        scenario: Scenario, tmux) -> None:  # type: ignore[no-untyped-def]
    scenario.proxy.stop()
    scenario.grant()
    ssh_port, web_port = free_port(), free_port()
    env = {**os.environ, "BASTION_PATHS__VAR_DIR": str(scenario.core.settings.var_dir),
           "BASTION_SSH__LISTEN_PORT": str(ssh_port), "BASTION_WEB__LISTEN_PORT": str(web_port),
           "BASTION_NODE__NAME": "node-under-test", **SECOND_FACTOR_OFF}
    serve = subprocess.Popen([sys.executable, "-m", "bastion", "serve"], env=env,
                             stderr=subprocess.PIPE)
    try:
        wait_for_port(ssh_port)
        scenario.client.trust("127.0.0.1", ssh_port, scenario.proxy.host_key_line)
        tmux.start(scenario.client.ssh_argv(scenario.user, "127.0.0.1", ssh_port, extra=["-t"]))
        tmux.type("PS1='dpi> '; seq 1 500\n")
        tmux.wait_for(r"^500$")
        serve.send_signal(signal.SIGKILL)
        serve.wait(10)
        with scenario.core.db.session() as s:
            assert s.scalars(select(SshSession)).one().status == "live"
        restarted = subprocess.Popen([sys.executable, "-m", "bastion", "serve"], env=env,
                                     stderr=subprocess.PIPE)
        try:
            wait_for_port(ssh_port)
        finally:
            restarted.send_signal(signal.SIGTERM)
            restarted.wait(20)
    finally:
        if serve.poll() is None:
            serve.kill()
    with scenario.core.db.session() as s:
        session = s.scalars(select(SshSession)).one()
        recording = s.scalars(select(Recording)).one()
        assert session.status == "interrupted"
        assert recording.status == "interrupted"
    report = RecordingService(scenario.core).verify(recording.id, DPO)
    assert report.ok, report
    reader = RecordingService(scenario.core).open_reader(recording.id, DPO)
    shown = b"".join(e.data if isinstance(e.data, bytes) else e.data.encode()
                     for e in reader.events() if e.code == "o")
    assert b"\r\n500\r\n" in shown
