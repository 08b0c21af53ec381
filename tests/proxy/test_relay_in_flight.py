"""What the relay holds between reading the target's output and forwarding it: at most
MAX_BYTES_IN_FLIGHT read and not yet forwarded, each piece forwarded only once stored.

The streams are stand-ins (the relay's own code runs: ``_target_to_client``): the bound
is about what the relay reads while storage has not answered, which a real recorder
answers too fast to hold still. The end-to-end path (real sshd, OpenSSH, recorder
process) is tests/proxy/test_transfers.py and test_recorded_sessions.py."""

from __future__ import annotations

import asyncio

import pytest

from bastion.proxy.relay import MAX_BYTES_IN_FLIGHT, Volume, _target_to_client
from bastion.recording import RecordingFailed

PACKET = 32 * 1024  # what a read returns from OpenSSH's sshd: one SSH packet's data


class EndlessTarget:
    """A target that always has another packet ready."""

    def __init__(self) -> None:
        self.read_bytes = 0

    async def read(self, size: int) -> bytes:
        await asyncio.sleep(0)
        piece = min(size, PACKET)
        self.read_bytes += piece
        return b"x" * piece


class HeldStorage:
    """Storage that answers only when the test says so."""

    def __init__(self) -> None:
        self.waiting: list[asyncio.Future[None]] = []

    def output_stored(self, data: bytes, *, stderr: bool = False) -> asyncio.Future[None]:
        stored: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiting.append(stored)
        return stored


class Screen:
    def __init__(self) -> None:
        self.received = 0

    def write(self, data: bytes) -> None:
        self.received += len(data)

    async def drain(self) -> None:
        await asyncio.sleep(0)


async def _settle() -> None:
    for _ in range(200):
        await asyncio.sleep(0)


async def _relay_with_storage_held() -> tuple[EndlessTarget, HeldStorage, Screen, asyncio.Task[None]]:
    target, storage, screen = EndlessTarget(), HeldStorage(), Screen()
    relay = asyncio.create_task(_target_to_client(target, screen, storage, Volume()))  # type: ignore[arg-type]
    await _settle()
    return target, storage, screen, relay


def test_while_storage_has_not_answered_the_relay_reads_its_bound_and_forwards_nothing() -> None:
    async def scenario() -> None:
        target, storage, screen, relay = await _relay_with_storage_held()
        # In bytes, not pieces: sixteen 32 KiB packets, not eight.
        assert target.read_bytes == MAX_BYTES_IN_FLIGHT
        assert len(storage.waiting) == MAX_BYTES_IN_FLIGHT // PACKET
        assert screen.received == 0
        relay.cancel()

    asyncio.run(scenario())


def test_a_stored_piece_is_forwarded_and_makes_room_for_one_more_read() -> None:
    async def scenario() -> None:
        target, storage, screen, relay = await _relay_with_storage_held()
        storage.waiting[1].set_result(None)  # out of order: the first still holds it back
        await _settle()
        assert screen.received == 0
        storage.waiting[0].set_result(None)
        await _settle()
        assert screen.received == 2 * PACKET
        assert target.read_bytes == MAX_BYTES_IN_FLIGHT + 2 * PACKET
        assert target.read_bytes - screen.received <= MAX_BYTES_IN_FLIGHT
        relay.cancel()

    asyncio.run(scenario())


def test_a_failed_store_ends_the_stream_with_its_error_and_forwards_nothing_more() -> None:
    async def scenario() -> None:
        _, storage, screen, relay = await _relay_with_storage_held()
        storage.waiting[0].set_exception(RecordingFailed("the disk is full"))
        with pytest.raises(RecordingFailed, match="the disk is full"):
            await asyncio.wait_for(relay, 5)
        assert screen.received == 0
        # Everything read and not forwarded was let go: no storage answer left pending.
        assert all(stored.done() for stored in storage.waiting)

    asyncio.run(scenario())

