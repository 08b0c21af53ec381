"""``python -m bench.per_process [MODE ...] [--size-mb N] [--runs N]``: one bulk transfer at a
time through the bastion and direct, alternately, with what each node process spent on it:
CPU seconds, of which system time, and page faults (``/proc/PID/stat``).

Wall times on a shared 2-core VM swing by 2x within the hour; a process's CPU time and its
page faults do not, so a change to the per-byte path is judged here first, then in
``python -m bench``. MODE: ``cat`` (exec cat, the recorded path), ``down`` / ``up`` (scp).
"""

from __future__ import annotations

import argparse
import os
import subprocess
from pathlib import Path

from .measure import spent_by_process, timed, wait_quiet
from .throughput import MIB, _write_random
from .world import World, build

MODES = ("cat", "down", "up")


def _transfer(world: World, mode: str, path: str, name: str, upload: Path) -> None:
    client, target = world.client, world.target
    user, port = ((target.account, target.port) if path == "direct"
                  else (world.user, world.bastion.ssh_port))
    if mode == "cat":
        with open(os.devnull, "wb") as sink:
            result = subprocess.run(client.ssh_argv(user, "127.0.0.1", port, f"cat {name}"),
                                    stdout=sink, stderr=subprocess.PIPE, timeout=900)
    elif mode == "down":
        result = client.scp(f"{user}@127.0.0.1:{name}", os.devnull, port=port, timeout=900)
    else:
        result = client.scp(str(upload), f"{user}@127.0.0.1:up-{path}.bin", port=port, timeout=900)
    if result.returncode != 0:
        raise SystemExit(f"{mode} {path} failed: {result.stderr!r}")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.per_process")
    parser.add_argument("modes", nargs="*", choices=MODES, default=list(MODES))
    parser.add_argument("--size-mb", type=int, default=300)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    world = build(False)
    try:
        name = "per-process.bin"
        _write_random(world.target.home / name, args.size_mb * MIB)
        upload = world.workdir / "upload.bin"
        _write_random(upload, args.size_mb * MIB)
        pid = world.bastion.pid
        for mode in args.modes:
            for run in range(1, args.runs + 1):
                direct = timed(lambda m=mode: _transfer(world, m, "direct", name, upload))
                wait_quiet(pid)
                before = spent_by_process(pid)
                through = timed(lambda m=mode: _transfer(world, m, "bastion", name, upload))
                after = spent_by_process(pid)
                spent = {after[p][0]: tuple(round(a - b, 2) if isinstance(a, float) else a - b
                                            for a, b in zip(after[p][1:], before[p][1:], strict=True))
                         for p in after if p in before and after[p][1] - before[p][1] > 0.05}
                shown = ", ".join(f"{role} {cpu} s CPU ({system} s system), {faults} faults"
                                  for role, (cpu, system, faults) in sorted(spent.items()))
                print(f"{mode} {args.size_mb} MB, run {run}: direct {direct:.3f} s, bastion "
                      f"{through:.3f} s (x{through / direct:.2f}); {shown}", flush=True)
                wait_quiet(pid)
    finally:
        world.close()


if __name__ == "__main__":
    main()
