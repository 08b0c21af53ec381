"""Benchmark 2: connection set-up, ``ssh host true`` with the stock OpenSSH client, through
the bastion (active grant: no approval wait) and straight to sshd, alternately.

Through the bastion this is: the technician's handshake and key, the contract decision and
the grant lookup, the session row and its audit event, a recording created, a fresh key and
certificate for the target, the bastion's own handshake with the target, the command, then
the recording sealed and indexed as the channel closes.
"""

from __future__ import annotations

import subprocess
from typing import Any

from .measure import summary_ms, timed, wait_quiet
from .world import World


def run(world: World, count: int) -> dict[str, Any]:
    client = world.client
    argv = {
        "direct": client.ssh_argv(world.target.account, "127.0.0.1", world.target.port, "true"),
        "bastion": client.ssh_argv(world.user, "127.0.0.1", world.bastion.ssh_port, "true"),
        # OpenSSH 9.2 picks sntrup761x25519 with sshd (slow here) but curve25519 with the
        # bastion (which offers ML-KEM instead): the like-for-like baseline forces it.
        "direct_curve25519": client.ssh_argv(world.target.account, "127.0.0.1", world.target.port,
                                             "true", extra=["-o", "KexAlgorithms=curve25519-sha256"]),
    }

    def connect(path: str) -> None:
        result = subprocess.run(argv[path], capture_output=True, timeout=60)
        if result.returncode != 0:
            raise RuntimeError(f"ssh true ({path}) failed: {result.stderr.decode()[-300:]}")

    for path in argv:  # warm-up: imports, caches, the first database connections
        connect(path)
    wait_quiet(world.bastion.pid)
    seconds: dict[str, list[float]] = {path: [] for path in argv}
    for _ in range(count):
        for path in argv:
            seconds[path].append(timed(lambda p=path: connect(p)))
    direct, bastion = summary_ms(seconds["direct"]), summary_ms(seconds["bastion"])
    same_kex = summary_ms(seconds["direct_curve25519"])
    return {"count": count, "direct": direct, "bastion": bastion, "direct_curve25519": same_kex,
            "ratio_p50": round(bastion["p50_ms"] / direct["p50_ms"], 2),
            "ratio_p50_same_kex": round(bastion["p50_ms"] / same_kex["p50_ms"], 2)}
