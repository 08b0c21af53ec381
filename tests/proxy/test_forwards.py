"""-L only where the grant says; -R, -D, -J, -A, -X refused with a message and an audit event."""

from __future__ import annotations

import socket
import subprocess
import threading
import time

from sqlalchemy import select

from bastion.models import AuditEvent
from tests.harness.ports import free_port
from tests.proxy.conftest import Scenario


def _events(scenario: Scenario, action: str) -> list[AuditEvent]:
    with scenario.core.db.session() as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def _echo_server() -> tuple[int, socket.socket]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(5)

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            data = conn.recv(1024)
            conn.sendall(b"echo:" + data)
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    return server.getsockname()[1], server


def _forward(scenario: Scenario, spec: str) -> subprocess.Popen[bytes]:
    argv = scenario.client.ssh_argv(scenario.user, "127.0.0.1", scenario.proxy.port, "-N",
                                    extra=["-L", spec, "-o", "ExitOnForwardFailure=yes",
                                           "-o", "LogLevel=INFO"])
    return subprocess.Popen(argv, stderr=subprocess.PIPE)


def _connect(port: int) -> bytes:
    deadline = time.monotonic() + 10
    while True:
        try:
            conn = socket.create_connection(("127.0.0.1", port), timeout=5)
            break
        except ConnectionRefusedError:  # the client is not listening yet
            assert time.monotonic() < deadline
            time.sleep(0.05)
    with conn:
        conn.sendall(b"ping")
        return conn.recv(1024)


def test_local_forward_only_to_listed_destinations(scenario: Scenario) -> None:
    service_port, server = _echo_server()
    scenario.grant(channels=["forward"], forwards=[f"127.0.0.1:{service_port}"])
    local = free_port()
    tunnel = _forward(scenario, f"{local}:127.0.0.1:{service_port}")
    try:
        assert _connect(local) == b"echo:ping"
    finally:
        tunnel.terminate()
        tunnel.wait()
    other_port, other = _echo_server()
    local = free_port()
    tunnel = _forward(scenario, f"{local}:127.0.0.1:{other_port}")
    try:
        try:
            answer = _connect(local)
        except ConnectionResetError:
            answer = b""
        assert answer == b""  # the client closed the local socket: nothing reached the service
    finally:
        tunnel.terminate()
        _, stderr = tunnel.communicate()
    assert f"forwarding to 127.0.0.1:{other_port} is not allowed by your contract" in stderr.decode()
    assert _events(scenario, "forward.opened") and _events(scenario, "forward.refused")
    server.close()
    other.close()


def test_proxyjump_to_a_target_is_refused(scenario: Scenario, tmp_path) -> None:  # type: ignore[no-untyped-def]
    scenario.grant(channels=["shell", "exec", "forward"], forwards=["127.0.0.1:22"])
    client = scenario.client
    config = tmp_path / "ssh_config"
    config.write_text(f"""
Host bastion
  HostName 127.0.0.1
  Port {scenario.proxy.port}
  User {scenario.user}
Host dpi
  HostName 127.0.0.1
  Port {scenario.target.port}
  User {scenario.target.account}
  ProxyJump bastion
Host *
  IdentityFile {client.key_path}
  IdentitiesOnly yes
  UserKnownHostsFile {client.known_hosts}
  StrictHostKeyChecking yes
  BatchMode yes
  LogLevel INFO
""")
    result = subprocess.run(["ssh", "-F", str(config), "dpi", "true"], capture_output=True,
                            timeout=60)
    assert result.returncode == 255
    assert "sessions must be opened through the bastion" in result.stderr.decode()
    refusals = _events(scenario, "forward.refused")
    assert refusals and "a tunnel to a target's SSH port would hide the session" in \
        refusals[-1].details["reason"]


def test_remote_and_dynamic_forwarding_refused(scenario: Scenario) -> None:
    scenario.grant(channels=["shell", "exec", "forward"])
    remote = scenario.ssh("sleep 1", extra=["-R", f"{free_port()}:127.0.0.1:22",
                                            "-o", "ExitOnForwardFailure=yes"])
    assert remote.returncode == 255
    assert "remote port forwarding failed" in remote.stderr.decode()
    socks = free_port()
    argv = scenario.client.ssh_argv(scenario.user, "127.0.0.1", scenario.proxy.port, "-N",
                                    extra=["-D", str(socks), "-o", "LogLevel=INFO"])
    tunnel = subprocess.Popen(argv, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                conn = socket.create_connection(("127.0.0.1", socks), timeout=5)
                break
            except OSError:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        # SOCKS5: no auth, then CONNECT 127.0.0.1:80
        conn.sendall(b"\x05\x01\x00")
        assert conn.recv(2) == b"\x05\x00"
        conn.sendall(b"\x05\x01\x00\x01\x7f\x00\x00\x01\x00\x50")
        reply = conn.recv(10)
        assert reply[:2] != b"\x05\x00"  # the CONNECT was not granted
        conn.close()
    finally:
        tunnel.terminate()
        try:
            tunnel.wait(5)
        except subprocess.TimeoutExpired:
            # OpenSSH's client now and then leaves a SIGTERM pending until the server's next
            # keepalive (60 s): its own race, not a session the bastion keeps open.
            tunnel.kill()
        _, stderr = tunnel.communicate()
    assert "forwarding to 127.0.0.1:80 is not allowed by your contract" in stderr.decode()
    reasons = [e.details["destination"] for e in _events(scenario, "forward.refused")]
    assert any(d.startswith("remote ") for d in reasons) and "127.0.0.1:80" in reasons


def test_agent_and_x11_forwarding_refused_with_a_message(scenario: Scenario, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import os

    scenario.grant()
    agent_socket = tmp_path / "agent.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(agent_socket)],
                             stdout=subprocess.DEVNULL)
    try:
        while not agent_socket.exists():
            time.sleep(0.05)
        env = {**os.environ, "SSH_AUTH_SOCK": str(agent_socket), "DISPLAY": "127.0.0.1:77"}
        result = scenario.client.ssh(scenario.user, "127.0.0.1", scenario.proxy.port, "echo hi",
                                     extra=["-A", "-X"], env=env)
    finally:
        agent.terminate()
    assert result.stdout == b"hi\n"
    stderr = result.stderr.decode()
    assert "bastion: agent forwarding is refused" in stderr
    assert "bastion: X11 forwarding is refused" in stderr
    refused = {e.details["request"] for e in _events(scenario, "channel.request_refused")}
    assert refused == {"agent forwarding", "X11 forwarding"}
