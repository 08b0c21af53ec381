"""Benchmark 1: bulk transfer through the bastion (recording on) against straight to sshd.

Three ways a technician moves a big file, each timed through the bastion and directly,
alternately, the best of ``runs`` kept for each (the least disturbed by the machine):
- ``exec cat``: ``ssh host 'cat big' > /dev/null``: every byte goes through the recording
  (written, encrypted, chained) before it is forwarded;
- ``scp download`` and ``scp upload`` (OpenSSH 9's scp speaks SFTP): the bastion relays
  SFTP at the protocol level and records each operation (path, size, SHA-256).
The file is random (incompressible: a compressed archive or database dump).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

from .measure import Profile, cpu_by_process, cpu_window, timed, wait_quiet
from .world import World

MIB = 1024 * 1024


def _write_random(path: Path, size: int) -> None:
    with path.open("wb") as handle:
        left = size
        while left:
            block = os.urandom(min(left, 8 * MIB))
            handle.write(block)
            left -= len(block)
    os.chmod(path, 0o644)


def _check(result: subprocess.CompletedProcess[bytes], what: str) -> None:
    if result.returncode != 0:
        raise RuntimeError(f"{what} failed ({result.returncode}): {result.stderr.decode()[-500:]}")


def _cpu_by_role(before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]]
                 ) -> dict[str, float]:
    spent = {f"{role} {pid}": round(cpu - before[pid][1], 2)
             for pid, (role, cpu) in after.items() if pid in before}
    return {name: cpu for name, cpu in sorted(spent.items()) if cpu >= 0.05}


MODES = ("exec cat", "scp download", "scp upload")


def transfer(world: World, mode: str, path: str, name: str, upload: Path) -> None:
    """One bulk transfer of ``mode`` (one of MODES), ``path`` "direct" or "bastion": ``name``
    in the target account's home down, or ``upload`` up."""
    client, target = world.client, world.target
    user, port = ((target.account, target.port) if path == "direct"
                  else (world.user, world.bastion.ssh_port))
    if mode == "exec cat":
        argv = client.ssh_argv(user, "127.0.0.1", port, f"cat {name}")
        with open(os.devnull, "wb") as sink:
            result = subprocess.run(argv, stdout=sink, stderr=subprocess.PIPE, timeout=900)
    elif mode == "scp download":
        result = client.scp(f"{user}@127.0.0.1:{name}", os.devnull, port=port, timeout=900)
    elif mode == "scp upload":
        result = client.scp(str(upload), f"{user}@127.0.0.1:upload-{path}.bin", port=port, timeout=900)
    else:
        raise ValueError(f"unknown transfer {mode!r}")
    _check(result, f"{mode} ({path})")


def run(world: World, size_mb: int, runs: int, profile_dir: Path) -> dict[str, Any]:
    size = size_mb * MIB
    name = f"bench-{size_mb}M.bin"
    remote = world.target.home / name
    _write_random(remote, size)
    local = world.workdir / "upload.bin"
    _write_random(local, size)
    bastion = world.bastion
    results: dict[str, Any] = {"size_mb": size_mb, "runs": runs, "modes": {}}
    for label in MODES:
        seconds: dict[str, list[float]] = {"direct": [], "bastion": []}
        bastion_cpu = []
        by_role: dict[str, float] = {}
        after: list[float] = []
        for _ in range(runs):
            seconds["direct"].append(timed(lambda m=label: transfer(world, m, "direct", name, local)))
            wait_quiet(bastion.pid)
            roles_before = cpu_by_process(bastion.pid)
            with cpu_window(bastion.pid) as window:
                seconds["bastion"].append(timed(lambda m=label: transfer(world, m, "bastion", name, local)))
            bastion_cpu.append(window.cpu)
            by_role = _cpu_by_role(roles_before, cpu_by_process(bastion.pid))
            # Sealing, then indexing the commands (which reads the recording back), goes
            # on after the client has left: how long the node stays busy with it.
            after.append(wait_quiet(bastion.pid))
        direct, through = min(seconds["direct"]), min(seconds["bastion"])
        results["modes"][label] = {
            "direct_s": round(direct, 3), "bastion_s": round(through, 3),
            "direct_mb_s": round(size_mb / direct, 1), "bastion_mb_s": round(size_mb / through, 1),
            "ratio": round(through / direct, 2), "bastion_cpu_s": round(min(bastion_cpu), 2),
            "bastion_busy_after_s": round(max(after), 1),
            # Last run: which of the node's processes spent it (the worker that served the
            # transfer, its recorder process; the others idle).
            "bastion_cpu_by_process_s": by_role,
            "all_direct_s": [round(s, 3) for s in seconds["direct"]],
            "all_bastion_s": [round(s, 3) for s in seconds["bastion"]],
        }
    # Where the bastion spends its time on the recorded path (for the report).
    with Profile(bastion.pid, profile_dir / "throughput-exec-cat.txt") as profile:
        transfer(world, "exec cat", "bastion", name, local)
    wait_quiet(bastion.pid)
    results["profile_exec_cat"] = profile.summary()
    remote.unlink(missing_ok=True)
    local.unlink(missing_ok=True)
    for path in ("direct", "bastion"):
        (world.target.home / f"upload-{path}.bin").unlink(missing_ok=True)
    return results
