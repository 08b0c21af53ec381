"""Shell and exec channels: bytes both ways, terminal size, breaks, signals and exit
status passed through; every byte for the technician's screen is recorded first."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Protocol

import asyncssh

READ_SIZE = 65536


class ChannelRecorder(Protocol):
    """What the relay needs from a recording. ``output`` returns only once the bytes are
    stored, so forwarding after it means nothing unrecorded reaches the technician."""

    async def output(self, data: bytes) -> None: ...
    async def input(self, data: bytes) -> None: ...
    async def resize(self, cols: int, rows: int) -> None: ...
    async def marker(self, kind: str, details: dict[str, object]) -> None: ...


async def _client_to_target(process: asyncssh.SSHServerProcess[bytes],
                            back: asyncssh.SSHClientProcess[bytes],
                            recorder: ChannelRecorder, touch: callable) -> None:  # type: ignore[valid-type]
    while True:
        try:
            data = await process.stdin.read(READ_SIZE)
        except asyncssh.TerminalSizeChanged as change:
            back.change_terminal_size(change.width, change.height, change.pixwidth,
                                      change.pixheight)
            await recorder.resize(change.width, change.height)
            continue
        except asyncssh.BreakReceived as brk:
            back.send_break(brk.msec)
            await recorder.marker("break", {"msec": brk.msec})
            continue
        except asyncssh.SignalReceived as sig:
            back.send_signal(sig.signal)
            await recorder.marker("signal", {"signal": sig.signal})
            continue
        if not data:
            back.stdin.write_eof()
            return
        touch()
        await recorder.input(data)
        back.stdin.write(data)
        await back.stdin.drain()


async def _target_to_client(reader: asyncssh.SSHReader[bytes], writer: asyncssh.SSHWriter[bytes],
                            recorder: ChannelRecorder) -> None:
    while True:
        data = await reader.read(READ_SIZE)
        if not data:
            return
        await recorder.output(data)
        writer.write(data)
        await writer.drain()


async def relay(process: asyncssh.SSHServerProcess[bytes], upstream: asyncssh.SSHClientConnection,
                recorder: ChannelRecorder, touch: callable) -> tuple[int | None, tuple | None]:  # type: ignore[valid-type]
    """Run the technician's shell or command on the target until it ends.
    Returns (exit status, exit signal) as the target reported them."""
    term_type = process.get_terminal_type()
    options: dict[str, object] = {"encoding": None}
    if term_type:
        width, height, pixwidth, pixheight = process.get_terminal_size()
        options.update(term_type=term_type, term_size=(width, height, pixwidth, pixheight),
                       term_modes=process.term_modes)
        await recorder.resize(width, height)
    environment = {k: v for k, v in (process.env or {}).items()
                   if k == "LANG" or k.startswith("LC_")}
    if environment:
        options["env"] = environment
    back = await upstream.create_process(process.command, **options)
    upward = asyncio.create_task(_client_to_target(process, back, recorder, touch))
    downward = [
        asyncio.create_task(_target_to_client(back.stdout, process.stdout, recorder)),
        asyncio.create_task(_target_to_client(back.stderr, process.stderr, recorder)),
    ]
    try:
        await asyncio.gather(*downward)
        await back.wait_closed()
    finally:
        upward.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await upward
        for task in downward:
            task.cancel()
        back.close()
    return back.exit_status, back.exit_signal
