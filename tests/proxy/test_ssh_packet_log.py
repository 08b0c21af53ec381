"""asyncssh's per-packet log lines are formatted only when packet dumps are on
(ssh_packet_log.format_packet_logs_only_when_dumped, set up on both of the proxy's legs by
ssh_legs.prepare_ssh_leg): at the default debug level no packet is formatted, at level 3
every packet is still logged."""

from __future__ import annotations

import asyncio
import logging

import asyncssh
import pytest
from asyncssh.packet import SSHPacketLogger

from tests.proxy.legs import ProxyClient, ProxyListener


async def _hello(process: asyncssh.SSHServerProcess[bytes]) -> None:
    process.stdout.write(b"hello\n")
    process.exit(0)


async def _session() -> bytes:
    server = await asyncssh.create_server(
        ProxyListener, "127.0.0.1", 0, server_host_keys=[asyncssh.generate_private_key("ssh-ed25519")],
        process_factory=_hello, encoding=None)
    port = server.sockets[0].getsockname()[1]
    try:
        async with asyncssh.connect("127.0.0.1", port, known_hosts=None, username="t",
                                    agent_path=None, config=None, client_keys=None,
                                    client_factory=ProxyClient) as conn:
            result = await conn.run(encoding=None)
    finally:
        server.close()
        await server.wait_closed()
    return result.stdout


@pytest.fixture
def formatted(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every packet log line asyncssh formats, whether or not it is written."""
    lines: list[str] = []
    original = SSHPacketLogger._log_packet

    def counting(self: SSHPacketLogger, msg: str, *args: object) -> None:
        lines.append(msg)
        original(self, msg, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(SSHPacketLogger, "_log_packet", counting)
    return lines


def test_no_packet_log_formatted_at_the_default_debug_level(
        formatted: list[str], caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="asyncssh"):
        assert asyncio.run(_session()) == b"hello\n"
    assert formatted == []
    assert not [r for r in caplog.records if " MSG_" in r.getMessage()]


def test_packet_dumps_still_log_every_packet(
        formatted: list[str], caplog: pytest.LogCaptureFixture) -> None:
    asyncssh.set_debug_level(3)
    try:
        with caplog.at_level(logging.DEBUG, logger="asyncssh"):
            assert asyncio.run(_session()) == b"hello\n"
    finally:
        asyncssh.set_debug_level(1)
    assert "Received" in formatted and "Sent" in formatted
    messages = [r.getMessage() for r in caplog.records]
    assert any("Received MSG_CHANNEL_DATA" in m for m in messages)
    assert any("Sent MSG_CHANNEL_DATA" in m for m in messages)
