"""The proxy's SSH legs read their socket in pieces of at most 64 KiB (ssh_reads): asyncio's
256 KiB reads made asyncssh copy each read about eight times over, through freshly mapped
memory. The target leg is the proxy's own client class, on a real socket, reading output
that piled up while its event loop was busy (as a proxy's is under load)."""

from __future__ import annotations

import asyncio
import os
import threading
import time

import asyncssh

from bastion.proxy.ssh_reads import READ_BYTES
from bastion.proxy.upstream import _CoalescingClient

OUTPUT = os.urandom(3 * 1024 * 1024)


class _Listener(asyncssh.SSHServer):
    def begin_auth(self, username: str) -> bool:
        return False


async def _flood(process: asyncssh.SSHServerProcess[bytes]) -> None:
    process.stdout.write(OUTPUT)
    await process.stdout.drain()
    process.exit(0)


def _serve_in_a_thread(ready: threading.Event, port: list[int], stop: threading.Event) -> None:
    async def main() -> None:
        server = await asyncssh.create_server(
            _Listener, "127.0.0.1", 0, server_host_keys=[asyncssh.generate_private_key("ssh-ed25519")],
            process_factory=_flood, encoding=None)
        port.append(server.sockets[0].getsockname()[1])
        ready.set()
        while not stop.is_set():
            await asyncio.sleep(0.05)
        server.close()
        await server.wait_closed()
    asyncio.run(main())


async def _read_while_busy(port: int) -> tuple[bytes, list[int]]:
    async with asyncssh.connect("127.0.0.1", port, known_hosts=None, username="t", agent_path=None,
                                config=None, client_keys=None, client_factory=_CoalescingClient) as conn:
        sizes: list[int] = []
        received = conn.data_received

        def counting(data: bytes, datatype: object = None) -> None:
            sizes.append(len(data))
            received(data, datatype)

        conn.data_received = counting  # type: ignore[method-assign]
        process = await conn.create_process(encoding=None)
        time.sleep(0.5)  # the loop is busy: the output piles up in the socket meanwhile
        output = await process.stdout.read()
        await process.wait()
    return output, sizes


def test_the_target_leg_reads_piled_up_output_in_small_pieces() -> None:
    ready, stop, port = threading.Event(), threading.Event(), []
    server = threading.Thread(target=_serve_in_a_thread, args=(ready, port, stop), daemon=True)
    server.start()
    try:
        assert ready.wait(10)
        output, sizes = asyncio.run(_read_while_busy(port[0]))
    finally:
        stop.set()
        server.join(10)
    assert output == OUTPUT
    assert max(sizes) == READ_BYTES  # output did pile up, and came in pieces of this size
