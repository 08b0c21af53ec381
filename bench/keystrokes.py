"""Benchmark 3: keystroke echo latency in an interactive bash (readline echoes each key),
through the bastion and straight to sshd, with the same client (asyncssh, in this process,
so both paths pay the same client cost): the time from a key sent to its echo received.
Keys go out every 50 ms (a fast typist); every 40 keys Ctrl-U clears the line unmeasured.

The two paths take turns, ``ROUNDS`` sessions each, so a slow spell of the machine falls on
both. A p99 is a tail: of 300 keys it is the third slowest, and four runs of one version
gave an added p99 of +2.4, +3.7, -1.3 and +2.1 ms (docs/benchmarks.md); the full run
types 1,000 keys on each path.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import asyncssh

from .measure import summary_ms, wait_quiet
from .world import World

INTERVAL = 0.05
ROUNDS = 4
KEYS = b"abcdefghijklmnopqrstuvwxyz"


async def _quiet(process: asyncssh.SSHClientProcess[bytes], seconds: float) -> None:
    """Read until nothing arrives for ``seconds`` (prompt printed, line cleared)."""
    while True:
        try:
            if not await asyncio.wait_for(process.stdout.read(65536), seconds):
                return
        except TimeoutError:
            return


async def type_and_time(process: asyncssh.SSHClientProcess[bytes], count: int) -> list[float]:
    await _quiet(process, 1.0)
    latencies = []
    for n in range(count):
        if n and n % 40 == 0:
            process.stdin.write(b"\x15")
            await _quiet(process, 0.2)
        key = KEYS[n % len(KEYS):n % len(KEYS) + 1]
        sent = time.perf_counter()
        process.stdin.write(key)
        seen = b""
        while key not in seen:
            seen += await asyncio.wait_for(process.stdout.read(65536), 10)
        latencies.append(time.perf_counter() - sent)
        await asyncio.sleep(max(0.0, INTERVAL - (time.perf_counter() - sent)))
    return latencies


async def _session(host_port: int, username: str, key_path: str, count: int) -> list[float]:
    async with asyncssh.connect("127.0.0.1", host_port, username=username, client_keys=[key_path],
                                known_hosts=None, agent_path=None, config=None) as connection:
        process = await connection.create_process(term_type="xterm", term_size=(200, 50),
                                                  encoding=None)
        try:
            return await type_and_time(process, count)
        finally:
            process.stdin.write(b"\x15exit\n")
            process.close()


def run(world: World, count: int) -> dict[str, Any]:
    key = str(world.client.key_path)
    direct: list[float] = []
    bastion: list[float] = []
    rounds = min(ROUNDS, count)
    for turn in range(rounds):
        keys = count // rounds + (1 if turn < count % rounds else 0)
        # The bastion seals and indexes a session after it ends: not during the next turn.
        wait_quiet(world.bastion.pid)
        direct += asyncio.run(_session(world.target.port, world.target.account, key, keys))
        wait_quiet(world.bastion.pid)
        bastion += asyncio.run(_session(world.bastion.ssh_port, world.user, key, keys))
    direct_summary, bastion_summary = summary_ms(direct), summary_ms(bastion)
    return {"keys": count, "direct": direct_summary, "bastion": bastion_summary,
            "added_p50_ms": round(bastion_summary["p50_ms"] - direct_summary["p50_ms"], 3),
            "added_p99_ms": round(bastion_summary["p99_ms"] - direct_summary["p99_ms"], 3)}
