"""What an SSH channel may hold while its reader lags (issue 15): a relay that waits for
its recording stops reading, and the target must then stop sending within one window.
Real asyncssh client and server over TCP; sizes asserted, no timings."""

from __future__ import annotations

import asyncio

import asyncssh
import pytest

from bastion.proxy import flow_control

WINDOW = 256 * 1024
FLOOD = 24 * 1024 * 1024


class _Flood(asyncssh.SSHServer):
    def begin_auth(self, username: str) -> bool:
        return False


async def _flood_server(process: asyncssh.SSHServerProcess) -> None:
    block = b"\xa5" * 65536
    try:
        for _ in range(FLOOD // len(block)):
            process.stdout.write(block)
            await process.stdout.drain()
    except (asyncssh.BreakReceived, asyncssh.ConnectionLost, BrokenPipeError):
        pass
    process.exit(0)


async def _held_at_most(window: int) -> tuple[int, int]:
    """Read the flood slowly (the reader lags far behind); return the most the client's
    channel buffer and stream buffer held, and the bytes read."""
    key = asyncssh.generate_private_key("ssh-ed25519")
    server = await asyncssh.listen("127.0.0.1", 0, server_host_keys=[key], server_factory=_Flood,
                                   process_factory=_flood_server, encoding=None)
    port = server.sockets[0].getsockname()[1]
    most, total = 0, 0
    try:
        async with asyncssh.connect("127.0.0.1", port, known_hosts=None, username="t") as conn:
            process = await conn.create_process("flood", encoding=None, window=window)
            channel = process.channel
            while True:
                data = await process.stdout.read(65536)
                if not data:
                    break
                total += len(data)
                held = sum(len(piece) for piece, _ in channel._recv_buf)
                most = max(most, held)
                await asyncio.sleep(0.002)  # a recording that takes its time
            await process.wait()
    finally:
        server.close()
        await server.wait_closed()
    return most, total


def test_a_lagging_reader_holds_at_most_one_window_in_the_channel() -> None:
    assert flow_control.install()
    most, total = asyncio.run(asyncio.wait_for(_held_at_most(WINDOW), 120))
    assert total == FLOOD
    assert most <= WINDOW, f"the channel buffered {most} bytes past its {WINDOW}-byte window"


@pytest.fixture
def without_the_correction(monkeypatch: pytest.MonkeyPatch):
    if flow_control._installed:
        monkeypatch.setattr(asyncssh.channel.SSHChannel, "_deliver_data", flow_control._installed[0])
    yield


def test_asyncssh_alone_lets_the_channel_grow_past_its_window(without_the_correction) -> None:
    # The reason for flow_control: if this starts failing, asyncssh fixed its grant and
    # the patch can go.
    most, _ = asyncio.run(asyncio.wait_for(_held_at_most(WINDOW), 120))
    assert most > 2 * WINDOW
