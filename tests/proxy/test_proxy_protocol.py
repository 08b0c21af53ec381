"""Behind a load balancer: a real `ssh` goes through a relay that speaks PROXY v2 like
HAProxy's send-proxy-v2, and the audit records the address the balancer vouches for."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from bastion.config import ConfigError, Settings
from bastion.models import AuditEvent, SshSession
from bastion.proxy.proxy_protocol import build_header
from tests.conftest import make_settings
from tests.proxy.conftest import Scenario

TECHNICIAN_ADDRESS = "203.0.113.7"  # documentation range: only the header can say it


class Relay:
    """A TCP relay on 127.0.0.1 in front of the proxy: on each connection it sends
    ``header`` (PROXY v2, or nothing) then copies bytes both ways."""

    def __init__(self, upstream_port: int, header: bytes) -> None:
        self.upstream_port = upstream_port
        self.header = header
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            upstream.sendall(self.header)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def settings(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.chdir(tmp_path)
    trusted = getattr(request, "param", '["127.0.0.1"]')
    return make_settings(tmp_path, BASTION_SSH__PROXY_PROTOCOL="v2",
                         BASTION_SSH__PROXY_PROTOCOL_TRUSTED=trusted)


def _relay(scenario: Scenario, header: bytes) -> Iterator[Relay]:
    relay = Relay(scenario.proxy.port, header)
    scenario.client.trust("127.0.0.1", relay.port, scenario.proxy.host_key_line)
    yield relay
    relay.close()


def _events(scenario: Scenario, action: str) -> list[AuditEvent]:
    with scenario.core.db.session() as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.action == action)
                              .order_by(AuditEvent.id)))


def test_the_audit_records_the_address_the_balancer_vouches_for(scenario: Scenario) -> None:
    scenario.grant()
    for relay in _relay(scenario, build_header((TECHNICIAN_ADDRESS, 51234), ("10.0.0.5", 2222))):
        result = scenario.client.ssh(scenario.user, "127.0.0.1", relay.port, "echo behind-the-lb")
        assert result.returncode == 0, result.stderr
        assert b"behind-the-lb" in result.stdout
    opened = _events(scenario, "session.opened")
    assert [e.details["client_address"] for e in opened] == [TECHNICIAN_ADDRESS]
    with scenario.core.db.session() as s:
        assert s.scalars(select(SshSession.client_address)).all() == [TECHNICIAN_ADDRESS]


def test_a_refused_login_also_names_the_technicians_address(scenario: Scenario) -> None:
    for relay in _relay(scenario, build_header((TECHNICIAN_ADDRESS, 4000))):
        result = scenario.client.ssh("nobody+dpi-app-01", "127.0.0.1", relay.port, "true")
        assert result.returncode != 0
    refused = _events(scenario, "login.refused")
    assert refused and {e.details["client_address"] for e in refused} == {TECHNICIAN_ADDRESS}


def test_a_connection_without_the_header_is_refused(scenario: Scenario) -> None:
    scenario.grant()
    # Straight to the listener, as if someone bypassed the balancer.
    result = scenario.ssh("echo should-not-run", timeout=30)
    assert result.returncode != 0
    assert b"should-not-run" not in result.stdout
    refused = _events(scenario, "login.refused")
    assert len(refused) == 1
    assert "no PROXY v2 signature" in refused[0].reasons[0]
    assert refused[0].details["client_address"] == "127.0.0.1"
    assert _events(scenario, "session.opened") == []


def test_a_health_check_local_header_is_not_a_login(scenario: Scenario) -> None:
    # HAProxy's "check-send-proxy" health checks: LOCAL, then the SSH banner exchange.
    with socket.create_connection(("127.0.0.1", scenario.proxy.port), timeout=10) as sock:
        sock.sendall(build_header(None))
        assert sock.recv(64).startswith(b"SSH-2.0-bastion")
    assert _events(scenario, "session.opened") == []


@pytest.mark.parametrize("settings", ['["10.99.0.0/16"]'], indirect=True)
def test_a_balancer_not_in_the_trusted_list_is_refused(scenario: Scenario) -> None:
    scenario.grant()
    for relay in _relay(scenario, build_header((TECHNICIAN_ADDRESS, 51234))):
        result = scenario.client.ssh(scenario.user, "127.0.0.1", relay.port, "echo forged", timeout=30)
        assert result.returncode != 0
        assert b"forged" not in result.stdout
    refused = _events(scenario, "login.refused")
    assert len(refused) == 1
    assert "127.0.0.1 is not a trusted load balancer" in refused[0].reasons[0]
    assert _events(scenario, "session.opened") == []


@pytest.mark.parametrize(("env", "problem"), [
    ({"BASTION_SSH__PROXY_PROTOCOL": "v2"}, "needs proxy_protocol_trusted"),
    ({"BASTION_SSH__PROXY_PROTOCOL": "v1"}, "proxy_protocol"),
    ({"BASTION_SSH__PROXY_PROTOCOL": "v2", "BASTION_SSH__PROXY_PROTOCOL_TRUSTED": '["lb.example"]'},
     "'lb.example' is not an IP address or network"),
])
def test_settings_that_would_trust_anyone_stop_start_up(tmp_path: Path, env: dict[str, str],
                                                        problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        make_settings(tmp_path, **env)
