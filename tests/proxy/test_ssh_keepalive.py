"""The proxy's SSH legs keep asyncssh's keepalive with a timer moved on lazily
(ssh_keepalive): no request while bytes keep coming, a request after a quiet interval,
and a peer that stops answering is dropped after ``keepalive_count_max`` of them."""

from __future__ import annotations

import asyncio
import logging
import time

import asyncssh
import pytest

from tests.proxy.legs import ProxyListener

INTERVAL = 0.2


class _Listener(ProxyListener):
    """Says when its connection is lost."""

    def __init__(self) -> None:
        self.lost: asyncio.Future[float] = asyncio.get_running_loop().create_future()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(time.monotonic())


async def _sink(process: asyncssh.SSHServerProcess[bytes]) -> None:
    while await process.stdin.read(1024):
        pass
    process.exit(0)


async def _scenario(client_goes_silent: bool) -> tuple[float | None, float]:
    listener: list[_Listener] = []

    def factory() -> _Listener:
        listener.append(_Listener())
        return listener[-1]

    server = await asyncssh.create_server(
        factory, "127.0.0.1", 0, server_host_keys=[asyncssh.generate_private_key("ssh-ed25519")],
        process_factory=_sink, encoding=None, keepalive_interval=INTERVAL, keepalive_count_max=2)
    port = server.sockets[0].getsockname()[1]
    try:
        async with asyncssh.connect("127.0.0.1", port, known_hosts=None, username="t",
                                    agent_path=None, config=None, client_keys=None) as conn:
            process = await conn.create_process(encoding=None)
            started = time.monotonic()
            if client_goes_silent:
                conn._transport.pause_reading()  # keepalive requests go unanswered
                lost = await asyncio.wait_for(listener[0].lost, 5)
                return lost - started, started
            for _ in range(20):  # 1 s of keystrokes, one every 50 ms
                process.stdin.write(b"k")
                await asyncio.sleep(0.05)
            assert not listener[0].lost.done()
            process.stdin.write_eof()
            await process.wait_closed()
            return None, started
    finally:
        server.close()
        await server.wait_closed()


def test_no_keepalive_request_while_bytes_keep_coming(
        caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    timers: list[str] = []
    call_later = asyncio.BaseEventLoop.call_later

    def counting(self: asyncio.BaseEventLoop, delay: float, callback, *args, **kwargs):  # type: ignore[no-untyped-def]
        name = getattr(callback, "__name__", "")
        if "keepalive" in name or name == "fire_unless_heard":
            timers.append(name)
        return call_later(self, delay, callback, *args, **kwargs)

    monkeypatch.setattr(asyncio.BaseEventLoop, "call_later", counting)
    with caplog.at_level(logging.DEBUG, logger="asyncssh"):
        asyncio.run(_scenario(client_goes_silent=False))
    assert not [r for r in caplog.records if "Sending keepalive request" in r.getMessage()]
    # 20 keystrokes in 1 s: the timer was set again about once per interval, not per read.
    assert 1 <= len(timers) <= 1 / INTERVAL + 2, timers


def test_a_peer_that_stops_answering_is_dropped(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="asyncssh"):
        after, _ = asyncio.run(_scenario(client_goes_silent=True))
    requests = [r for r in caplog.records if "Sending keepalive request" in r.getMessage()]
    assert len(requests) == 2  # keepalive_count_max, then the third interval drops it
    assert after is not None and after >= 3 * INTERVAL
