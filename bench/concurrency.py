"""Benchmark 4: many simultaneous interactive sessions on one bastion node, each typing one
key a second like a person and waiting for its echo, against the light echo target (so the
bastion's own cost is what is measured). Reported: the bastion's memory per session (its
RSS with every session open, less its RSS once warmed up), its CPU while loaded, the echo
latency p50/p99 while loaded; the same load straight to the echo target is the baseline
(this process's own event loop, which drives every client, is in both figures).
"""

from __future__ import annotations

import asyncio
import gc
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncssh
from sqlalchemy import func, select

from bastion.models import SshSession

from .measure import Profile, cpu_window, rss_bytes, summary_ms
from .world import ECHO_TARGET, World

MIB = 1024 * 1024
OPENING_CONCURRENCY = 12


@dataclass
class Session:
    connection: asyncssh.SSHClientConnection
    process: asyncssh.SSHClientProcess[bytes]


async def _open(port: int, username: str, key: asyncssh.SSHKey) -> Session:
    connection = await asyncssh.connect("127.0.0.1", port, username=username, client_keys=[key],
                                        known_hosts=None, agent_path=None, config=None,
                                        keepalive_interval=0)
    process = await connection.create_process(term_type="xterm", term_size=(80, 24),
                                              encoding=None)
    return Session(connection, process)


async def open_many(port: int, logins: list[tuple[str, asyncssh.SSHKey]]) -> tuple[list[Session], float]:
    gate = asyncio.Semaphore(OPENING_CONCURRENCY)

    async def one(username: str, key: asyncssh.SSHKey) -> Session:
        async with gate:
            return await _open(port, username, key)

    started = time.perf_counter()
    sessions = await asyncio.gather(*(one(user, key) for user, key in logins))
    return list(sessions), time.perf_counter() - started


async def _drain(session: Session, seconds: float) -> None:
    while True:
        try:
            if not await asyncio.wait_for(session.process.stdout.read(65536), seconds):
                return
        except TimeoutError:
            return


async def _typist(session: Session, until: float, latencies: list[float], errors: list[str]) -> None:
    await asyncio.sleep(random.random())  # noqa: S311 - spread the keys over the second
    try:
        while time.perf_counter() < until:
            tick = time.perf_counter()
            session.process.stdin.write(b"k")
            seen = b""
            while b"k" not in seen:
                seen += await asyncio.wait_for(session.process.stdout.read(65536), 10)
            latencies.append(time.perf_counter() - tick)
            await asyncio.sleep(max(0.0, 1.0 - (time.perf_counter() - tick)))
    except (TimeoutError, asyncssh.Error, ConnectionError) as exc:
        errors.append(f"{type(exc).__name__}: {exc}")


async def load(sessions: list[Session], seconds: float) -> tuple[list[float], list[str]]:
    await asyncio.gather(*(_drain(session, 0.3) for session in sessions))
    latencies: list[float] = []
    errors: list[str] = []
    until = time.perf_counter() + seconds
    # This process is the load generator, and after the console benchmark it also holds
    # that benchmark's leftovers: its own full collections would stall every client at
    # once and be counted as the node's latency.
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        await asyncio.gather(*(_typist(s, until, latencies, errors) for s in sessions))
    finally:
        gc.enable()
        gc.unfreeze()
    return latencies, errors


async def close_all(sessions: list[Session]) -> None:
    for session in sessions:
        session.process.stdin.write_eof()
        session.connection.close()
    await asyncio.gather(*(s.connection.wait_closed() for s in sessions), return_exceptions=True)


def _live_sessions(world: World) -> int:
    with world.core.db.session() as s:
        return s.scalar(select(func.count()).select_from(SshSession)
                        .where(SshSession.status == "live")) or 0


def _wait_until_idle(world: World, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while _live_sessions(world) and time.monotonic() < deadline:
        time.sleep(0.5)


def _logins(world: World, count: int, *, through_bastion: bool) -> list[tuple[str, asyncssh.SSHKey]]:
    keys = list(world.load_keys.items())
    logins = []
    for n in range(count):
        ident, key = keys[n % len(keys)]
        user = f"{ident}+{ECHO_TARGET}" if through_bastion else world.target.account
        logins.append((user, key))
    return logins


async def _direct(world: World, count: int, seconds: float) -> dict[str, Any]:
    sessions, opening = await open_many(world.echo_port, _logins(world, count, through_bastion=False))
    try:
        latencies, errors = await load(sessions, seconds)
    finally:
        await close_all(sessions)
    return {"opening_s": round(opening, 1), "latency": summary_ms(latencies), "errors": len(errors)}


async def _bastion(world: World, count: int, seconds: float, profile_dir: Path) -> dict[str, Any]:
    pid = world.bastion.pid
    port = world.bastion.ssh_port
    # Warm up: the first sessions load code, fill pools and caches; then the baseline.
    warm, _ = await open_many(port, _logins(world, 20, through_bastion=True))
    await load(warm, 2)
    await close_all(warm)
    await asyncio.to_thread(_wait_until_idle, world)
    await asyncio.sleep(2)
    baseline = rss_bytes(pid)
    with cpu_window(pid) as opening_cpu:
        sessions, opening = await open_many(port, _logins(world, count, through_bastion=True))
    opened = rss_bytes(pid)
    try:
        with cpu_window(pid) as loaded_cpu:
            latencies, errors = await load(sessions, seconds)
        loaded = rss_bytes(pid)
        # Profiled apart, after the measured window: sampling costs the bastion some time.
        with Profile(pid, profile_dir / "concurrency.txt", rate=100) as profile:
            await load(sessions, min(seconds, 10))
    finally:
        await close_all(sessions)
    await asyncio.to_thread(_wait_until_idle, world)
    per_session = (max(opened, loaded) - baseline) / count
    return {
        "opening_s": round(opening, 1), "opening_per_s": round(count / opening, 1),
        "opening_cpu_ms_per_session": round(1000 * opening_cpu.cpu / count, 1),
        "rss_baseline_mib": round(baseline / MIB, 1), "rss_loaded_mib": round(max(opened, loaded) / MIB, 1),
        "mib_per_session": round(per_session / MIB, 3),
        "cpu_cores_loaded": round(loaded_cpu.cores, 3),
        "latency": summary_ms(latencies), "errors": len(errors), "first_errors": errors[:3],
        "profile": profile.summary(),
    }


def run(world: World, count: int, seconds: float, profile_dir: Path) -> dict[str, Any]:
    direct = asyncio.run(_direct(world, count, seconds))
    bastion = asyncio.run(_bastion(world, count, seconds, profile_dir))
    return {"sessions": count, "seconds": seconds, "direct": direct, "bastion": bastion,
            "added_p99_ms": round(bastion["latency"]["p99_ms"] - direct["latency"]["p99_ms"], 3)}
