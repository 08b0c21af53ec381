"""The proxy's SSH connections send no SSH_MSG_IGNORE before each packet under an AEAD
cipher (ssh_writes.skip_ignore_packets_under_aead, part of ssh_legs.prepare_ssh_leg), and
keep asyncssh's countermeasure under a cipher that needs it. Both ends are set up as the proxy's two legs are (its
listener, its client to the target), over a real socket; what each receives is read from
asyncssh's own packet log."""

from __future__ import annotations

import asyncio
import logging

import asyncssh
import pytest

from tests.proxy.legs import ProxyClient, ProxyListener

WRITES = 20


async def _echo_each(process: asyncssh.SSHServerProcess[bytes]) -> None:
    for n in range(WRITES):
        process.stdout.write(f"{n}\n".encode())
        await process.stdout.drain()
        await asyncio.sleep(0.005)  # one packet per write, as keystrokes' echoes come
    process.exit(0)


async def _echoes(cipher: str) -> bytes:
    server = await asyncssh.create_server(
        ProxyListener, "127.0.0.1", 0, server_host_keys=[asyncssh.generate_private_key("ssh-ed25519")],
        process_factory=_echo_each, encryption_algs=[cipher], encoding=None)
    port = server.sockets[0].getsockname()[1]
    try:
        async with asyncssh.connect("127.0.0.1", port, known_hosts=None, username="t",
                                    encryption_algs=[cipher], agent_path=None, config=None,
                                    client_keys=None, client_factory=ProxyClient) as conn:
            result = await conn.run(encoding=None)
    finally:
        server.close()
        await server.wait_closed()
    return result.stdout


@pytest.mark.parametrize("cipher, sent", [
    ("aes128-gcm@openssh.com", False),
    ("aes256-gcm@openssh.com", False),
    ("chacha20-poly1305@openssh.com", False),
    ("aes128-ctr", True),  # no AEAD: asyncssh's countermeasure stays
])
def test_ignore_packets_only_where_the_cipher_needs_them(
        cipher: str, sent: bool, caplog: pytest.LogCaptureFixture) -> None:
    asyncssh.set_debug_level(3)
    try:
        with caplog.at_level(logging.DEBUG, logger="asyncssh"):
            output = asyncio.run(_echoes(cipher))
    finally:
        asyncssh.set_debug_level(1)
    assert output == b"".join(f"{n}\n".encode() for n in range(WRITES))
    received = [r for r in caplog.records if "Received MSG_IGNORE" in r.getMessage()]
    if sent:
        assert len(received) >= WRITES
    else:
        assert received == []
