"""The set-up's reads are acknowledged at once (TCP_QUICKACK after each), on a real TCP
connection; afterwards the connection reads through asyncssh's own method again.

What it buys (no 40 ms stalls in the handshake of a stock OpenSSH client) is a timing:
docs/benchmarks.md, benchmark 2. Here: the socket option is really set, every byte still
reaches asyncssh, and only for the set-up."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from typing import Any

import asyncssh
import pytest

from bastion.proxy.ssh_acks import SETUP_READS, acknowledge_setup_at_once
from bastion.proxy.upstream import _CoalescingClient

pytestmark = pytest.mark.skipif(not hasattr(socket, "TCP_QUICKACK"), reason="Linux only")


class Connection:
    """The two things of an asyncssh connection this touches: its transport, its reads."""

    def __init__(self, sock: Any) -> None:
        self._transport = Transport(sock)
        self.received: list[bytes] = []

    def data_received(self, data: bytes, datatype: Any = None) -> None:
        self.received.append(data)


class Transport:
    def __init__(self, sock: Any) -> None:
        self.sock = sock

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.sock if name == "socket" else default


@pytest.fixture
def tcp_pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname())
        server, _ = listener.accept()
    with client, server:
        yield client, server


def _quickack(sock: socket.socket) -> int:
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK)


def test_each_setup_read_turns_quick_acknowledgement_on_and_is_passed_on(tcp_pair) -> None:
    client, server = tcp_pair
    conn = Connection(server)
    acknowledge_setup_at_once(conn)
    for n in range(3):
        client.sendall(b"kex %d" % n)
        data = server.recv(100)
        server.sendall(b"reply")  # answering at once is what puts Linux in delayed-ACK mode
        conn.data_received(data)
        assert _quickack(server) == 1
    assert conn.received == [b"kex 0", b"kex 1", b"kex 2"]


def test_after_the_setup_reads_asyncssh_reads_alone(tcp_pair) -> None:
    _, server = tcp_pair
    calls: list[tuple[int, int, int]] = []

    class CountingSocket:
        family = server.family

        def setsockopt(self, level: int, option: int, value: int) -> None:
            calls.append((level, option, value))
            server.setsockopt(level, option, value)

    conn = Connection(CountingSocket())
    own_method = conn.data_received
    acknowledge_setup_at_once(conn)
    assert conn.data_received != own_method
    for n in range(SETUP_READS + 5):
        conn.data_received(b"%d" % n)
    assert calls == [(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)] * SETUP_READS
    assert conn.data_received == own_method
    assert conn.received == [b"%d" % n for n in range(SETUP_READS + 5)]


def test_a_wrapper_put_on_top_during_the_set_up_stays(tcp_pair) -> None:
    _, server = tcp_pair
    conn = Connection(server)
    acknowledge_setup_at_once(conn)
    seen: list[bytes] = []
    beneath = conn.data_received

    def counting(data: bytes, datatype: Any = None) -> None:
        seen.append(data)
        beneath(data, datatype)

    conn.data_received = counting
    for n in range(SETUP_READS + 5):
        conn.data_received(b"%d" % n)
    assert conn.data_received is counting
    assert seen == conn.received == [b"%d" % n for n in range(SETUP_READS + 5)]


def test_a_unix_socket_is_left_alone() -> None:
    left, right = socket.socketpair()
    with left, right:
        conn = Connection(left)
        own_method = conn.data_received
        acknowledge_setup_at_once(conn)
        assert conn.data_received == own_method


def test_the_proxy_acknowledges_the_set_up_of_its_connections() -> None:
    """Through ``prepare_ssh_leg``, as the proxy's own client class connects."""

    class Listener(asyncssh.SSHServer):
        def begin_auth(self, username: str) -> bool:
            return False

    async def scenario() -> str:
        server = await asyncssh.create_server(
            Listener, "127.0.0.1", 0, server_host_keys=[asyncssh.generate_private_key("ssh-ed25519")])
        port = server.sockets[0].getsockname()[1]
        try:
            async with asyncssh.connect("127.0.0.1", port, known_hosts=None, username="t",
                                        agent_path=None, config=None, client_keys=None,
                                        client_factory=_CoalescingClient) as conn:
                return conn.data_received.__name__
        finally:
            server.close()
            await server.wait_closed()

    assert asyncio.run(scenario()) == "data_received_then_acknowledge"
