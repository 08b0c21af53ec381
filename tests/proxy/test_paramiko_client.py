"""The same scenarios with paramiko, a second SSH implementation, as the technician's client."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import time
from collections.abc import Callable, Iterator

import paramiko
import pytest

from tests.proxy.conftest import Scenario


@pytest.fixture
def connect(scenario: Scenario) -> Iterator[Callable[[], paramiko.SSHClient]]:
    """Connects when called: after the test has set up the grant it needs (without one,
    the bastion would ask for a reason by keyboard-interactive)."""
    opened: list[paramiko.SSHClient] = []

    def open_client() -> paramiko.SSHClient:
        ssh = _client(scenario)
        opened.append(ssh)
        return ssh

    yield open_client
    for ssh in opened:
        ssh.close()


def _client(scenario: Scenario) -> paramiko.SSHClient:
    ssh = paramiko.SSHClient()
    key_type, key_data = scenario.proxy.host_key_line.split()[:2]
    host_key = paramiko.PKey.from_type_string(key_type, base64.b64decode(key_data))
    ssh.get_host_keys().add(f"[127.0.0.1]:{scenario.proxy.port}", key_type, host_key)
    ssh.set_missing_host_key_policy(paramiko.RejectPolicy())
    ssh.connect("127.0.0.1", scenario.proxy.port, username=scenario.user,
                key_filename=str(scenario.client.key_path), look_for_keys=False,
                allow_agent=False, timeout=10)
    return ssh


def test_exec_status_and_streams(scenario: Scenario, connect) -> None:  # type: ignore[no-untyped-def]
    scenario.grant()
    client = connect()
    _, stdout, stderr = client.exec_command("echo out; echo err >&2; exit 3")
    assert stdout.read() == b"out\n"
    assert stderr.read() == b"err\n"
    assert stdout.channel.recv_exit_status() == 3


def test_interactive_shell_with_pty(scenario: Scenario, connect) -> None:  # type: ignore[no-untyped-def]
    scenario.grant()
    client = connect()
    channel = client.invoke_shell(term="xterm", width=91, height=27)
    channel.send(b"stty size; exit 5\n")
    output = b""
    deadline = time.monotonic() + 20
    while not channel.exit_status_ready() and time.monotonic() < deadline:
        if channel.recv_ready():
            output += channel.recv(65536)
        time.sleep(0.02)
    while channel.recv_ready():
        output += channel.recv(65536)
    assert b"27 91" in output
    assert channel.recv_exit_status() == 5


def test_sftp_round_trip_and_refusal(scenario: Scenario, connect) -> None:  # type: ignore[no-untyped-def]
    home = str(scenario.target.home)
    scenario.grant(sftp={"access": "read-write", "allow": [f"{home}/**"], "deny": [f"{home}/.ssh/**"]})
    client = connect()
    payload = os.urandom(3 * 1024 * 1024 + 17)
    sftp = client.open_sftp()
    sftp.putfo(io.BytesIO(payload), "paramiko.bin")
    back = io.BytesIO()
    sftp.getfo("paramiko.bin", back)
    assert hashlib.sha256(back.getvalue()).digest() == hashlib.sha256(payload).digest()
    with pytest.raises(PermissionError):
        sftp.open("/etc/hostname")
    with pytest.raises(PermissionError):
        sftp.listdir(f"{home}/.ssh")
    sftp.close()


def test_refused_forward(scenario: Scenario, connect) -> None:  # type: ignore[no-untyped-def]
    scenario.grant(channels=["exec", "forward"])
    client = connect()
    with pytest.raises(paramiko.ChannelException) as refused:
        client.get_transport().open_channel("direct-tcpip", ("127.0.0.1", 22), ("127.0.0.1", 0))
    assert "bastion" in str(refused.value.text) or refused.value.code == 1
