"""Shell and exec channels: bytes both ways, terminal size, breaks, signals and exit
status passed through; every byte for the technician's screen is recorded first."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import asyncssh

from bastion.recording import RecordingError

from .typed_commands import TypedCommands

READ_SIZE = 65536
# Bytes read from the target whose storage is still pending, per stream: bound the memory
# held per stream (and so the back-pressure on the target). While that many are pending,
# the relay reads nothing more: recorded before forwarded, and no more. Counted in bytes,
# not pieces: a read returns what has arrived, usually one 32 KiB SSH packet, and a bound
# of 8 pieces was 256 KiB, about what one group commit takes. The recorder then waited
# for the relay to forward that commit before it got the next, and the relay for the
# recorder: a fifth of both cores idle all through a 300 MB exec cat (docs/benchmarks.md).
MAX_BYTES_IN_FLIGHT = 512 * 1024
# What the target may send ahead of the relay's reads, per channel (asyncssh's default is
# 2 MiB, held in the node's memory for every flooding session).
TARGET_WINDOW = 512 * 1024


@dataclass
class Volume:
    """Bytes a channel moved each way: what an scp, rsync or ``cat`` transferred."""

    to_target: int = 0
    from_target: int = 0

    def details(self) -> dict[str, int]:
        return {"bytes_to_target": self.to_target, "bytes_from_target": self.from_target}


class ChannelRecorder(Protocol):
    """What the relay needs from a recording. ``output`` returns only once the bytes are
    stored, so forwarding after it means nothing unrecorded reaches the technician."""

    async def output(self, data: bytes, *, stderr: bool = False) -> None: ...
    def output_stored(self, data: bytes, *, stderr: bool = False) -> asyncio.Future[None]: ...
    async def input(self, data: bytes) -> None: ...
    async def resize(self, cols: int, rows: int) -> None: ...
    async def marker(self, kind: str, details: dict[str, object]) -> None: ...
    async def close(self, reason: str) -> object: ...


async def _client_to_target(process: asyncssh.SSHServerProcess[bytes],
                            back: asyncssh.SSHClientProcess[bytes],
                            recorder: ChannelRecorder, touch: callable,  # type: ignore[valid-type]
                            volume: Volume, typed: TypedCommands | None) -> None:
    # Keystrokes are recorded on terminals; without a terminal, stdin is a data stream
    # (an scp or rsync upload, a piped file) whose size goes in the end marker instead.
    keystrokes = process.get_terminal_type() is not None

    async def send(data: bytes) -> None:
        await recorder.input(data)
        back.stdin.write(data)
        await back.stdin.drain()

    async def show(data: bytes) -> None:
        await recorder.output(data)  # recorded before it is shown, like the target's output
        process.stdout.write(data)

    while True:
        try:
            data = await process.stdin.read(READ_SIZE)
        except asyncssh.TerminalSizeChanged as change:
            back.change_terminal_size(change.width, change.height, change.pixwidth,
                                      change.pixheight)
            await recorder.resize(change.width, change.height)
            if typed is not None:
                typed.resized(change.width, change.height)
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
        volume.to_target += len(data)
        if keystrokes and typed is not None:
            await typed.forward_keys(data, send, show)
        elif keystrokes:
            await send(data)
        else:
            back.stdin.write(data)
            await back.stdin.drain()


async def _target_to_client(reader: asyncssh.SSHReader[bytes], writer: asyncssh.SSHWriter[bytes],
                            recorder: ChannelRecorder, volume: Volume,
                            shown: Callable[[bytes], None] | None = None, *,
                            stderr: bool = False) -> None:
    """Read from the target while earlier bytes are still being stored, and forward each
    piece only once its own storage is confirmed, in order. The recorder then batches what
    accumulates during a write (group commit) instead of writing one piece at a time."""
    in_flight: asyncio.Queue[tuple[asyncio.Future[None], bytes] | None] = asyncio.Queue()
    held = _Held()

    async def forward() -> None:
        while (item := await in_flight.get()) is not None:
            stored, data = item
            await stored  # raises if the recording failed: nothing unrecorded goes out
            if shown is not None:
                shown(data)
            writer.write(data)
            held.forwarded(len(data))
            volume.from_target += len(data)
            await writer.drain()

    forwarder = asyncio.create_task(forward())
    # A refused or failed write must end the channel now, even when the target has nothing
    # more to say (an idle shell prompt): the read waiting for it is cancelled, and the
    # forwarder's error comes out instead of a screen frozen until the technician leaves.
    reading = asyncio.current_task()
    assert reading is not None

    def stop_reading(task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            reading.cancel()

    forwarder.add_done_callback(stop_reading)
    try:
        while True:
            # A forwarder that fails meanwhile cancels this wait (stop_reading).
            await held.room()
            data = await reader.read(READ_SIZE)
            if not data:
                break
            in_flight.put_nowait((recorder.output_stored(data, stderr=stderr), data))
            held.read(len(data))
        in_flight.put_nowait(None)
        await forwarder
    except asyncio.CancelledError:
        if forwarder.done() and not forwarder.cancelled() and forwarder.exception() is not None:
            raise forwarder.exception() from None  # type: ignore[misc]
        raise
    finally:
        forwarder.remove_done_callback(stop_reading)
        forwarder.cancel()
        while not in_flight.empty():
            item = in_flight.get_nowait()
            if item is not None:
                _discard(item[0])


def _discard(task: asyncio.Future[None]) -> None:
    """Drop a storage task whose bytes will never be forwarded (the channel is ending):
    cancel it, or collect its error so it is not reported as never retrieved."""
    if task.done():
        if not task.cancelled():
            task.exception()
    else:
        task.cancel()


class _Held:
    """The bytes a stream has read from the target and not yet forwarded; room to read
    more while they are under :data:`MAX_BYTES_IN_FLIGHT`."""

    __slots__ = ("bytes", "_room")

    def __init__(self) -> None:
        self.bytes = 0
        self._room = asyncio.Event()
        self._room.set()

    def read(self, size: int) -> None:
        self.bytes += size
        if self.bytes >= MAX_BYTES_IN_FLIGHT:
            self._room.clear()

    def forwarded(self, size: int) -> None:
        self.bytes -= size
        if self.bytes < MAX_BYTES_IN_FLIGHT:
            self._room.set()

    async def room(self) -> None:
        if not self._room.is_set():
            await self._room.wait()


async def relay(process: asyncssh.SSHServerProcess[bytes], upstream: asyncssh.SSHClientConnection,
                recorder: ChannelRecorder, touch: callable,  # type: ignore[valid-type]
                volume: Volume | None = None,
                typed: TypedCommands | None = None) -> tuple[int | None, tuple | None]:
    """Run the technician's shell or command on the target until it ends; ``volume``
    counts the bytes moved; on a terminal, ``typed`` checks each line entered against the
    command rules. Returns (exit status, exit signal) as the target reported them."""
    term_type = process.get_terminal_type()
    options: dict[str, object] = {"encoding": None, "window": TARGET_WINDOW}
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
    volume = volume if volume is not None else Volume()
    upward = asyncio.create_task(_client_to_target(process, back, recorder, touch, volume, typed))
    shown = typed.shown if typed is not None else None
    downward = [
        asyncio.create_task(_target_to_client(back.stdout, process.stdout, recorder, volume, shown)),
        asyncio.create_task(_target_to_client(back.stderr, process.stderr, recorder, volume, shown,
                                              stderr=True)),
    ]
    try:
        await _until_output_ends(upward, downward)
        await back.wait_closed()
    finally:
        upward.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await upward
        for task in downward:
            task.cancel()
        back.close()
    await recorder.marker("stdin", {"stdin_bytes": volume.to_target})
    return back.exit_status, back.exit_signal


async def _until_output_ends(upward: asyncio.Task[None], downward: list[asyncio.Task[None]]) -> None:
    """Wait for the target's output to end. An error in it, or keystrokes that can no longer
    be recorded, ends the channel at once instead of waiting for more output. (Keystrokes
    that can no longer reach a target that has finished are not an error: its output and
    exit status still come.)"""
    watched: set[asyncio.Task[None]] = {upward, *downward}
    while any(not task.done() for task in downward):
        done, watched = await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            error = None if task.cancelled() else task.exception()
            if error is not None and (task is not upward or isinstance(error, RecordingError)):
                raise error
